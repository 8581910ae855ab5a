"""The ``pixelgate`` command line. Each command is a thin shell over library functions.

Sub-commands contributed by other packages (``pixelgate operator``) are found through the
``pixelgate.cli`` entry-point group, so this package never imports them directly.
"""

from __future__ import annotations

import json
import os
from importlib.metadata import entry_points
from pathlib import Path

import click

from . import PIPELINE_VERSION
from .api import ManifestError, parse_resource
from .api.manifests import load_spec_document
from .store import open_store


class _PluginGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *(ep.name for ep in entry_points(group="pixelgate.cli"))})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        command = super().get_command(ctx, name)
        if command is not None:
            return command
        for ep in entry_points(group="pixelgate.cli"):
            if ep.name == name:
                return ep.load()
        return None


@click.group(cls=_PluginGroup)
@click.version_option(PIPELINE_VERSION, prog_name="pixelgate")
def main() -> None:
    """pixelgate: verified, leakage-free training data and gate-reviewed models."""


@main.command()
@click.argument("name")
@click.option("--spec", required=True, help="Manifest path, or the manifest as inline JSON.")
@click.option("--store", "store_uri", default=None, help="Store URI (directory or s3://bucket/prefix).")
@click.option("--param", "params", multiple=True, help="key=value parameter for the step; repeatable.")
@click.option(
    "--inputs",
    "inputs_json",
    default=None,
    help="JSON object Kind/name -> identity of the resources the step reads (default: "
    "their current outputs in the store).",
)
@click.option(
    "--result",
    "result_path",
    type=click.Path(dir_okay=False),
    help="Write the JSON result here too (Argo output parameter).",
)
@click.option(
    "--output-dir",
    "output_dir",
    type=click.Path(file_okay=False),
    help="Also write each top-level result field to DIR/<field> (Argo output parameters, withParam lists).",
)
def step(
    name: str,
    spec: str,
    store_uri: str | None,
    params: tuple[str, ...],
    inputs_json: str | None,
    result_path: str | None,
    output_dir: str | None,
) -> None:
    """Run one pipeline step NAME for the resource in --spec."""
    from . import steplog
    from .steps.registry import StepInputError, StepInvocation, UnknownStep, resolve

    steplog.configure()  # log lines on stderr; stdout is the result alone

    try:
        entry = resolve(name)
    except UnknownStep as err:
        raise click.UsageError(str(err)) from None
    try:
        doc, base_dir = load_spec_document(spec)
    except FileNotFoundError as err:
        raise click.BadParameter(str(err), param_hint="--spec") from None
    try:
        resource = parse_resource(doc)
    except ManifestError as err:
        raise click.ClickException(str(err)) from None
    parsed: dict[str, str] = {}
    for item in params:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"expected key=value, got {item!r}", param_hint="--param")
        parsed[key] = value
    inputs = _parse_inputs(inputs_json)
    from .render.container import TRANSIENT_EXIT_CODE, is_transient, write_output_fields, write_termination_message

    try:
        invocation = StepInvocation(
            resource=resource, store=open_store(store_uri), params=parsed, base_dir=base_dir, inputs=inputs
        )
        result = entry(invocation)
    except StepInputError as err:
        message = f"{name}: {err}"
        write_termination_message(message)
        raise click.ClickException(message) from None
    except Exception as err:
        if not is_transient(err):
            raise
        click.echo(f"transient error, retry may succeed: {err!r}", err=True)
        raise SystemExit(TRANSIENT_EXIT_CODE) from err
    payload = result.model_dump_json()
    # Under a launcher (torchrun: one process per GPU) only the pod's first process writes its output files.
    if os.environ.get("LOCAL_RANK", "0") == "0":
        if result_path:
            Path(result_path).parent.mkdir(parents=True, exist_ok=True)
            Path(result_path).write_text(payload)
        if output_dir:
            write_output_fields(result, Path(output_dir))
    click.echo(payload)


def _parse_inputs(text: str | None) -> dict[str, str] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise click.BadParameter(f"not JSON: {err}", param_hint="--inputs") from None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise click.BadParameter("expected a JSON object of Kind/name -> identity strings", param_hint="--inputs")
    return value


@main.command()
@click.option("-f", "--filename", "paths", multiple=True, required=True, help="Manifest file or folder; repeatable.")
@click.option(
    "-o",
    "--output",
    "out_dir",
    type=click.Path(file_okay=False),
    required=True,
    help="Folder for the Workflow manifests.",
)
@click.option("--store", "store_uri", default="s3://pixelgate", show_default=True, help="Store URI the workflows use.")
@click.option("--image", default=None, help="Step image (default: the pipeline version's image).")
def render(paths: tuple[str, ...], out_dir: str, store_uri: str, image: str | None) -> None:
    """Render resources into Argo Workflow manifests (what the operator submits)."""
    from .render.files import render_files

    try:
        written = render_files(list(paths), Path(out_dir), store_uri=store_uri, image=image)
    except (ManifestError, FileNotFoundError, ValueError) as err:
        raise click.ClickException(str(err)) from None
    for ref, path in written:
        click.echo(f"{ref}\t{path or '(no workflow: decided by review)'}")


@main.command()
@click.option(
    "-f", "--filename", "paths", multiple=True, required=True, help="Manifest file, folder or - (stdin); repeatable."
)
@click.option(
    "--store", "store_uri", default=None, help="Store: a folder or s3://bucket/prefix [default: ./.pixelgate/store]."
)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 256), help="Parallel step processes.")
@click.option("--no-cache", is_flag=True, help="Rerun every step even when its inputs are unchanged.")
@click.option("--image", default=None, help="Image recorded in the manifests (part of the cache key).")
def run(paths: tuple[str, ...], store_uri: str | None, workers: int, no_cache: bool, image: str | None) -> None:
    """Run resources on this machine by interpreting their rendered Argo manifests."""
    from .local.cli import run_command

    raise SystemExit(
        run_command(list(paths), store_uri=store_uri, workers=workers, use_cache=not no_cache, image=image)
    )


@main.command("demo-data")
@click.option(
    "-o",
    "--output",
    "out_dir",
    type=click.Path(file_okay=False),
    default="examples/quickstart/data",
    show_default=True,
)
@click.option("--seed", default=7, show_default=True, help="Seed: the same seed writes the same bytes.")
@click.option(
    "--size", default=120, show_default=True, type=click.IntRange(12), help="Conversations in the main family."
)
def demo_data(out_dir: str, seed: int, size: int) -> None:
    """Write the quickstart's sample families (every defect the pipeline handles)."""
    from .demo import generate

    for family, path in generate(Path(out_dir), seed=seed, size=size).items():
        click.echo(f"{family}\t{path}")


@main.command()
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False), default="crds", show_default=True)
def crds(out_dir: str) -> None:
    """Write the CustomResourceDefinitions generated from the API models."""
    from .api.crd import write_crds

    for path in write_crds(Path(out_dir)):
        click.echo(str(path))


if __name__ == "__main__":  # pragma: no cover
    main()
