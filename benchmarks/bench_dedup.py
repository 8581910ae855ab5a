"""Near-dedup benchmark: pixelgate's compile stages against datasketch on >= 300,000 conversations.

Corpus (see benchmarks/dedup_corpus.py): 250,000 distinct synthetic conversations drawn from the
real ESConv, CounselChat and AnnoMI turns, plus one perturbed copy (typos, casing, whitespace,
sentence reordering or truncation) of 20% of them: 300,000 conversations, 50,000 known duplicate
pairs. Settings for everyone: word 5-gram shingles over the same normalized words, 128
permutations, threshold 0.8. LSH bands/rows: datasketch's optimal parameters (equal
false-positive/false-negative weights: 9x13); ours verifies every candidate by exact Jaccard and
so weights misses 0.9 (14x9), see ``lsh.params_for``.

Measured in one run, on the same data:

* ours, near-dedup end to end on ONE core: the plan, signatures, buckets and merge stages
  (MinHash signatures, LSH band buckets, exact-Jaccard verification, union-find clusters, keep
  selection, removal log), reading the Parquet family output from a local store;
* datasketch ``MinHash.update`` per shingle (the naive path): timed on a seeded subsample of
  ``--naive-sample`` documents and extrapolated per document (it takes ~1 hour on all 300k);
* datasketch ``MinHash.bulk`` (its batch path) on every document, then ``MinHashLSH`` insert and
  query, then the same union-find clustering;
* the whole compile (all stages, 2 worker processes, gates included) in a child process, whose
  peak RSS is reported.

F1 is over pairs: every pair inside a predicted cluster, against a pooled truth: the 50,000
generated pairs plus every pair predicted by either method whose exact Jaccard reaches the
threshold (random conversations can share a long real turn and then really are near duplicates).
The last line is machine-readable (see docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.dedup_corpus import cluster_pairs, corpus_with_duplicates, pair_scores, synthetic_conversations, text_of  # noqa: E402
from pixelgate.workflows import layout  # noqa: E402
from pixelgate.workflows.api import parse_resource  # noqa: E402
from pixelgate.workflows.recordio import write_records  # noqa: E402
from pixelgate.workflows.records import Message, Provenance, Record, content_hash, record_id  # noqa: E402
from pixelgate.workflows.steps.compile import compile_run  # noqa: E402
from pixelgate.workflows.steps.compile.clusters import components  # noqa: E402
from pixelgate.workflows.api.compile_run import NearDedup  # noqa: E402
from pixelgate.workflows.steps.compile.lsh import params_for  # noqa: E402
from pixelgate.workflows.steps.compile.minhash import Shingler, jaccard, normalize_texts  # noqa: E402
from pixelgate.workflows.steps.compile.stages import buckets_stage, merge_stage, plan_stage, signatures_stage  # noqa: E402
from pixelgate.workflows.store import LocalStore, write_pointer  # noqa: E402

THRESHOLD, NUM_PERM, NGRAM = 0.8, 128, 5


def resource_for(name: str, **spec) -> object:
    return parse_resource({"apiVersion": "pixelgate.dev/v1alpha1", "kind": "CompileRun", "metadata": {"name": name},
                           "spec": {"families": {"names": ["bench"]}, **spec}})


def write_family(store: LocalStore, convs: list) -> list[str]:
    ids = []

    def records():
        for i, conv in enumerate(convs):
            msgs = [Message(role=r, content=t) for r, t in conv]
            rid = record_id("bench", str(i))
            ids.append(rid)
            yield Record(id=rid, family="bench", messages=msgs, content_hash=content_hash(msgs), provenance=Provenance(
                family="bench", source_uri="derived://esconv+counselchat+annomi", source_sha256="0" * 64, source_record=str(i),
                license="CC-BY-NC-4.0", allow_training=True, tier=2, stage="foundation", ingested_at="2026-01-01T00:00:00Z",
                pipeline_version="bench", spec_hash="bench"))

    target = layout.family_root("bench", "bench")
    write_records(store, f"{target}/records", records(), 10_000)
    write_pointer(store, layout.family_pointer("bench"), target, spec_hash="bench")
    return ids


def ours_near_dedup(store: LocalStore, ids: list[str]) -> tuple[float, set, object]:
    res = resource_for("near", split={"tolerance": 1.0})
    spec, name, sh = res.spec, res.name, res.spec_hash()
    t0 = time.perf_counter()
    plan = plan_stage(store, name, sh, spec)
    for shard in plan.shards:
        signatures_stage(store, name, sh, spec, shard)
    for band in plan.bands:
        buckets_stage(store, name, sh, spec, band)
    merge = merge_stage(store, name, sh, spec)
    elapsed = time.perf_counter() - t0
    removed = pq.read_table(store.root / layout.compile_root(name, sh) / "dedup" / "removed.parquet")
    index = {rid: i for i, rid in enumerate(ids)}
    edges = np.array([[index[a], index[b]] for a, b in zip(removed.column("removed_id").to_pylist(), removed.column("kept_id").to_pylist())], dtype=np.int64).reshape(-1, 2)
    return elapsed, cluster_pairs(components(len(ids), edges)), merge


def shingle_lists(texts: list[str]) -> list[list[bytes]]:
    """The same word 5-grams as ours (same normalization), as datasketch input."""
    out = []
    for start in range(0, len(texts), 20_000):
        for norm in normalize_texts(texts[start : start + 20_000]).to_pylist():
            w = norm.split()
            out.append([" ".join(w[i : i + NGRAM]).encode() for i in range(max(len(w) - NGRAM + 1, 1))] if w else [])
    return out


def datasketch_naive(shingles: list[list[bytes]], sample: int) -> float:
    from datasketch import MinHash

    picked = random.Random(1).sample(range(len(shingles)), min(sample, len(shingles)))
    t0 = time.perf_counter()
    for i in picked:
        m = MinHash(num_perm=NUM_PERM)
        for s in shingles[i]:
            m.update(s)
    return (time.perf_counter() - t0) / len(picked)


def datasketch_batch(shingles: list[list[bytes]]) -> tuple[float, float, set]:
    """(bulk MinHash seconds, LSH + clustering seconds, predicted pairs)."""
    from datasketch import MinHash, MinHashLSH

    t0 = time.perf_counter()
    sketches = MinHash.bulk(shingles, num_perm=NUM_PERM)
    t1 = time.perf_counter()
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    with lsh.insertion_session() as session:
        for i, m in enumerate(sketches):
            session.insert(i, m, check_duplication=False)
    edges = [(i, j) for i, m in enumerate(sketches) for j in lsh.query(m) if j > i]
    labels = components(len(shingles), np.array(edges, dtype=np.int64).reshape(-1, 2))
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, cluster_pairs(labels)


def _full_compile(store_root: str, queue) -> None:
    store = LocalStore(store_root)
    res = resource_for("full")
    t0 = time.perf_counter()
    result = compile_run(res.name, res.spec, store, workers=2)
    elapsed = time.perf_counter() - t0
    peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    queue.put((elapsed, peak, result.records, result.gates_passed))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", default=str(REPO.parent / "shared" / "datasets"))
    ap.add_argument("--docs", type=int, default=300_000, help="corpus size (base + perturbed copies)")
    ap.add_argument("--naive-sample", type=int, default=2_000, help="documents the naive datasketch path is timed on")
    ap.add_argument("--store", default=None, help="store folder (default: a temporary one)")
    args = ap.parse_args()

    base_n = int(args.docs / 1.2)
    t = time.perf_counter()
    base = synthetic_conversations(Path(args.datasets), base_n, seed=0)
    convs, truth = corpus_with_duplicates(base, share=0.2, seed=0)
    truth_pairs = {(a, b) for a, b, _ in truth}
    texts = [text_of(c) for c in convs]
    print(f"corpus: {len(convs)} conversations, {len(truth_pairs)} true duplicate pairs, {sum(map(len, texts)) / 1e6:.0f} MB text ({time.perf_counter() - t:.0f}s to build)", flush=True)

    with tempfile.TemporaryDirectory(prefix="bench-dedup-", dir=args.store) as tmp:
        store = LocalStore(tmp)
        t = time.perf_counter()
        ids = write_family(store, convs)
        print(f"family written as Parquet ({time.perf_counter() - t:.0f}s, untimed setup)", flush=True)

        ours_s, ours_pairs, merge = ours_near_dedup(store, ids)
        p, r, f1 = pair_scores(ours_pairs, truth_pairs)
        bands, rows = params_for(NearDedup(threshold=THRESHOLD, num_perm=NUM_PERM))
        index_ratio = (bands * 8) / (NUM_PERM * 4)
        print(f"ours near-dedup (1 core): {ours_s:.1f}s = {len(convs) / ours_s:,.0f} docs/s; on generated pairs P={p:.4f} R={r:.4f} F1={f1:.4f}; "
              f"candidates={merge.candidates} verified={merge.verified}; index {bands * 8} B/record = {index_ratio:.2f}x signature bytes ({NUM_PERM * 4} B)", flush=True)

        t = time.perf_counter()
        shingles = shingle_lists(texts)
        print(f"datasketch input shingles built ({time.perf_counter() - t:.0f}s, untimed)", flush=True)
        naive_per_doc = datasketch_naive(shingles, args.naive_sample)
        bulk_s, lsh_s, ds_pairs = datasketch_batch(shingles)
        # pooled truth: random conversations can share a long real turn and be genuine near
        # duplicates; every predicted pair outside the generated ones counts as true when its
        # exact Jaccard reaches the threshold (pairs neither method found stay unknown to both)
        extra = sorted((ours_pairs | ds_pairs) - truth_pairs)
        sets = Shingler(NGRAM).sets([texts[i] for pair in extra for i in pair]) if extra else []
        accidental = {pair for k, pair in enumerate(extra) if jaccard(sets[2 * k], sets[2 * k + 1]) >= THRESHOLD}
        pooled = truth_pairs | accidental
        print(f"pooled truth: {len(truth_pairs)} generated + {len(accidental)} accidental pairs with exact Jaccard >= {THRESHOLD}", flush=True)
        p, r, f1 = pair_scores(ours_pairs, pooled)
        dp, dr, df1 = pair_scores(ds_pairs, pooled)
        print(f"F1 on pooled truth: ours P={p:.4f} R={r:.4f} F1={f1:.4f}; datasketch P={dp:.4f} R={dr:.4f} F1={df1:.4f}", flush=True)
        naive_s = naive_per_doc * len(convs) + lsh_s
        batch_s = bulk_s + lsh_s
        print(f"datasketch naive MinHash.update: {naive_per_doc * 1e3:.3f} ms/doc on a {args.naive_sample}-doc sample -> {naive_s:.0f}s extrapolated (+ measured LSH)", flush=True)
        gp, gr, gf1 = pair_scores(ds_pairs, truth_pairs)
        print(f"datasketch MinHash.bulk {bulk_s:.1f}s + MinHashLSH/clusters {lsh_s:.1f}s = {batch_s:.1f}s = {len(convs) / batch_s:,.0f} docs/s; "
              f"on generated pairs P={gp:.4f} R={gr:.4f} F1={gf1:.4f}", flush=True)
        del shingles

        queue = multiprocessing.get_context("spawn").Queue()
        proc = multiprocessing.get_context("spawn").Process(target=_full_compile, args=(tmp, queue))
        proc.start()
        full_s, peak_mb, records, gates_passed = queue.get()
        proc.join()
        print(f"whole compile (2 workers, gates included): {full_s:.1f}s, {records} records out, gates {gates_passed}, peak RSS {peak_mb:.0f} MB", flush=True)

    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}")
    print(f"ratio_vs_datasketch_naive={naive_s / ours_s:.1f} ratio_vs_datasketch_batch={batch_s / ours_s:.1f} f1={f1:.4f} f1_datasketch={df1:.4f} peak_rss_mb={peak_mb:.0f} compile_300k_s={full_s:.0f}")


if __name__ == "__main__":
    main()
