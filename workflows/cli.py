"""The ``pixelgate`` command line. Each command is a thin shell over library functions.

Sub-commands contributed by other packages (``pixelgate operator``) are found through the
``pixelgate.cli`` entry-point group, so this package never imports them directly.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

import click
import yaml

from . import PIPELINE_VERSION
from .api import ManifestError, parse_resource
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


def _load_spec_document(spec: str) -> tuple[dict, Path | None]:
    """``--spec`` is a path to a manifest, or the manifest itself as inline JSON/YAML."""
    text = spec.strip()
    if text.startswith("{") or "\n" in text:
        return yaml.safe_load(text), None
    path = Path(spec)
    if not path.is_file():
        raise click.BadParameter(f"no such manifest file: {spec}", param_hint="--spec")
    return yaml.safe_load(path.read_text()), path.parent.resolve()


@main.command()
@click.argument("name")
@click.option("--spec", required=True, help="Manifest path, or the manifest as inline JSON.")
@click.option("--store", "store_uri", default=None, help="Store URI (directory or s3://bucket/prefix).")
@click.option("--param", "params", multiple=True, help="key=value parameter for the step; repeatable.")
@click.option("--result", "result_path", type=click.Path(dir_okay=False), help="Write the JSON result here too (Argo output parameter).")
def step(name: str, spec: str, store_uri: str | None, params: tuple[str, ...], result_path: str | None) -> None:
    """Run one pipeline step NAME for the resource in --spec."""
    from .steps.registry import StepInvocation, UnknownStep, resolve

    try:
        entry = resolve(name)
    except UnknownStep as err:
        raise click.UsageError(str(err)) from None
    doc, base_dir = _load_spec_document(spec)
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
    result = entry(StepInvocation(resource=resource, store=open_store(store_uri), params=parsed, base_dir=base_dir))
    payload = result.model_dump_json()
    if result_path:
        Path(result_path).parent.mkdir(parents=True, exist_ok=True)
        Path(result_path).write_text(payload)
    click.echo(payload)


@main.command()
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False), default="crds", show_default=True)
def crds(out_dir: str) -> None:
    """Write the CustomResourceDefinitions generated from the API models."""
    from .api.crd import write_crds

    for path in write_crds(Path(out_dir)):
        click.echo(str(path))


if __name__ == "__main__":  # pragma: no cover
    main()
