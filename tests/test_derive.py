"""Derived families end to end on the real datasets: long sessions (> 20 turns) from ESConv and
AnnoMI counted against an independent count of the raw files, provenance, determinism,
re-derivation when a parent changes, tagging (examples/derived/cptsd.yaml), and a compile of a
family with its derived family under the leakage gate.

PII detection is off in the parents and derived families here (``pii.entities: []``) to keep
the suite fast; PII is covered in test_ingest_pii.py.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest

from pixelgate.workflows import layout
from pixelgate.workflows.api.dataset_family import DatasetFamilySpec, Pii
from pixelgate.workflows.api.manifests import load_items
from pixelgate.workflows.api.meta import spec_hash as compute_spec_hash
from pixelgate.workflows.recordio import iter_records
from pixelgate.workflows.records import record_id
from pixelgate.workflows.steps.compile import compile_run
from pixelgate.workflows.steps.ingest import IngestError, ingest_family
from pixelgate.workflows.store import LocalStore
from tests.compile_fixtures import compile_resource, make_record, write_family

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
NO_PII = Pii(entities=[])


def ingest_example(store: LocalStore, path: str, **update):
    [(resource, base_dir)] = [(i.resource, i.base_dir) for i in load_items([str(EXAMPLES / path)])]
    spec = resource.spec.model_copy(update={"pii": NO_PII, **update})
    return ingest_family(resource.name, spec, store, base_dir, labels=resource.metadata.labels)


def derived_spec(**source) -> DatasetFamilySpec:
    return DatasetFamilySpec.model_validate({"source": {"derive": source}, "pii": {"entities": []}})


def records_of(store: LocalStore, family: str):
    return list(iter_records(store, layout.family_records(store.read_json(layout.family_pointer(family))["target"])))


def family_files(store: LocalStore, family: str) -> dict[str, bytes]:
    root = store.read_json(layout.family_pointer(family))["target"]
    return {k: store.read_bytes(k) for k in store.list(root) if not k.endswith("timing.json")}


# ---------------------------------------------------------------- independent counts of the raw files
def esconv_long(datasets: Path, more_than: int = 20) -> int:
    n = 0
    for path in sorted((datasets / "esconv").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                n += sum(1 for t in json.loads(line)["dialog"] if t["text"].strip()) > more_than
    return n


def annomi_long(datasets: Path, more_than: int = 20) -> int:
    utterances: dict[str, dict[str, str]] = {}
    with open(datasets / "annomi" / "AnnoMI-full.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            utterances.setdefault(row["transcript_id"], {})[row["utterance_id"]] = row["utterance_text"]
    return sum(sum(1 for text in turns.values() if text.strip()) > more_than for turns in utterances.values())


@pytest.fixture(scope="module")
def public(tmp_path_factory) -> LocalStore:
    """ESConv and AnnoMI (examples/public) ingested, then examples/derived/long-sessions.yaml derived from them."""
    store = LocalStore(tmp_path_factory.mktemp("derive"))
    ingest_example(store, "public/esconv.yaml")
    ingest_example(store, "public/annomi.yaml")
    ingest_example(store, "derived/long-sessions.yaml")
    return store


def test_long_sessions_match_an_independent_count(public: LocalStore, datasets: Path):
    derived = records_of(public, "long-sessions")
    by_parent = {"esconv": 0, "annomi": 0}
    for rec in derived:
        by_parent[rec.provenance.parents[0].split("-", 1)[0]] += 1
    expected = {"esconv": esconv_long(datasets), "annomi": annomi_long(datasets)}
    assert by_parent == expected and expected["esconv"] > 500 and expected["annomi"] > 50
    assert all(sum(m.role != "system" for m in r.messages) > 20 for r in derived)
    stats = public.read_json(layout.family_stats(public.read_json(layout.family_pointer("long-sessions"))["target"]))
    assert stats["rows_read"] == 1300 + 133 and stats["records_out"] == len(derived)
    assert stats["filtered"] == {"minTurns": 1300 + 133 - len(derived)} and stats["quarantined"] == {}
    assert [s["uri"] for s in stats["sources"]] == [
        public.url(public.read_json(layout.family_pointer(f))["target"]) for f in ("annomi", "esconv")
    ]
    parent_stats = public.read_bytes(layout.family_stats(public.read_json(layout.family_pointer("esconv"))["target"]))
    assert stats["sources"][1]["sha256"] == hashlib.sha256(parent_stats).hexdigest()
    assert "filtered" not in public.read_json(
        layout.family_stats(public.read_json(layout.family_pointer("esconv"))["target"])
    )


def test_derived_records_name_their_parent_and_the_derivation_hash(public: LocalStore):
    parents = {r.id: r for f in ("esconv", "annomi") for r in records_of(public, f)}
    pointer = public.read_json(layout.family_pointer("long-sessions"))
    [(resource, _)] = [
        (i.resource, i.base_dir) for i in load_items([str(EXAMPLES / "derived" / "long-sessions.yaml")])
    ]
    own_hash = compute_spec_hash(resource.spec.model_copy(update={"pii": NO_PII}))
    assert pointer["spec_hash"] != own_hash and pointer["target"] == layout.family_root(
        "long-sessions", pointer["spec_hash"]
    )
    assert pointer["labels"] == {"pixelgate.dev/example": "derived"}
    for rec in records_of(public, "long-sessions"):
        [pid] = rec.provenance.parents
        parent = parents[pid]
        assert rec.provenance.spec_hash == pointer["spec_hash"] and rec.family == "long-sessions"
        assert rec.id == record_id("long-sessions", f"{parent.family}#{pid}") and rec.provenance.source_record == pid
        assert rec.messages == parent.messages and rec.content_hash == parent.content_hash and rec.meta == parent.meta
        assert (
            rec.provenance.source_uri,
            rec.provenance.source_sha256,
            rec.provenance.license,
            rec.provenance.allow_training,
            rec.provenance.ingested_at,
        ) == (
            parent.provenance.source_uri,
            parent.provenance.source_sha256,
            parent.provenance.license,
            parent.provenance.allow_training,
            parent.provenance.ingested_at,
        )
        assert rec.provenance.stage == "therapeutic-expertise"


def test_rederive_is_deterministic_and_a_parent_change_gives_a_new_hash(public: LocalStore, tmp_path: Path):
    store = LocalStore(tmp_path)
    ingest_example(store, "public/annomi.yaml")
    spec = derived_spec(**{"from": {"names": ["annomi"]}, "where": {"minTurns": 21, "maxTurns": 200}})
    first = ingest_family("annomi-long", spec, store)
    files = family_files(store, "annomi-long")
    again = ingest_family("annomi-long", spec, store)
    assert again.spec_hash == first.spec_hash and family_files(store, "annomi-long") == files
    # same spec, same parents in another store: same bytes
    assert {k: v for k, v in family_files(public, "annomi").items()} == family_files(store, "annomi")
    # the parent changes (a new spec: another tier), so the derivation gets a new hash and output
    ingest_example(store, "public/annomi.yaml", tier=3)
    changed = ingest_family("annomi-long", spec, store)
    assert changed.spec_hash != first.spec_hash and changed.records_out == first.records_out
    assert {r.provenance.spec_hash for r in records_of(store, "annomi-long")} == {changed.spec_hash}
    assert store.exists(
        layout.family_stats(layout.family_root("annomi-long", first.spec_hash))
    )  # the old output stays


def test_filters_on_real_records_and_errors_naming_the_field(public: LocalStore, tmp_path: Path):
    spec = derived_spec(
        **{
            "from": {"names": ["annomi"]},
            "where": {"minQuality": 0.0, "text": [{"role": "user", "lexicon": "substance-use@1", "minHits": 3}]},
        }
    )
    result = ingest_family("annomi-substance", spec, public)
    stats = public.read_json(
        layout.family_stats(public.read_json(layout.family_pointer("annomi-substance"))["target"])
    )
    assert 0 < result.records_out < 133 and stats["filtered"] == {"text[0]": 133 - result.records_out}
    with pytest.raises(IngestError, match=r"^source.derive.from.names: parent family ghost has no output"):
        ingest_family("x", derived_spec(**{"from": {"names": ["annomi", "ghost"]}}), public)
    with pytest.raises(IngestError, match=r"^source.derive.tag.model: "):
        ingest_family(
            "x",
            derived_spec(**{"from": {"names": ["annomi"]}, "tag": {"tags": ["cptsd"], "strategy": "embedding"}}),
            public,
        )
    with pytest.raises(IngestError, match=r"^source.derive.where.text\[0\].regex: "):
        ingest_family(
            "x", derived_spec(**{"from": {"names": ["annomi"]}, "where": {"text": [{"regex": "(("}]}}), public
        )
    assert not public.exists(layout.family_pointer("x"))


def test_cptsd_example_tags_esconv(datasets: Path, tmp_path: Path):
    """examples/derived/cptsd.yaml over an ESConv slice (its test split): the tagged conversations
    are exactly those whose parents the tagger scores at >= 0.5 for cptsd, with all four tags."""
    store = LocalStore(tmp_path)
    [(resource, base_dir)] = [(i.resource, i.base_dir) for i in load_items([str(EXAMPLES / "public" / "esconv.yaml")])]
    source = resource.spec.source.model_copy(update={"uri": "../../../shared/datasets/esconv/test.jsonl"})
    ingest_family(
        "esconv",
        resource.spec.model_copy(update={"source": source, "pii": NO_PII}),
        store,
        base_dir,
        labels=resource.metadata.labels,
    )
    result = ingest_example(store, "derived/cptsd.yaml")
    tagged = records_of(store, "cptsd")
    assert result.records_out == len(tagged) >= 1
    assert all(r.tags["cptsd"] >= 0.5 and set(r.tags) <= {"cptsd", "crisis", "grief", "substance-use"} for r in tagged)
    # ESConv test.jsonl line 12 talks about childhood trauma and flashbacks (see docs/derived-families.md)
    line12 = record_id("esconv", "test.jsonl#line:12")
    assert line12 in {r.provenance.parents[0] for r in tagged}
    stats = store.read_json(layout.family_stats(store.read_json(layout.family_pointer("cptsd"))["target"]))
    assert stats["filtered"] == {"tags": 195 - len(tagged)}


def _splits(store: LocalStore, result) -> tuple[dict[str, str], dict[str, str]]:
    split_of, parent_of = {}, {}
    for line in store.read_bytes(
        f"{layout.compile_root(result_name(result), result.spec_hash)}/compiled/final_training_dataset.jsonl"
    ).splitlines():
        rec = json.loads(line)
        split_of[rec["id"]] = rec["split"]
        if rec["provenance"]["parents"]:
            parent_of[rec["id"]] = rec["provenance"]["parents"][0]
    return split_of, parent_of


def result_name(result) -> str:
    return result.output_uri.rstrip("/").split("/")[-2]


def test_compile_keeps_each_derived_record_with_its_parent(tmp_path: Path):
    """Children whose text differs from their parents (so no duplicate edge links them) still
    share their parent's split, through the lineage edge alone; the leakage gate, which checks
    lineage too, is green; the process-pool path writes the same bytes as one process."""
    outputs = []
    for workers in (1, 2):
        store = LocalStore(tmp_path / f"w{workers}")
        parents = [
            make_record(
                "base",
                i,
                [
                    ("user", f"Case {i}: I cannot sleep before exams, number {i} of a long list of worries."),
                    ("assistant", f"Reply {i}: try a short routine before bed and write the worries down, item {i}."),
                ],
            )
            for i in range(120)
        ]
        children = []
        for i, parent in enumerate(parents):
            child = make_record(
                "kid",
                i,
                [
                    ("user", f"Kid {i}: gardening tomatoes and basil in a small balcony pot, variant {i * 7919}."),
                    (
                        "assistant",
                        f"Answer {i}: water early in the morning and keep the soil loose, note {i * 104729}.",
                    ),
                ],
            )
            children.append(
                child.model_copy(update={"provenance": child.provenance.model_copy(update={"parents": [parent.id]})})
            )
        write_family(store, "base", parents, shard_size=50)
        write_family(store, "kid", children, shard_size=40)
        res = compile_resource("mix", ["base", "kid"], split={"tolerance": 0.2})
        result = compile_run(res.name, res.spec, store, workers=workers)
        assert result.passed and result.gates_passed == "8/8", result.gates
        assert result.records == 240 and result.duplicate_rate == 0.0  # no duplicate edge between parent and child
        split_of, parent_of = _splits(store, result)
        assert len(parent_of) == 120 and all(split_of[c] == split_of[p] for c, p in parent_of.items())
        assert (
            len({split_of[p] for p in parent_of.values()}) == 3
        )  # the pairs spread over all splits, each pair together
        outputs.append({k: store.read_bytes(k) for k in store.list("compiles/")})
    assert outputs[0].keys() == outputs[1].keys() and all(outputs[0][k] == outputs[1][k] for k in outputs[0])


def test_compile_of_a_real_family_and_its_derived_family(tmp_path: Path):
    """ESConv (valid split) and a tagged long-session family derived from it: the children are
    exact copies of their parents' messages, so dedup keeps one of each pair (the derived one: its
    weight is higher), the parent keeps its short sessions, and every gate is green."""
    store = LocalStore(tmp_path)
    [(resource, base_dir)] = [(i.resource, i.base_dir) for i in load_items([str(EXAMPLES / "public" / "esconv.yaml")])]
    source = resource.spec.source.model_copy(update={"uri": "../../../shared/datasets/esconv/valid.jsonl"})
    structured = Pii(
        entities=["PHONE_NUMBER", "EMAIL_ADDRESS", "URL"]
    )  # regex-only, fast; the compile's PII gate scans for these
    ingest_family("esconv", resource.spec.model_copy(update={"source": source, "pii": structured}), store, base_dir)
    spec = derived_spec(
        **{
            "from": {"names": ["esconv"]},
            "where": {"minTurns": 25},
            "tag": {"tags": ["grief", "substance-use"], "minConfidence": 0.3},
        }
    )
    derived = ingest_family("tagged", spec.model_copy(update={"weight": 2.0}), store)
    res = compile_resource("mix", ["esconv", "tagged"], split={"tolerance": 0.1})
    result = compile_run(res.name, res.spec, store, workers=1)
    assert result.passed and result.gates_passed == "8/8", result.gates
    manifest = store.read_json(f"{layout.compile_root('mix', result.spec_hash)}/manifest.json")
    fams = {f["name"]: f for f in manifest["families"]}
    assert 0 < derived.records_out < 195 and result.records == 195
    assert (
        fams["esconv"]["removed_exact"] == derived.records_out and fams["tagged"]["records_out"] == derived.records_out
    )
