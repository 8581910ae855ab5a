"""Each verification gate fails on the input it exists to catch, and passes on clean input; the
keep strategies, holdout routing, drift against a baseline, and the stage-by-stage CLI path."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from pixelgate.workflows import layout
from pixelgate.workflows.cli import main
from pixelgate.workflows.steps.compile import compile_run
from pixelgate.workflows.steps.registry import StepInputError
from pixelgate.workflows.store import LocalStore
from tests.compile_fixtures import compile_resource, make_record, write_family


def conv(i: int, topic: str = "sleep") -> list[tuple[str, str]]:
    return [
        (
            "user",
            f"Question {i}: I keep worrying about {topic} and cannot settle down at night, "
            f"case number {i} of many in this set.",
        ),
        (
            "assistant",
            f"Thank you for telling me about {topic} item {i}. Let us try a calming routine "
            f"together; reply {i} suggests breathing slowly and noting worries.",
        ),
    ]


def clean_family(store, name: str, n: int = 120, **kw) -> None:
    write_family(store, name, [make_record(name, i, conv(i, name)) for i in range(n)], shard_size=50, **kw)


def run(store, name: str, families: list[str], **spec):
    res = compile_resource(name, families, split={"tolerance": 0.2}, **spec)
    result = compile_run(res.name, res.spec, store, workers=1)
    return (
        result,
        {g.name: g for g in result.gates},
        store.read_json(f"{layout.compile_root(name, result.spec_hash)}/verification_report.json"),
    )


def test_clean_input_passes_all_eight_gates(tmp_path):
    store = LocalStore(tmp_path)
    clean_family(store, "alpha")
    clean_family(store, "beta")
    result, gates, report = run(store, "clean", ["alpha", "beta"])
    assert result.gates_passed == "8/8" and result.passed, report
    assert len(report["gates"]) == 8 and report["duplicate_rate"]["observed"] == 0.0
    assert result.records == 240


def test_coverage_fails_for_a_missing_family(tmp_path):
    store = LocalStore(tmp_path)
    clean_family(store, "alpha")
    _, gates, report = run(store, "cov", ["alpha", "ghost"])
    assert not gates["coverage"].passed
    assert next(g for g in report["gates"] if g["name"] == "coverage")["offenders"] == ["ghost"]


def test_provenance_gate_refuses_records_not_allowed_for_training(tmp_path):
    store = LocalStore(tmp_path)
    write_family(store, "nc", [make_record("nc", i, conv(i), allow_training=False) for i in range(30)])
    _, gates, _ = run(store, "prov", ["nc"])
    assert not gates["provenance"].passed and gates["provenance"].observed.startswith("30 ")


def test_hash_gate_catches_a_stale_content_hash(tmp_path):
    store = LocalStore(tmp_path)
    recs = [make_record("h", i, conv(i)) for i in range(30)]
    recs[5] = recs[5].model_copy(update={"content_hash": "sha256:" + "0" * 64})
    write_family(store, "h", recs)
    _, gates, report = run(store, "hash", ["h"])
    assert not gates["hash"].passed
    assert next(g for g in report["gates"] if g["name"] == "hash")["offenders"][0]["id"] == recs[5].id


def test_pii_gate_catches_unredacted_contacts_and_flagged_records(tmp_path):
    store = LocalStore(tmp_path)
    recs = [make_record("p", i, conv(i)) for i in range(40)]
    recs[3] = make_record(
        "p",
        3,
        [("user", "mail me at jane.doe@example.com please"), ("assistant", "Sure, call 415-555-0132 any time.")],
    )
    recs[7] = recs[7].model_copy(update={"pii": recs[7].pii.model_copy(update={"flagged": True})})
    write_family(store, "p", recs)
    _, gates, report = run(store, "pii", ["p"])
    offenders = next(g for g in report["gates"] if g["name"] == "pii")["offenders"]
    assert not gates["pii"].passed and gates["pii"].observed.startswith("2 ")
    assert {"EMAIL_ADDRESS", "PHONE_NUMBER"} <= set(next(o for o in offenders if o["entities"])["entities"])


def test_holdout_families_go_to_test_only_and_take_their_duplicates_along(tmp_path):
    store = LocalStore(tmp_path)
    clean_family(store, "main")
    # the holdout family repeats 10 of main's conversations, one word changed (near-duplicates);
    # main has the better tier, so main's records survive, and must follow the holdout into test
    held = [
        make_record("held", i, [(r, t.replace("Question", "Q")) for r, t in conv(i, "main")], tier=3)
        for i in range(10)
    ]
    held += [make_record("held", 100 + i, conv(1000 + i, "exams"), tier=3) for i in range(20)]
    write_family(store, "held", held, holdout=True)
    result, gates, _ = run(store, "hold", ["main", "held"], dedup={"near": {"threshold": 0.7}})
    assert gates["split"].passed and gates["leakage"].passed
    root = layout.compile_root("hold", result.spec_hash)
    records = [
        json.loads(line)
        for line in (store.root / root / "compiled" / "final_training_dataset.jsonl").read_text().splitlines()
    ]
    held_out = [r for r in records if r["family"] == "held"]
    assert len(held_out) == 20 and {r["split"] for r in held_out} == {"test"}
    originals = [
        r
        for r in records
        if r["family"] == "main" and r["messages"][0]["content"].split(":")[0] in {f"Question {i}" for i in range(10)}
    ]
    assert len(originals) == 10 and {r["split"] for r in originals} == {"test"}


def test_keep_priority_order_prefers_lower_tier_then_higher_weight(tmp_path):
    store = LocalStore(tmp_path)
    write_family(store, "t2", [make_record("t2", i, conv(i), tier=2) for i in range(20)], weight=5.0)
    write_family(store, "t1", [make_record("t1", i, conv(i), tier=1) for i in range(20)], weight=1.0)
    write_family(store, "t2b", [make_record("t2b", i, conv(i), tier=2) for i in range(20)], weight=9.0)
    result, _, _ = run(store, "prio", ["t2", "t1", "t2b"])
    manifest = store.read_json(f"{layout.compile_root('prio', result.spec_hash)}/manifest.json")
    fams = {f["name"]: f for f in manifest["families"]}
    assert fams["t1"]["records_out"] == 20 and fams["t2"]["records_out"] == 0 and fams["t2b"]["records_out"] == 0
    assert fams["t2"]["removed_exact"] == 20


def test_drift_against_a_baseline(tmp_path):
    store = LocalStore(tmp_path)
    clean_family(store, "alpha")
    run(store, "base", ["alpha"])
    same, _, _ = run(store, "same", ["alpha"], baseline="base")
    assert same.drift_level == "ok"
    clean_family(store, "beta", n=400)
    shifted, _, _ = run(store, "shift", ["alpha", "beta"], baseline="base")
    report = store.read_json(f"{layout.compile_root('shift', shifted.spec_hash)}/drift.json")
    mix = next(f for f in report["features"] if f["feature"] == "family_mix")
    assert shifted.drift_level == "alert" and mix["level"] == "alert" and mix["psi"] > 0.2
    with pytest.raises(StepInputError, match="baseline: CompileRun 'never-compiled' has no output in the store"):
        run(store, "orphan", ["alpha"], baseline="never-compiled")


def test_stage_by_stage_cli_equals_in_process_compile(tmp_path):
    """The Argo fan-out path (one CLI call per stage and partition) writes the same bytes."""
    a, b = LocalStore(tmp_path / "a"), LocalStore(tmp_path / "b")
    for store in (a, b):
        clean_family(store, "alpha")
        copies = [make_record("dup", i, conv(i, "alpha")) for i in range(0, 120, 3)]
        write_family(store, "dup", copies + [make_record("dup", 500 + i, conv(500 + i, "dup")) for i in range(30)])
    res = compile_resource("cli", ["alpha", "dup"], split={"tolerance": 0.2})
    compile_run(res.name, res.spec, a, workers=1)
    spec = json.dumps(
        {
            "apiVersion": "pixelgate.dev/v1alpha1",
            "kind": "CompileRun",
            "metadata": {"name": "cli"},
            "spec": res.spec.to_wire(),
        }
    )
    cli = CliRunner()

    def step(name: str, *params: str) -> dict:
        out = cli.invoke(
            main, ["step", name, "--spec", spec, "--store", str(b.root), *[f"--param={p}" for p in params]]
        )
        assert out.exit_code == 0, out.output
        return json.loads(out.output)

    plan = step("compile-plan")
    for shard in plan["shards"]:
        step("compile-signatures", f"shard={shard}")
    for band in plan["bands"]:
        step("compile-buckets", f"band={band}")
    step("compile-merge")
    for shard in plan["shards"]:
        step("compile-filter", f"shard={shard}")
    final = step("compile-finalize")
    assert final["gates_passed"] == "8/8" and final["records"] == 150
    files_a = {k: a.read_bytes(k) for k in a.list("compiles/")}
    files_b = {k: b.read_bytes(k) for k in b.list("compiles/")}
    assert files_a.keys() == files_b.keys() and all(files_a[k] == files_b[k] for k in files_a)
    bad = cli.invoke(main, ["step", "compile-signatures", "--spec", spec, "--store", str(b.root)])
    assert (
        bad.exit_code == 1
        and "compile-signatures: --param shard: this step needs --param shard=<integer>" in bad.output
    )
