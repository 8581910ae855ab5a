"""The compile's array code: shingling, MinHash estimates, LSH parameters and buckets,
components and keep order, split assignment, drift measures."""

from __future__ import annotations

import random

import numpy as np
from datasketch.lsh import _optimal_param
from hypothesis import given, settings
from hypothesis import strategies as st

from pixelgate.workflows.steps.compile import drift, split
from pixelgate.workflows.steps.compile.clusters import components, keep_order, keepers
from pixelgate.workflows.steps.compile.lsh import bucket_pairs, optimal_params
from pixelgate.workflows.steps.compile.minhash import (
    EMPTY,
    MinHasher,
    Shingler,
    estimate_jaccard,
    jaccard,
    normalize_texts,
)

words = st.text(alphabet="abcdefghij", min_size=1, max_size=6)
docs = st.lists(words, min_size=0, max_size=30).map(lambda ws: " ".join(ws))


@settings(max_examples=60, deadline=None)
@given(st.lists(docs, min_size=1, max_size=8), st.integers(1, 6))
def test_shingle_sets_match_a_plain_python_reference(texts, n):
    sets = Shingler(n).sets(texts)
    for text, got in zip(texts, sets):
        w = text.split()
        ref = {tuple(w[i : i + n]) for i in range(max(len(w) - n + 1, 1))} if w else set()
        assert len(got) == len(ref)
    # equal shingle sets hash equally, whatever the document they sit in
    for i, a in enumerate(texts):
        for j, b in enumerate(texts):
            if a.split() == b.split():
                assert np.array_equal(sets[i], sets[j])


def test_normalization_folds_case_punctuation_and_unicode_space():
    norm = normalize_texts(["Hello,\u00a0WORLD!  It\u2019s  fine", "hello world it s fine"]).to_pylist()
    assert norm[0].split() == norm[1].split()


def test_signature_agreement_estimates_jaccard_without_bias():
    rng = random.Random(3)
    vocab = [f"w{i}" for i in range(5000)]
    texts = []
    for _ in range(1500):
        base = [rng.choice(vocab) for _ in range(rng.randint(20, 300))]
        copy = [rng.choice(vocab) if rng.random() < rng.random() * 0.3 else w for w in base]
        texts += [" ".join(base), " ".join(copy)]
    hasher = MinHasher(128)
    sig = hasher.signatures(texts)
    sets = hasher.shingler.sets(texts)
    exact = np.array([jaccard(sets[i], sets[i + 1]) for i in range(0, len(texts), 2)])
    err = estimate_jaccard(sig[0::2], sig[1::2]) - exact
    assert abs(err.mean()) < 0.005
    assert err.std() < 0.05  # ~ sqrt(J(1-J)/128)
    assert not (sig == EMPTY).any()


def test_short_and_empty_documents():
    sig = MinHasher(64).signatures(["one", "one", "", "two words"])
    assert np.array_equal(sig[0], sig[1])
    assert (sig[2] == EMPTY).all()
    assert estimate_jaccard(sig[0], sig[3]) < 0.2


def test_optimal_params_match_datasketch():
    for threshold in (0.3, 0.5, 0.7, 0.8, 0.85, 0.9, 0.95):
        for num_perm in (64, 128, 256):
            assert optimal_params(threshold, num_perm) == _optimal_param(threshold, num_perm, 0.5, 0.5)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=0, max_size=80))
def test_bucket_pairs_connect_exactly_the_records_sharing_a_hash(hashes):
    h = np.array(hashes, dtype=np.uint64)
    ids = np.arange(len(h)) * 3 + 1
    pairs = bucket_pairs(h, ids, window=2)
    assert all(h[(a - 1) // 3] == h[(b - 1) // 3] and a < b for a, b in pairs.tolist())
    labels = components(len(h), (pairs - 1) // 3)
    for i in range(len(h)):
        for j in range(len(h)):
            assert (labels[i] == labels[j]) == (h[i] == h[j])


@settings(max_examples=80, deadline=None)
@given(
    st.integers(1, 40).flatmap(
        lambda n: st.tuples(st.just(n), st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=60))
    )
)
def test_components_match_a_python_union_find(case):
    n, edges = case
    parent = list(range(n))

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        parent[max(ra, rb)] = min(ra, rb)
    labels = components(n, np.array(edges, dtype=np.int64).reshape(-1, 2))
    assert labels.tolist() == [min(j for j in range(n) if find(j) == find(i)) for i in range(n)]


def test_keep_strategies():
    labels = np.array([0, 0, 0, 3])
    tier = np.array([2, 1, 1, 2])
    weight = np.array([1.0, 1.0, 2.0, 1.0])
    length = np.array([10, 50, 20, 5])
    quality = np.array([0.9, 0.1, 0.5, 0.2])
    assert keepers(labels, keep_order("priority_order", tier, weight, length, quality)).tolist() == [2, 2, 2, 3]
    assert keepers(labels, keep_order("longest", tier, weight, length, quality)).tolist() == [1, 1, 1, 3]
    assert keepers(labels, keep_order("highest_quality", tier, weight, length, quality)).tolist() == [0, 0, 0, 3]
    # ties fall to the earliest record
    assert keepers(labels, keep_order("longest", tier, weight, np.array([7, 7, 7, 1]), quality)).tolist() == [
        0,
        0,
        0,
        3,
    ]


def test_split_assignment_is_stable_grouped_and_proportional():
    rng = np.random.default_rng(0)
    keys = rng.integers(0, 2**63, 200_000).astype(np.uint64)
    codes = split.assign(keys, 42, 0.9, 0.05)
    shares = np.bincount(codes, minlength=3) / len(codes)
    assert np.allclose(shares, [0.9, 0.05, 0.05], atol=0.005)
    assert np.array_equal(codes, split.assign(keys, 42, 0.9, 0.05))
    assert not np.array_equal(codes, split.assign(keys, 43, 0.9, 0.05))
    labels = np.array([0, 0, 2, 2, 4])
    reps = split.group_representatives(labels, np.array([9, 3, 5, 8, 1], dtype=np.uint64))
    assert reps.tolist() == [3, 3, 5, 5, 1]
    forced = split.force_holdout(labels, np.array([False, False, False, True, False]), np.zeros(5, np.int8))
    assert forced.tolist() == [0, 0, 2, 2, 0]


def test_psi_and_js_distance():
    same = drift.psi([10, 20, 30], [10, 20, 30]), drift.js_distance([10, 20, 30], [10, 20, 30])
    assert same[0] < 1e-9 and same[1] < 1e-6
    assert drift.js_distance([1, 0], [0, 1]) > 0.99
    # PSI of a known shift: p=(.5,.5) vs q=(.25,.75): (.25)ln2 + (-.25)ln(2/3)
    assert abs(drift.psi([50, 50], [25, 75]) - (0.25 * np.log(2) - 0.25 * np.log(2 / 3))) < 1e-3


def test_arrow_word_split_of_normalized_text_matches_python_split():
    # regression: the folded buffer once lacked Arrow's padding and the last word picked up stray bytes
    import pyarrow.compute as pc

    texts = [f"Reply {i}: breathe slowly, noting worries." for i in range(300)]
    norm = normalize_texts(texts)
    arrow_words = set(pc.utf8_split_whitespace(norm).flatten().unique().to_pylist()) - {""}
    assert arrow_words == {w for t in norm.to_pylist() for w in t.split()}


def test_text_batches_bound_records_and_bytes():
    import pyarrow as pa

    from pixelgate.workflows.steps.compile.minhash import text_batches

    texts = pa.array(["a" * 10] * 5 + ["b" * 100, None])
    batches = text_batches(texts, max_records=3, max_bytes=25)
    assert [(b.start, b.stop) for b in batches] == [
        (0, 2),
        (2, 4),
        (4, 5),
        (5, 6),
        (6, 7),
    ]  # a long record gets its own batch


def test_recall_first_lsh_params_keep_misses_at_the_threshold_rare():
    """With verification, a pair at the threshold is (almost) never missed: a missed near twin
    could land in another split, which the leakage gate's independent re-check would then find."""
    from pixelgate.workflows.steps.compile.lsh import MAX_MISS_AT_THRESHOLD, recall_params

    for threshold in (0.7, 0.8, 0.9):
        for num_perm in (64, 128, 256):
            bands, rows = recall_params(threshold, num_perm)
            assert bands * rows <= num_perm
            miss = (1 - threshold**rows) ** bands
            assert miss <= MAX_MISS_AT_THRESHOLD, (threshold, num_perm, bands, rows)
            # one more row per band (fewer false candidates) would break the recall floor
            more_rows_bands = num_perm // (rows + 1)
            assert (1 - threshold ** (rows + 1)) ** more_rows_bands > MAX_MISS_AT_THRESHOLD
    # at the default (0.8, 128) dissimilar pairs stay cheap: few collide below 0.3
    bands, rows = recall_params(0.8, 128)
    assert 1 - (1 - 0.3**rows) ** bands < 0.1


def test_a_batch_with_fewer_tokens_than_the_shingle_size():
    """Found by hypothesis: a batch whose texts hold fewer than ``ngram`` tokens in all."""
    from pixelgate.workflows.steps.compile.minhash import Shingler

    sets = Shingler(6).sets(["a a a a"])
    assert len(sets) == 1 and len(sets[0]) == 1  # one shingle of all its tokens


def test_signature_files_have_the_same_bytes_whatever_writes_them(monkeypatch):
    """The signatures stage's .npz depends on the arrays only: not on the clock, and not on how the
    running Python streams zip members (np.savez's force_zip64 headers differ between releases).
    np.load reads it as it reads np.savez's."""
    import io
    import time
    import zipfile

    from pixelgate.workflows.steps.compile.stages import write_npz

    arrays = {"exact": np.arange(5, dtype=np.uint64), "shingled": np.array([True, False]), "id": np.array(["a", "b"])}

    def written(clock: float) -> bytes:
        monkeypatch.setattr(time, "time", lambda: clock)
        buf = io.BytesIO()
        write_npz(buf, arrays)
        return buf.getvalue()

    first = written(1_700_000_000.0)
    assert first == written(1_800_000_000.0)
    with zipfile.ZipFile(io.BytesIO(first)) as zf:
        for info in zf.infolist():
            # no zip64 extra field or 0xFFFFFFFF size placeholders: the header holds the real sizes
            assert info.extra == b"" and info.date_time == (1980, 1, 1, 0, 0, 0), info
    with np.load(io.BytesIO(first)) as npz:
        assert list(npz.files) == list(arrays)
        for name, array in arrays.items():
            np.testing.assert_array_equal(npz[name], array)
