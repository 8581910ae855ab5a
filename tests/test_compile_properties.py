"""Properties of the whole compile: same input and seed -> the same bytes; a compile killed
mid-way and re-run -> the same bytes as an uninterrupted one; memory bounded by the stated
index, not by the corpus."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pixelgate.workflows.steps.compile as compile_pkg
from pixelgate.workflows.steps.compile import compile_run
from pixelgate.workflows.store import LocalStore
from tests.compile_fixtures import compile_resource, make_record, write_family

VOCAB = [f"w{i}" for i in range(400)]


def corpus(seed: int, n: int) -> list[list[tuple[str, str]]]:
    rng = random.Random(seed)
    base = [
        [
            ("user", " ".join(rng.choices(VOCAB, k=rng.randint(3, 40)))),
            ("assistant", " ".join(rng.choices(VOCAB, k=rng.randint(3, 60)))),
        ]
        for _ in range(n)
    ]
    # a third of them again, lightly edited or verbatim: exact and near duplicates across families
    for conv in rng.sample(base, n // 3):
        base.append([(r, t.replace(VOCAB[0], VOCAB[1]) if rng.random() < 0.5 else t.upper()) for r, t in conv])
    return base


def build(root: Path, seed: int, n: int) -> LocalStore:
    store = LocalStore(root)
    convs = corpus(seed, n)
    half = len(convs) // 2
    write_family(store, "a", [make_record("a", i, c) for i, c in enumerate(convs[:half])], shard_size=37)
    write_family(store, "b", [make_record("b", i, c, tier=1) for i, c in enumerate(convs[half:])], shard_size=53)
    return store


def outputs(store: LocalStore) -> dict[str, bytes]:
    return {k: store.read_bytes(k) for k in store.list("compiles/")}


SPEC = {"split": {"tolerance": 0.5}, "exports": ["jsonl", "parquet"], "shardSize": 40}


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), n=st.integers(20, 120), split_seed=st.integers(0, 1000))
def test_same_input_and_seed_give_identical_bytes(tmp_path_factory, seed, n, split_seed):
    res = compile_resource("det", ["a", "b"], **{**SPEC, "split": {"tolerance": 0.5, "seed": split_seed}})
    first, second = build(tmp_path_factory.mktemp("x"), seed, n), build(tmp_path_factory.mktemp("y"), seed, n)
    r1 = compile_run(res.name, res.spec, first, workers=1)
    r2 = compile_run(res.name, res.spec, second, workers=2)  # the process pool changes nothing
    assert r1 == r2.model_copy(update={k: getattr(r1, k) for k in ("output_uri", "manifest_uri", "report_uri")})
    a, b = outputs(first), outputs(second)
    assert a.keys() == b.keys() and all(a[k] == b[k] for k in a)


class Killed(BaseException):
    """Stands in for SIGKILL: not an Exception, so nothing on the way catches it."""


class Snapshot(dict):
    def __repr__(self) -> str:  # keep hypothesis' failure report readable
        return f"<{len(self)} output files>"


@pytest.fixture(scope="module")
def clean_outputs(tmp_path_factory) -> Snapshot:
    res = compile_resource("kill", ["a", "b"], **SPEC)
    clean = build(tmp_path_factory.mktemp("clean"), 7, 90)
    compile_run(res.name, res.spec, clean, workers=1)
    return Snapshot(outputs(clean))


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    stage=st.sampled_from(["signatures_stage", "buckets_stage", "filter_stage", "merge_stage", "finalize_stage"]),
    after=st.integers(0, 3),
)
def test_rerun_after_a_kill_mid_way_gives_the_same_bytes(tmp_path_factory, clean_outputs, stage, after):
    res = compile_resource("kill", ["a", "b"], **SPEC)
    crashed = build(tmp_path_factory.mktemp("crash"), 7, 90)
    original = getattr(compile_pkg, stage)
    after = (
        after if stage in {"signatures_stage", "buckets_stage", "filter_stage"} else 0
    )  # merge and finalize run once
    calls = {"n": 0}

    def dying(*args, **kwargs):
        if calls["n"] >= after:
            raise Killed(stage)
        calls["n"] += 1
        return original(*args, **kwargs)

    setattr(compile_pkg, stage, dying)
    try:
        with pytest.raises(Killed):
            compile_run(res.name, res.spec, crashed, workers=1)
    finally:
        setattr(compile_pkg, stage, original)
    assert not crashed.exists("compiles/kill/latest.json")  # the pointer is only ever written last
    compile_run(res.name, res.spec, crashed, workers=1)
    a, b = clean_outputs, outputs(crashed)
    assert a.keys() == b.keys() and all(a[k] == b[k] for k in a)


def test_changed_inputs_start_a_clean_compile(tmp_path):
    store = build(tmp_path, 3, 60)
    res = compile_resource("moving", ["a", "b"], **SPEC)
    before = compile_run(res.name, res.spec, store, workers=1)
    write_family(store, "a", [make_record("a", i, c) for i, c in enumerate(corpus(99, 45))], shard_size=37)
    pointer = store.read_json("compiles/moving/latest.json")
    assert pointer["target"].endswith(before.spec_hash)
    after = compile_run(res.name, res.spec, store, workers=1)
    assert after.spec_hash == before.spec_hash and after.records != before.records
    families = {
        f["name"]: f
        for f in json.loads(store.read_bytes(f"compiles/moving/{after.spec_hash}/manifest.json"))["families"]
    }
    assert families["a"]["records_in"] == 60  # 45 + a third again: the new family output, not a stale mix


_MEMORY_PROBE = textwrap.dedent(
    """
    import json, resource, sys
    from pixelgate.workflows.store import LocalStore
    from pixelgate.workflows.steps.compile import compile_run
    from tests.compile_fixtures import compile_resource
    store = LocalStore(sys.argv[1])
    res = compile_resource("mem", ["big"], split={"tolerance": 0.5})
    result = compile_run(res.name, res.spec, store, workers=1)
    print(json.dumps({"rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "records": result.records}))
    """
)


def _peak_rss_mb(root: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, str(root)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parent.parent,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_memory_stays_bounded_as_the_corpus_grows(tmp_path):
    """A corpus of ~120 MB of text compiles within a peak RSS far below its size: only the stated
    index (docs/dedup.md: about 250 bytes per record) grows with it, not the text."""
    rng = random.Random(5)
    words = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(3, 9))) for _ in range(20_000)]

    def family(root: Path, n: int) -> int:
        store = LocalStore(root)
        text_bytes = 0

        def records():
            nonlocal text_bytes
            for i in range(n):
                body = " ".join(rng.choices(words, k=2200))  # ~ 15 kB per record
                text_bytes += len(body)
                yield make_record("big", i, [("user", "please help me with this"), ("assistant", body)])

        write_family(store, "big", records(), shard_size=250)
        return text_bytes

    small_bytes = family(tmp_path / "small", 500)
    big_bytes = family(tmp_path / "big", 8_000)
    small, big = _peak_rss_mb(tmp_path / "small"), _peak_rss_mb(tmp_path / "big")
    assert big["records"] == 8_000 and big_bytes > 110e6
    growth_mb = big["rss_mb"] - small["rss_mb"]
    corpus_mb = (big_bytes - small_bytes) / 1e6
    print(f"peak RSS small {small['rss_mb']:.0f} MB, big {big['rss_mb']:.0f} MB; corpus grew {corpus_mb:.0f} MB")
    assert growth_mb < 0.15 * corpus_mb
