"""Finding a compile's shards and mixing train records by curriculum weights."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from pixelgate.workflows.steps.train import data
from pixelgate.workflows.store import LocalStore
from tests.train_fixtures import build_compile


@pytest.fixture(scope="module")
def compiled(tmp_path_factory, datasets):
    store = LocalStore(tmp_path_factory.mktemp("store"))
    build_compile(store, datasets)
    return store, data.resolve_compile(store, "stage1")


def test_resolve_finds_manifest_and_shards(compiled):
    store, inputs = compiled
    assert inputs.root == "compiles/stage1/fixture0001"
    assert all(inputs.shards[s] for s in data.SPLITS)
    assert all("/shards/train/" in k for k in inputs.shards["train"])
    assert inputs.family_weights() == {"esconv": 2.0, "counselchat": 1.0}
    records = list(data.iter_records(store, inputs.shards["val"]))
    assert {r.split for r in records} == {"val"} and len(records) == 12


def test_missing_or_incomplete_compile_is_a_clear_error(tmp_path):
    store = LocalStore(tmp_path)
    with pytest.raises(data.TrainingDataError, match="has no output yet"):
        data.resolve_compile(store, "nope")
    store.write_json("compiles/half/latest.json", {"target": "compiles/half/h1"})
    with pytest.raises(data.TrainingDataError, match="no manifest"):
        data.resolve_compile(store, "half")
    store.write_json(
        "compiles/half/h1/manifest.json",
        {
            "shards": [
                {
                    "path": "compiles/half/h1/shards/train/part-00000.jsonl",
                    "split": "train",
                    "sha256": "0",
                    "records": 3,
                    "bytes": 9,
                }
            ]
        },
    )
    with pytest.raises(data.TrainingDataError, match="missing"):
        data.resolve_compile(store, "half")
    store.write_json("compiles/half/h1/manifest.json", {"shards": "nope"})
    with pytest.raises(data.TrainingDataError, match="not a compile manifest"):
        data.resolve_compile(store, "half")


def test_malformed_shard_line_names_its_place(tmp_path):
    store = LocalStore(tmp_path)
    store.write_bytes("x/part-00000.jsonl", b'{"id": "a"}\n')
    with pytest.raises(data.TrainingDataError, match=r"x/part-00000.jsonl:1"):
        list(data.iter_shard_records(store, "x/part-00000.jsonl"))


def draw(store, inputs, curriculum, n=3000, seed=7):
    plan = data.plan_mixture(store, inputs.shards["train"], curriculum, inputs.family_weights())
    stream = data.mixed_stream(store, inputs.shards["train"], plan, curriculum, seed)
    return plan, [r for r in itertools.islice(stream, n)]


def test_default_mixture_follows_family_weights(compiled):
    store, inputs = compiled
    plan, drawn = draw(store, inputs, {})
    assert plan.counts == {"esconv": 24, "counselchat": 24}
    share = Counter(r.family for r in drawn)["esconv"] / len(drawn)
    assert plan.shares()["esconv"] == pytest.approx(2 / 3)
    assert share == pytest.approx(2 / 3, abs=0.03)
    assert {r.split for r in drawn} == {"train"}


def test_tier_weights_and_upsampling(compiled):
    store, inputs = compiled
    plan, drawn = draw(store, inputs, {"tier1": 0.4, "tier2": 0.6})
    assert set(plan.weights) == {"tier1", "tier2"}
    share = Counter(r.provenance.tier for r in drawn)[1] / len(drawn)
    assert share == pytest.approx(0.4, abs=0.03)
    # 3000 draws from 48 records: groups cycle, every record comes back
    assert len({r.id for r in drawn}) == 48


def test_mixture_is_seeded(compiled):
    store, inputs = compiled
    ids = lambda seed: [r.id for r in draw(store, inputs, {}, n=200, seed=seed)[1]]  # noqa: E731
    assert ids(1) == ids(1) != ids(2)


def test_unknown_curriculum_key_is_rejected(compiled):
    store, inputs = compiled
    with pytest.raises(data.TrainingDataError, match="match no family or tier"):
        data.plan_mixture(store, inputs.shards["train"], {"tier3": 1.0}, {})
