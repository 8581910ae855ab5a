"""Every kind of family in one compile: raw files (ESConv, AnnoMI), a family derived from both
(long sessions), and generated edge cases. The example manifests are used as they are, but for
smaller inputs (ESConv's valid split, 250 generated cases) and regex-only PII to keep CI fast."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq

from pixelgate.workflows import layout
from pixelgate.workflows.api.dataset_family import Pii
from pixelgate.workflows.api.manifests import load_items
from pixelgate.workflows.steps.compile import compile_run
from pixelgate.workflows.steps.ingest import ingest_family
from pixelgate.workflows.store import LocalStore
from tests.compile_fixtures import compile_resource

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
STRUCTURED = Pii(
    entities=["PHONE_NUMBER", "EMAIL_ADDRESS", "URL"]
)  # regex-only; the compile's PII gate scans for these


def _example(path: str, name: str):
    return next((i.resource, i.base_dir) for i in load_items([str(EXAMPLES / path)]) if i.resource.name == name)


def test_raw_derived_and_generated_families_compile_together(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    esconv, base = _example("public/esconv.yaml", "esconv")
    valid = esconv.spec.source.model_copy(update={"uri": "../../../shared/datasets/esconv/valid.jsonl"})
    ingest_family("esconv", esconv.spec.model_copy(update={"source": valid, "pii": STRUCTURED}), store, base)
    annomi, base = _example("public/annomi.yaml", "annomi")
    ingest_family("annomi", annomi.spec.model_copy(update={"pii": STRUCTURED}), store, base)
    long_sessions, _ = _example("derived/long-sessions.yaml", "long-sessions")
    derived = ingest_family(
        "long-sessions", long_sessions.spec.model_copy(update={"pii": STRUCTURED, "weight": 2.0}), store
    )
    edge, _ = _example("generated/edge-cases.yaml", "edge-cases")
    generate = edge.spec.source.generate.model_copy(update={"count": 250})
    generated = ingest_family(
        "edge-cases",
        edge.spec.model_copy(update={"source": edge.spec.source.model_copy(update={"generate": generate})}),
        store,
    )
    assert derived.records_out > 0 and generated.records_out == 250

    # A derived record keeps its parent's licence: AnnoMI states none (allowTraining: false), so
    # the long sessions derived from it fail the provenance gate, exactly as AnnoMI would.
    res = compile_resource("with-annomi", ["esconv", "long-sessions", "edge-cases"], split={"tolerance": 0.1})
    refused = compile_run(res.name, res.spec, store, workers=2)
    assert not refused.passed and [g.name for g in refused.gates if not g.passed] == ["provenance"], refused.gates

    # Derived from ESConv alone, everything compiles with every gate green.
    derive = long_sessions.spec.source.derive.model_copy(
        update={"from_": long_sessions.spec.source.derive.from_.model_copy(update={"names": ["esconv"]})}
    )
    ingest_family(
        "long-sessions",
        long_sessions.spec.model_copy(
            update={
                "pii": STRUCTURED,
                "weight": 2.0,
                "source": long_sessions.spec.source.model_copy(update={"derive": derive}),
            }
        ),
        store,
    )
    res = compile_resource("everything", ["esconv", "long-sessions", "edge-cases"], split={"tolerance": 0.1})
    result = compile_run(res.name, res.spec, store, workers=2)
    assert result.passed and result.gates_passed == "8/8", result.gates
    leakage = next(g for g in result.gates if g.name == "leakage")
    assert leakage.passed and leakage.observed.startswith("0 duplicate pairs and 0 parent/child pairs"), leakage

    root = layout.compile_root("everything", result.spec_hash)
    records = [
        json.loads(line) for line in store.read_bytes(f"{root}/compiled/final_training_dataset.jsonl").splitlines()
    ]
    by_family: dict[str, int] = {}
    for record in records:
        by_family[record["family"]] = by_family.get(record["family"], 0) + 1
    assert set(by_family) == {"esconv", "long-sessions", "edge-cases"}
    # Generated cases are distinct conversations: no exact duplicate, and near duplicates (Jaccard
    # >= 0.8 over word 5-grams) stay under 1% of them (1 of 250 with this seed).
    assert by_family["edge-cases"] >= 0.99 * 250
    removed = pq.read_table(store.root / root / "dedup" / "removed.parquet").to_pylist()
    assert all(r["reason"] == "near" for r in removed if r["removed_family"] == "edge-cases")
    # A derived record and its ESConv parent are one conversation: dedup keeps one of the two
    # (the derived one: its weight is higher), and wherever both survive they share a split.
    split_of = {r["id"]: r["split"] for r in records}
    for record in records:
        for parent in record["provenance"]["parents"]:
            if parent in split_of:
                assert split_of[parent] == record["split"]
    generated_record = next(r for r in records if r["family"] == "edge-cases")
    assert generated_record["provenance"]["generator"]["name"] == "template"
    assert generated_record["provenance"]["license"] == "LicenseRef-pixelgate-generated"
