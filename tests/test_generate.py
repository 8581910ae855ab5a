"""Generated families, template generator: the 25-category catalogue, balance at 10k, determinism
(records and stats byte-identical per seed), provenance, the category histogram in stats, and
clear spec errors."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest
from pydantic import ValidationError

from pixelgate.workflows.api.dataset_family import DatasetFamilySpec
from pixelgate.workflows.api.kinds import identity
from pixelgate.workflows.api.meta import spec_hash
from pixelgate.workflows.recordio import iter_records
from pixelgate.workflows.steps.ingest import ingest_family
from pixelgate.workflows.steps.ingest.generate import (
    CATEGORIES,
    CATEGORY_IDS,
    GENERATED_LICENSE,
    generate_conversations,
)
from pixelgate.workflows.steps.ingest.generate.categories import counts_per_category
from pixelgate.workflows.steps.ingest.generate.template import generate_record, load_templates
from pixelgate.workflows.steps.ingest.produced import Conversation
from pixelgate.workflows.store import LocalStore

REQUIRED = {
    "suicidal-ideation-plan",
    "suicidal-ideation-no-plan",
    "self-harm",
    "child-abuse",
    "partner-abuse",
    "elder-abuse",
    "psychosis",
    "substance-crisis",
    "hostility",
    "boundary-testing",
    "diagnosis-request",
    "medication-request",
    "dissociation",
    "eating-disorder",
    "grief",
    "cultural-language-mismatch",
    "minor",
    "third-party-risk",
    "manipulation-jailbreak",
}


def spec(count: int, seed: int = 0, **generate) -> DatasetFamilySpec:
    return DatasetFamilySpec.model_validate(
        {"source": {"generate": {"count": count, "seed": seed, **generate}}, "stage": "edge-stress-test"}
    )


def test_catalogue_has_25_categories_including_the_issue_list() -> None:
    assert len(CATEGORIES) == 25 and len(set(CATEGORY_IDS)) == 25
    assert [c.id for c in CATEGORIES] == list(CATEGORY_IDS)  # the catalogue describes exactly the API's ids, in order
    assert REQUIRED <= set(CATEGORY_IDS)
    for c in CATEGORIES:
        assert c.title and c.description and c.must_contain
        if c.risk == "imminent":
            assert "emergency-services" in c.must_contain, c.id


def test_balance_rule() -> None:
    assert counts_per_category([], 10_000) == {c: 400 for c in CATEGORY_IDS}
    uneven = counts_per_category([], 10_007)
    assert sorted(uneven.values()) == [400] * 18 + [401] * 7 and sum(uneven.values()) == 10_007
    assert counts_per_category(["grief", "minor", "hostility"], 8) == {"grief": 3, "minor": 3, "hostility": 2}


def test_10k_generator_alone_covers_all_25_categories_evenly_and_streams() -> None:
    produced = generate_conversations("edge", spec(10_000))
    assert isinstance(produced.conversations, Iterator)  # a stream, never a list of 10k conversations
    seen: Counter[str] = Counter()
    positions = set()
    for conv in produced.conversations:
        assert isinstance(conv, Conversation)
        category = conv.meta["category"]
        seen[category] += 1
        positions.add(conv.position)
        assert conv.position.startswith(category + "/") and conv.tags == {category: 1.0}
        assert conv.origin is not None and conv.origin.generator["category"] == category
        roles = [r for r, _ in conv.turns]
        assert roles[0] == "user" and roles[-1] == "assistant" and len(roles) % 2 == 0
    assert seen == Counter({c: 400 for c in CATEGORY_IDS})
    assert len(positions) == 10_000
    arcs = {len(generate_record(load_templates().templates, "grief", 0, i)) for i in range(200)}
    assert arcs == {2, 4, 6, 8}  # multi-turn arcs of 1..4 exchanges


def _turns(seed: int, n: int = 50) -> list[list[tuple[str, str]]]:
    return [c.turns for c in generate_conversations("edge", spec(n, seed)).conversations]


def test_records_depend_only_on_seed_category_and_index() -> None:
    assert _turns(3) == _turns(3)
    assert _turns(3) != _turns(4)
    templates = load_templates().templates
    # order-independent: record 7 of a category is the same whether or not others were generated before it
    alone = generate_record(templates, "self-harm", 3, 7)
    assert alone == generate_record(templates, "self-harm", 3, 7)
    in_stream = {c.position: c.turns for c in generate_conversations("edge", spec(250, 3)).conversations}
    assert in_stream["self-harm/7"] == alone
    only_some = {
        c.position: c.turns
        for c in generate_conversations("edge", spec(16, 3, categories=["self-harm", "grief"])).conversations
    }
    assert only_some["self-harm/7"] == alone


def test_variation_within_a_category() -> None:
    texts = {tuple(generate_record(load_templates().templates, "partner-abuse", 0, i)) for i in range(100)}
    assert len(texts) >= 95  # slots, synonyms and arcs vary the conversations


def _ingest(tmp: Path, name: str, s: DatasetFamilySpec, **kw) -> tuple[LocalStore, str]:
    store = LocalStore(tmp / name)
    result = ingest_family("edge", s, store, **kw)
    return store, f"families/edge/{result.spec_hash}"


def test_ingest_is_byte_identical_for_a_seed_and_differs_across_seeds(tmp_path: Path) -> None:
    a, root = _ingest(tmp_path, "a", spec(120, 5), shard_size=50)
    b, root_b = _ingest(tmp_path, "b", spec(120, 5), shard_size=50)
    assert root == root_b
    keys = a.list(f"{root}/records")
    assert len(keys) == 3 and keys == b.list(f"{root}/records")
    for key in [*keys, f"{root}/stats.json", f"{root}/pii_audit.jsonl"]:
        assert a.read_bytes(key) == b.read_bytes(key), key
    c, root_c = _ingest(tmp_path, "c", spec(120, 6), shard_size=50)
    assert root_c != root
    ids_a = {r.id for r in iter_records(a, f"{root}/records")}
    ids_c = {r.id for r in iter_records(c, f"{root_c}/records")}
    texts_a = [r.messages for r in iter_records(a, f"{root}/records")]
    texts_c = [r.messages for r in iter_records(c, f"{root_c}/records")]
    assert not ids_a & ids_c and texts_a != texts_c


def test_provenance_and_stats_histogram(tmp_path: Path) -> None:
    store, root = _ingest(
        tmp_path, "s", spec(60, 11, categories=["grief", "self-harm", "medical-emergency", "hostility"])
    )
    templates_sha = hashlib.sha256(
        resources.files("pixelgate.workflows.steps.ingest.generate").joinpath("data", "templates-v1.yaml").read_bytes()
    ).hexdigest()
    records = list(iter_records(store, f"{root}/records"))
    assert len(records) == 60
    for r in records:
        p, category = r.provenance, r.meta["category"]
        assert p.generator is not None
        assert p.generator.model_dump() == {
            "name": "template",
            "version": "1",
            "seed": 11,
            "category": category,
            "prompt_hash": templates_sha,
            "model": None,
        }
        assert p.license == GENERATED_LICENSE and p.allow_training and p.license_url is None
        assert p.source_uri == "generate://template/v1?seed=11" and p.source_sha256 == templates_sha
        assert p.ingested_at == f"{load_templates().templates.date}T00:00:00Z"
        assert p.stage == "edge-stress-test" and p.parents == []
        assert p.source_record == f"{category}/{p.source_record.split('/')[1]}"
        assert r.tags == {category: 1.0} and r.meta["risk"]
    # the output is named by the family's identity (its spec: a generated family reads no other
    # resource); the templates' hash is recorded in every record's provenance, above
    s = spec(60, 11, categories=["grief", "self-harm", "medical-emergency", "hostility"])
    assert root == f"families/edge/{identity(s)}" == f"families/edge/{spec_hash(s)}"
    stats = store.read_json(f"{root}/stats.json")
    assert stats["categories"] == {"grief": 15, "hostility": 15, "medical-emergency": 15, "self-harm": 15}
    assert stats["sources"] == [{"uri": "generate://template/v1?seed=11", "sha256": templates_sha, "size": None}]
    assert stats["records_out"] == 60 and stats["quarantined"] == {}


def test_file_family_stats_have_no_categories_key(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(
        '{"messages": [{"role": "user", "content": "hi, I feel low"}, {"role": '
        '"assistant", "content": "I hear you."}]}\n'
    )
    s = DatasetFamilySpec.model_validate(
        {
            "source": {"uri": str(src), "format": "jsonl"},
            "mapping": {"turns": {"path": "messages"}},
            "license": {"spdx": "MIT", "allowTraining": True},
            "pii": {"entities": []},
        }
    )
    store, root = _ingest(tmp_path, "f", s)
    assert "categories" not in store.read_json(f"{root}/stats.json")


@pytest.mark.parametrize(
    ("generate", "message"),
    [
        ({"count": 5, "generator": "llm"}, "source.generate.llm: required when source.generate.generator is llm"),
        (
            {"count": 5, "llm": {"url": "http://x/v1", "model": "m"}},
            "source.generate.llm: only with source.generate.generator llm",
        ),
        (
            {"count": 5, "categories": ["grief", "sadness"]},
            "source.generate.categories.1\n  Input should be 'suicidal-ideation-plan',",
        ),
        ({"count": 5, "categories": ["grief", "grief"]}, "['grief'] listed more than once"),
        ({"count": 0}, "count"),
        ({"count": 5, "seed": -1}, "seed"),
    ],
)
def test_bad_generate_specs_fail_with_the_field_named(generate: dict, message: str) -> None:
    with pytest.raises(ValidationError) as err:
        DatasetFamilySpec.model_validate({"source": {"generate": generate}})
    assert message in str(err.value)
    if "Input should be" in message:  # the error lists every valid category
        assert all(c in str(err.value) for c in CATEGORY_IDS)


def test_templates_are_versioned_data_covering_every_category() -> None:
    loaded = load_templates()
    assert set(loaded.templates.categories) == set(CATEGORY_IDS)
    path = resources.files("pixelgate.workflows.steps.ingest.generate").joinpath("data", "templates-v1.yaml")
    assert loaded.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


REPO = Path(__file__).resolve().parent.parent


def test_example_manifest_and_docs_table_cover_the_catalogue() -> None:
    from pixelgate.workflows.api.manifests import load_items

    families = {
        i.resource.name: i.resource.spec
        for i in load_items([str(REPO / "examples" / "generated" / "edge-cases.yaml")])
    }
    assert (
        families["edge-cases"].source.generate.count == 10_000 and families["edge-cases"].stage == "edge-stress-test"
    )
    assert families["edge-cases-llm"].source.generate.llm.api_key.name == "vllm-api-key"
    doc = (REPO / "docs" / "generated-families.md").read_text()
    rows = re.findall(r"^\| \d+ \| `([a-z-]+)` \|", doc, re.MULTILINE)
    assert rows == list(CATEGORY_IDS)
