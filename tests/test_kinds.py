"""The kind declaration (workflows/api/kinds.py) is the only place names live, and everything
derives from it: the step registry, the rendered DAGs, the stage conditions, the status contract."""

from __future__ import annotations

import ast
import inspect
import typing
from pathlib import Path

import pytest

from pixelgate.workflows.api import parse_resource
from pixelgate.workflows.api.kinds import APPROVED, KINDS, STEPS, identity
from pixelgate.workflows.api.manifests import load_items
from pixelgate.workflows.api.meta import Phase
from pixelgate.workflows.render import render_workflow
from pixelgate.workflows.steps.registry import load, resolve

REPO = Path(__file__).resolve().parent.parent
DECLARATION = REPO / "workflows" / "api" / "kinds.py"
EXAMPLES = ["examples/quickstart", "examples/public", "examples/derived", "examples/generated", "examples/rclone"]

# Words that are also declared names but mean something else where they appear: the split
# "train"; "compile", the metrics' label for a CompileRun and a GateReview check; and the phases
# (Argo's and ours), a vocabulary of their own that two summary conditions share (Ready, Succeeded).
OTHER_MEANINGS = {"train", "compile", *typing.get_args(Phase)}


def _declared_names() -> set[str]:
    names = set(KINDS) | set(STEPS) | {APPROVED}
    for info in KINDS.values():
        names |= {
            info.summary_condition,
            *(s.condition for s in info.stages),
            *(d.condition for d in info.dependencies),
        }
        names |= {d.reason for d in info.dependencies}
    return names - OTHER_MEANINGS


def _string_constants(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def test_no_kind_step_or_condition_name_is_written_outside_the_declaration():
    declared = _declared_names()
    found = []
    for path in sorted([*(REPO / "workflows").rglob("*.py"), *(REPO / "operator").rglob("*.py")]):
        if path == DECLARATION:
            continue
        for line, value in _string_constants(path):
            if value in declared:
                found.append(f"{path.relative_to(REPO)}:{line}: {value!r}")
    assert not found, "names belong in workflows/api/kinds.py:\n" + "\n".join(found)


def _examples() -> list:
    return [item.resource for path in EXAMPLES for item in load_items([str(REPO / path)])]


@pytest.mark.parametrize(
    "resource", [r for r in _examples() if KINDS[r.kind].has_workflow], ids=lambda r: f"{r.kind}-{r.name}"
)
def test_every_rendered_container_runs_a_registered_step_of_its_kind(resource):
    manifest = render_workflow(resource, store_uri="s3://store")
    own = {t.step.name for t in KINDS[resource.kind].tasks}
    containers = [t for t in manifest["spec"]["templates"] if "container" in t]
    assert containers
    for template in containers:
        args = template["container"]["args"]
        assert args[0] == "step" and args[1] in STEPS and args[1] in own, template["name"]
        assert template["name"] == args[1]
        resolve(args[1])  # the entry point exists
    tasks = {t["name"] for t in next(t for t in manifest["spec"]["templates"] if "dag" in t)["dag"]["tasks"]}
    for stage in KINDS[resource.kind].stages:
        assert set(stage.tasks) <= tasks, f"{stage.condition} names tasks the DAG does not have"


def test_a_multi_node_training_renders_one_pod_per_rank_behind_the_declared_task():
    doc = {
        "apiVersion": "pixelgate.dev/v1alpha1",
        "kind": "TrainingRun",
        "metadata": {"name": "t"},
        "spec": {"compileRun": "c", "model": {"base": "x"}, "resources": {"nodes": 3, "gpusPerNode": 2}},
    }
    manifest = render_workflow(parse_resource(doc), store_uri="s3://store")
    dag = next(t for t in manifest["spec"]["templates"] if "dag" in t)["dag"]["tasks"]
    train = next(t for t in dag if t["name"] == "train")
    assert train["withItems"] == ["0", "1", "2"] and train["dependencies"] == ["rendezvous"]


def _fields(model: type) -> set[str]:
    return set(model.model_fields)


def test_every_result_field_lands_in_the_status_or_is_declared_internal():
    for kind, info in KINDS.items():
        status_fields = _fields(info.status)
        for task in info.result_tasks():
            result = load(task.step.result)
            have = _fields(result)
            assert set(task.reports) <= have, (
                f"{kind}.{task.name} reports fields its result lacks: {set(task.reports) - have}"
            )
            assert set(task.reports) <= status_fields, (
                f"{kind}.{task.name}: {set(task.reports) - status_fields} are not status fields"
            )
            unplaced = have - set(task.reports) - set(task.internal)
            assert not unplaced, (
                f"{kind}.{task.name}: result fields {sorted(unplaced)} land nowhere; report them "
                f"or declare them internal"
            )
            assert not set(task.internal) - have, f"{kind}.{task.name} declares internal fields its result lacks"


def test_every_step_declares_a_loadable_entry_point_and_result_model():
    for step in STEPS.values():
        assert callable(load(step.entry))
        result = load(step.result)
        returns = str(inspect.signature(load(step.entry)).return_annotation).strip("'\"").rsplit(".", 1)[-1]
        assert returns == result.__name__, f"{step.name}: entry point returns {returns}, declared {result.__name__}"
        assert set(step.list_outputs) <= _fields(result)


def test_identity_folds_in_every_input_and_nothing_else():
    spec = parse_resource(
        {
            "apiVersion": "pixelgate.dev/v1alpha1",
            "kind": "CompileRun",
            "metadata": {"name": "c"},
            "spec": {"families": {"names": ["a"]}},
        }
    ).spec
    own = identity(spec)
    assert identity(spec, {}) == own
    one = identity(spec, {"DatasetFamily/a": "h1"})
    assert one != own and identity(spec, {"DatasetFamily/a": "h2"}) != one
    assert identity(spec, {"DatasetFamily/a": "h1", "DatasetFamily/b": "h"}) == identity(
        spec, {"DatasetFamily/b": "h", "DatasetFamily/a": "h1"}
    )
    manifest = render_workflow(
        parse_resource(
            {
                "apiVersion": "pixelgate.dev/v1alpha1",
                "kind": "CompileRun",
                "metadata": {"name": "c"},
                "spec": {"families": {"names": ["a"]}},
            }
        ),
        store_uri="s3://x",
        inputs={"DatasetFamily/a": "h1"},
    )
    assert (
        manifest["metadata"]["labels"]["pixelgate.dev/spec-hash"] == one and manifest["metadata"]["name"] == f"c-{one}"
    )
