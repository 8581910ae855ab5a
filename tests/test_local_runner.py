"""The local runner's interpreter on rendered manifests: DAG order, parameters, fan-out,
retries, caching, and refusing what it does not know.

These tests drive the interpreter with a launcher that plays the step container (it writes
the result files a real `pixelgate step` writes), so every path of the interpreter is
exercised without the data steps; tests/test_local_runner_e2e.py runs the real steps.
"""

from __future__ import annotations

import copy
import json
import threading
from pathlib import Path

import pytest

from pixelgate.workflows.api import parse_resource
from pixelgate.workflows.local.cache import NodeCache
from pixelgate.workflows.local.interpreter import run_workflow
from pixelgate.workflows.local.launch import ContainerCall, LaunchOutcome, launch_subprocess
from pixelgate.workflows.local.subset import ManifestFeatureError
from pixelgate.workflows.render import render_workflow
from pixelgate.workflows.store import LocalStore

COMPILE = parse_resource(
    {
        "apiVersion": "pixelgate.dev/v1alpha1",
        "kind": "CompileRun",
        "metadata": {"name": "c"},
        "spec": {"families": {"names": ["a", "b"]}, "workers": 3},
    }
)


class PlayedSteps:
    """Plays `pixelgate step <name> ... --param k=v --result R --output-dir D` containers."""

    def __init__(self, shards=(0, 1, 2), bands=(0, 1), fail_first: dict[str, int] | None = None, exit_code: int = 75):
        self.shards, self.bands = list(shards), list(bands)
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.seen: list[ContainerCall] = []  # compile steps' calls, as launched
        self.launched: list[ContainerCall] = []  # every call
        self.fail_first = dict(fail_first or {})
        self.exit_code = exit_code
        self.lock = threading.Lock()

    def __call__(self, call: ContainerCall) -> LaunchOutcome:
        argv = call.local_argv()
        step = argv[argv.index("step") + 1]
        params = dict(argv[i + 1].split("=", 1) for i, a in enumerate(argv) if a == "--param")
        with self.lock:
            self.calls.append((step, params))
            self.launched.append(call)
            if step.startswith("compile"):
                self.seen.append(call)
            if self.fail_first.get(step, 0) > 0:
                self.fail_first[step] -= 1
                return LaunchOutcome(self.exit_code, "Failed", "played failure")
        result = {"step": step, **params}
        if step == "compile-plan":
            result |= {"shards": self.shards, "bands": self.bands}
        out_dir = Path(argv[argv.index("--output-dir") + 1])
        out_dir.mkdir(parents=True, exist_ok=True)
        Path(argv[argv.index("--result") + 1]).write_text(json.dumps(result))
        for key, value in result.items():
            (out_dir / key).write_text(value if isinstance(value, str) else json.dumps(value))
        return LaunchOutcome(0, "Succeeded")

    def steps(self) -> list[str]:
        return [s for s, _ in self.calls]


def _manifest() -> dict:
    return render_workflow(COMPILE, store_uri="/unused", base_dir=None)


def _fast_retries(manifest: dict) -> dict:
    for t in manifest["spec"]["templates"]:
        if "retryStrategy" in t:
            t["retryStrategy"]["backoff"]["duration"] = "0s"
    return manifest


def test_dag_fan_out_and_outputs(tmp_path: Path) -> None:
    played = PlayedSteps()
    result = run_workflow(_manifest(), workers=3, launch=played, logs_dir=tmp_path)
    assert result.phase == "Succeeded", result.message
    steps = played.steps()
    assert steps[0] == "compile-plan" and steps[-1] == "compile-finalize"
    assert (
        steps.count("compile-signatures") == 3
        and steps.count("compile-buckets") == 2
        and steps.count("compile-filter") == 3
    )
    # every signature finishes before any bucket, every filter after the merge
    assert max(i for i, s in enumerate(steps) if s == "compile-signatures") < min(
        i for i, s in enumerate(steps) if s == "compile-buckets"
    )
    assert steps.index("compile-merge") < min(i for i, s in enumerate(steps) if s == "compile-filter")
    assert sorted(p["shard"] for s, p in played.calls if s == "compile-filter") == ["0", "1", "2"]
    assert sorted(p["band"] for s, p in played.calls if s == "compile-buckets") == ["0", "1"]
    assert json.loads(result.outputs["finalize"])["step"] == "compile-finalize"


def test_an_empty_fan_out_runs_no_nodes_and_goes_on(tmp_path: Path) -> None:
    played = PlayedSteps(shards=(), bands=())
    result = run_workflow(_manifest(), launch=played, logs_dir=tmp_path)
    assert result.phase == "Succeeded"
    assert played.steps() == ["compile-plan", "compile-merge", "compile-finalize"]


def test_transient_failures_are_retried_and_others_are_not(tmp_path: Path) -> None:
    played = PlayedSteps(fail_first={"compile-merge": 2})
    result = run_workflow(_fast_retries(_manifest()), launch=played, logs_dir=tmp_path)
    assert result.phase == "Succeeded"
    merge = [n for n in result.nodes if n.task == "merge"][0]
    assert merge.attempts == 3

    hard = PlayedSteps(fail_first={"compile-merge": 1}, exit_code=1)
    result = run_workflow(_fast_retries(_manifest()), launch=hard, logs_dir=tmp_path)
    assert result.phase == "Failed" and "merge" in result.message
    assert hard.steps().count("compile-merge") == 1, "exit code 1 is a bug, not a transient error: no retry"
    assert "compile-filter" not in hard.steps(), "nothing downstream of a failed task runs"


def test_retries_stop_at_the_limit(tmp_path: Path) -> None:
    played = PlayedSteps(fail_first={"compile-plan": 10})
    result = run_workflow(_fast_retries(_manifest()), launch=played, logs_dir=tmp_path)
    assert result.phase == "Failed"
    assert played.steps().count("compile-plan") == 1 + 3


def test_cache_skips_unchanged_nodes_and_reruns_changed_ones(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    first = PlayedSteps()
    run_workflow(_manifest(), cache=NodeCache(store), launch=first, logs_dir=tmp_path)
    again = PlayedSteps()
    result = run_workflow(_manifest(), cache=NodeCache(store), launch=again, logs_dir=tmp_path)
    assert again.calls == [] and result.cached_nodes == len(result.nodes) == 11
    assert result.phase == "Succeeded" and json.loads(result.outputs["finalize"])["step"] == "compile-finalize"

    changed = PlayedSteps()
    run_workflow(
        _manifest(), cache=NodeCache(store), launch=changed, logs_dir=tmp_path, context_digest="new upstream data"
    )
    assert len(changed.calls) == 11, "a changed upstream digest invalidates every node"

    forced = PlayedSteps()
    run_workflow(_manifest(), cache=NodeCache(store, enabled=False), launch=forced, logs_dir=tmp_path)
    assert len(forced.calls) == 11


def test_a_corrupt_or_missing_cache_record_is_a_miss(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    run_workflow(_manifest(), cache=NodeCache(store), launch=PlayedSteps(), logs_dir=tmp_path)
    name = _manifest()["metadata"]["name"]
    store.write_bytes(f"runs/{name}/merge.json", b"{not json")
    (store.root / "runs" / name / "finalize.json").unlink()
    again = PlayedSteps()
    result = run_workflow(_manifest(), cache=NodeCache(store), launch=again, logs_dir=tmp_path)
    assert result.phase == "Succeeded"
    # merge reruns with the same key and outputs, so the filters downstream stay cached
    assert again.steps() == ["compile-merge", "compile-finalize"]


def test_a_cache_record_naming_vanished_outputs_is_a_miss(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    cache = NodeCache(store)
    cache.record("wf", "n", "k", {"result": json.dumps({"outputUri": store.url("families/a/123")})})
    assert cache.lookup("wf", "n", "k") is None
    store.write_bytes("families/a/123/records/part-00000.parquet", b"x")
    assert cache.lookup("wf", "n", "k") is not None
    assert cache.lookup("wf", "n", "other-key") is None


@pytest.mark.parametrize(
    ("edit", "feature"),
    [
        (lambda m: m["spec"]["templates"][1].__setitem__("volumes", [{"name": "scratch", "emptyDir": {}}]), "volumes"),
        (lambda m: m["spec"].__setitem__("onExit", "cleanup"), "spec.onExit"),
        (lambda m: m["spec"]["templates"][0]["dag"]["tasks"][1].__setitem__("when", "{{item}} > 1"), "when"),
        (lambda m: m["spec"]["templates"][0]["dag"]["tasks"][0].__setitem__("depends", "a && b"), "depends"),
        (
            lambda m: m["spec"]["templates"].append({"name": "s", "script": {"image": "x", "source": "print(1)"}}),
            "script",
        ),
        (lambda m: m["spec"]["templates"][1]["container"].__setitem__("env", [{"name": "A", "value": "1"}]), "env"),
    ],
)
def test_an_unknown_argo_feature_is_an_error_naming_it(edit, feature, tmp_path: Path) -> None:
    manifest = copy.deepcopy(_manifest())
    edit(manifest)
    played = PlayedSteps()
    with pytest.raises(ManifestFeatureError, match=feature):
        run_workflow(manifest, launch=played, logs_dir=tmp_path)
    assert played.calls == [], "nothing runs when the manifest uses an unknown feature"


def test_expression_tags_and_unknown_references_are_errors(tmp_path: Path) -> None:
    manifest = copy.deepcopy(_manifest())
    manifest["spec"]["templates"][0]["dag"]["tasks"][1]["withParam"] = (
        "{{=jsonpath(tasks.plan.outputs.parameters.result, '$.shards')}}"
    )
    with pytest.raises(ManifestFeatureError, match="expression tags"):
        run_workflow(manifest, launch=PlayedSteps(), logs_dir=tmp_path)
    manifest = copy.deepcopy(_manifest())
    manifest["spec"]["templates"][1]["container"]["args"].append("{{workflow.parameters.nope}}")
    with pytest.raises(ManifestFeatureError, match="unresolved reference"):
        run_workflow(manifest, launch=PlayedSteps(), logs_dir=tmp_path)


def test_non_pixelgate_containers_and_unknown_retry_expressions_are_refused(tmp_path: Path) -> None:
    manifest = copy.deepcopy(_manifest())
    manifest["spec"]["templates"][1]["container"]["command"] = ["sh", "-c"]
    with pytest.raises(ManifestFeatureError, match="runs `pixelgate` containers"):
        run_workflow(manifest, launch=PlayedSteps(), logs_dir=tmp_path)
    manifest = _fast_retries(copy.deepcopy(_manifest()))
    manifest["spec"]["templates"][1]["retryStrategy"]["expression"] = "lastRetry.duration > 10"
    with pytest.raises(ManifestFeatureError, match="retryStrategy.expression"):
        run_workflow(manifest, launch=PlayedSteps(fail_first={"compile-plan": 1}), logs_dir=tmp_path)


def test_training_launchers_one_machine_yes_several_nodes_no(tmp_path: Path) -> None:
    def training(**resources) -> dict:
        resource = parse_resource(
            {
                "apiVersion": "pixelgate.dev/v1alpha1",
                "kind": "TrainingRun",
                "metadata": {"name": "t"},
                "spec": {"compileRun": "c", "model": {"base": "gpt2"}, "resources": resources},
            }
        )
        return render_workflow(resource, store_uri=str(tmp_path / "store"))

    played = PlayedSteps()
    run_workflow(training(gpusPerNode=2), launch=played, logs_dir=tmp_path)  # torchrun --standalone on this machine
    assert played.steps() == ["train", "evaluate"]
    call = ContainerCall(
        argv=["torchrun", "--standalone", "--nproc-per-node=2", "-m", "pixelgate.workflows.cli", "step", "train"],
        log=tmp_path / "log",
    )
    assert call.local_argv()[1:] == [
        "-P",
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node=2",
        "-m",
        "pixelgate.workflows.cli",
        "step",
        "train",
    ]
    with pytest.raises(
        ManifestFeatureError, match=r"multi-node training \(spec.resources.nodes > 1\) runs on a cluster"
    ):
        run_workflow(training(nodes=2, gpusPerNode=2), launch=PlayedSteps(), logs_dir=tmp_path)


def test_the_real_launcher_maps_tmp_and_runs_the_pixelgate_cli(tmp_path: Path) -> None:
    """The subprocess launcher runs `pixelgate` as this interpreter's CLI with /tmp remapped."""
    shared = tmp_path / "shared"
    call = ContainerCall(argv=["pixelgate", "crds", "-o", "/tmp/crds"], log=tmp_path / "log", private=("/tmp/crds",))
    try:
        outcome = launch_subprocess(call)
        assert outcome.status == "Succeeded", (tmp_path / "log").read_text()
        assert (call.scratch / "tmp" / "crds").is_dir() and any((call.scratch / "tmp" / "crds").iterdir())
        assert not Path("/tmp/crds").exists()
        # a path not declared private (a store under /tmp) is passed through untouched
        outside = ContainerCall(
            argv=["pixelgate", "crds", "-o", str(shared)], log=tmp_path / "log", private=("/tmp/crds",)
        )
        assert launch_subprocess(outside).status == "Succeeded" and any(shared.iterdir())
        outside.cleanup()
    finally:
        call.cleanup()
    failing = ContainerCall(argv=["pixelgate", "step", "no-such-step", "--spec", "{}"], log=tmp_path / "log2")
    outcome = launch_subprocess(failing)
    failing.cleanup()
    assert outcome.status == "Failed" and outcome.exit_code == 2 and "unknown step" in outcome.detail


def test_active_deadline_kills_the_step(tmp_path: Path) -> None:
    call = ContainerCall(
        argv=["pixelgate", "step", "ingest", "--spec", "/dev/stdin"], log=tmp_path / "log", timeout=0.01
    )
    outcome = launch_subprocess(call)
    call.cleanup()
    assert outcome.status == "Failed" and "activeDeadlineSeconds" in outcome.detail


def test_with_items_and_a_bad_with_param(tmp_path: Path) -> None:
    manifest = copy.deepcopy(_manifest())
    tasks = manifest["spec"]["templates"][0]["dag"]["tasks"]
    buckets = next(t for t in tasks if t["name"] == "buckets")
    del buckets["withParam"]
    buckets["withItems"] = [7, 9]
    played = PlayedSteps()
    assert run_workflow(manifest, launch=played, logs_dir=tmp_path).phase == "Succeeded"
    assert sorted(p["band"] for s, p in played.calls if s == "compile-buckets") == ["7", "9"]

    class NotAList(PlayedSteps):
        def __init__(self):
            super().__init__()
            self.shards = {"not": "a list"}

    result = run_workflow(_manifest(), launch=NotAList(), logs_dir=tmp_path)
    assert result.phase == "Failed" and "withParam is not a JSON list" in result.message


def _doc(kind: str, name: str, spec: dict, labels: dict | None = None) -> dict:
    return {
        "apiVersion": "pixelgate.dev/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "labels": labels or {}},
        "spec": spec,
    }


def test_load_and_order_by_dependency(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    import yaml

    from pixelgate.workflows.api.manifests import load_items
    from pixelgate.workflows.local.runner import dependencies, order_items

    family = {
        "source": {"uri": "a.jsonl", "format": "jsonl"},
        "mapping": {"turns": {"path": "m"}},
        "license": {"spdx": "MIT", "allowTraining": True},
    }
    docs = [
        _doc("GateReview", "g", {"gate": "data-foundation", "compileRun": "new"}),
        _doc("TrainingRun", "t", {"compileRun": "new", "model": {"base": "x"}}),
        _doc("CompileRun", "new", {"families": {"selector": {"matchLabels": {"set": "a"}}}, "baseline": "old"}),
        _doc("CompileRun", "old", {"families": {"names": ["f2"]}}),
        _doc("DatasetFamily", "f2", family, {"set": "b"}),
        _doc("DatasetFamily", "f1", family, {"set": "a"}),
    ]
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "all.yaml").write_text(yaml.safe_dump_all(docs[:4]))
    (folder / "notes.txt").write_text("not a manifest")
    monkeypatch.setattr("sys.stdin", io.StringIO(yaml.safe_dump_all(docs[4:])))
    items = load_items([str(folder), "-"])
    order = [f"{i.resource.kind}/{i.resource.name}" for i in order_items(items)]
    assert order == [
        "DatasetFamily/f1",
        "DatasetFamily/f2",
        "CompileRun/old",
        "CompileRun/new",
        "TrainingRun/t",
        "GateReview/g",
    ]
    new = next(i for i in items if i.resource.name == "new")
    assert dependencies(new, items) == [("DatasetFamily", "f1"), ("CompileRun", "old")]
    assert next(i for i in items if i.resource.name == "f1").base_dir == Path.cwd()
    with pytest.raises(ValueError, match="given twice"):
        load_items([str(folder), str(folder / "all.yaml")])
    with pytest.raises(FileNotFoundError):
        load_items([str(tmp_path / "missing.yaml")])


def test_resources_wait_for_failed_or_missing_dependencies(tmp_path: Path) -> None:
    """A CompileRun whose family failed waits (FamiliesReady=False), like on a cluster."""
    from pixelgate.workflows.api.manifests import Item
    from pixelgate.workflows.local.runner import run_resources

    family = parse_resource(
        _doc(
            "DatasetFamily",
            "f",
            {
                "source": {"uri": "a.jsonl", "format": "jsonl"},
                "mapping": {"turns": {"path": "m"}},
                "license": {"spdx": "MIT", "allowTraining": True},
            },
        )
    )
    store = LocalStore(tmp_path / "store")
    played = PlayedSteps(fail_first={"ingest": 99}, exit_code=1)
    over_f = parse_resource(_doc("CompileRun", "over-f", {"families": {"names": ["f"]}}))
    report = run_resources(
        [Item(family, tmp_path), Item(COMPILE, tmp_path), Item(over_f, tmp_path)],
        store,
        launch=played,
        logs_dir=tmp_path,
    )
    phases = {o.name: o.phase for o in report.outcomes}
    assert phases == {"f": "Failed", "c": "Waiting", "over-f": "Waiting"} and not report.ok
    waiting = store.read_json("status/CompileRun/c.json")
    assert (
        waiting["conditions"][0]["reason"] == "WaitingForFamilies"
        and "not found: a, b" in waiting["conditions"][0]["message"]
    )
    waiting = store.read_json("status/CompileRun/over-f.json")
    assert waiting["conditions"][0]["type"] == "FamiliesReady" and "f (Failed)" in waiting["conditions"][0]["message"]
    failed = store.read_json("status/DatasetFamily/f.json")
    assert failed["phase"] == "Failed" and failed["conditions"][0]["reason"] == "WorkflowFailed"
    assert played.steps() == ["ingest"], "exit code 1 is not retried and the compile never starts"


def test_a_re_ingested_family_gives_its_compile_a_new_identity_and_the_steps_its_inputs(tmp_path: Path) -> None:
    """The local runner's identity rule is the operator's: a family's identity joins its compile's,
    and every step is told the identities it reads (--inputs)."""
    from pixelgate.workflows.api.kinds import identity
    from pixelgate.workflows.api.manifests import Item
    from pixelgate.workflows.local.runner import run_resources

    store = LocalStore(tmp_path / "store")
    (tmp_path / "a.jsonl").write_text("{}\n")

    def family_doc(tier: int) -> dict:
        return _doc(
            "DatasetFamily",
            "a",
            {
                "source": {"uri": "a.jsonl", "format": "jsonl"},
                "mapping": {"turns": {"path": "m"}},
                "license": {"spdx": "MIT", "allowTraining": True},
                "tier": tier,
            },
        )

    compile_doc = parse_resource(_doc("CompileRun", "c", {"families": {"names": ["a"]}}))
    identities = []
    for tier in (2, 1):
        played = PlayedSteps()
        family = parse_resource(family_doc(tier))
        report = run_resources(
            [Item(family, tmp_path), Item(compile_doc, tmp_path)], store, launch=played, logs_dir=tmp_path
        )
        assert all(o.phase in ("Ready", "Succeeded") for o in report.outcomes), [
            (o.name, o.phase) for o in report.outcomes
        ]
        statuses = {o.name: o.status for o in report.outcomes}
        family_id = statuses["a"].spec_hash
        assert statuses["c"].spec_hash == identity(compile_doc.spec, {"DatasetFamily/a": family_id})
        assert statuses["c"].workflow == f"c-{statuses['c'].spec_hash}"
        inputs = {
            json.loads(c.argv[c.argv.index("--inputs") + 1]) == {"DatasetFamily/a": family_id} for c in played.seen
        }
        assert inputs == {True}, "every compile step is told the family's identity"
        identities.append(statuses["c"].spec_hash)
    assert identities[0] != identities[1], "a re-ingested family (new identity) recompiles"


def test_a_spec_value_that_looks_like_an_argo_expression_reaches_the_step_as_text(tmp_path: Path) -> None:
    from pixelgate.workflows.api.manifests import Item, load_spec_document
    from pixelgate.workflows.local.runner import run_resources

    hostile = '{{=sprig.env("AWS_SECRET_ACCESS_KEY")}} {{workflow.parameters.store}}'
    spec = {
        "source": {"uri": "a.jsonl", "format": "jsonl"},
        "mapping": {"turns": {"path": "m"}, "systemPrompt": hostile},
        "license": {"spdx": "MIT", "allowTraining": True},
    }
    family = parse_resource(_doc("DatasetFamily", "hostile", spec))
    played = PlayedSteps()
    run_resources([Item(family, tmp_path)], LocalStore(tmp_path / "store"), launch=played, logs_dir=tmp_path)
    [argv] = [c.argv for c in played.launched]
    received, _ = load_spec_document(argv[argv.index("--spec") + 1])
    assert received["spec"]["mapping"]["systemPrompt"] == hostile
