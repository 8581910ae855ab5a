"""Near-dedup benchmark: pixelgate's compile stages against datasketch on >= 300,000 conversations.

Corpus (see benchmarks/dedup_corpus.py): 250,000 distinct synthetic conversations drawn from the
real ESConv, CounselChat and AnnoMI turns, plus one perturbed copy (typos, casing, whitespace,
sentence reordering or truncation) of 20% of them: 300,000 conversations, 50,000 known duplicate
pairs. Settings for everyone: word 5-gram shingles over the same normalized words, 128
permutations, threshold 0.8. LSH bands/rows: datasketch's optimal parameters (equal
false-positive/false-negative weights: 9x13); ours verifies every candidate by exact Jaccard and
so chooses recall first (24x5: a pair at exactly 0.8 is missed with probability 7e-5), see ``lsh.params_for``.

Measured in one run, on the same data:

* ours, near-dedup end to end on ONE core: the plan, signatures, buckets and merge stages
  (MinHash signatures, LSH band buckets, exact-Jaccard verification, union-find clusters, keep
  selection, removal log), reading the Parquet family output from a local store;
* datasketch ``MinHash.update`` per shingle (the naive path): timed on a seeded subsample of
  ``--naive-sample`` documents and extrapolated per document (it takes ~1 hour on all 300k);
* datasketch ``MinHash.bulk`` (its batch path) on every document, then ``MinHashLSH`` insert and
  query, then the same union-find clustering;
* datatrove's own MinHash pipeline (signature, buckets, cluster, filter; see
  benchmarks/bench_datatrove.py), in a subprocess of a separate virtual environment
  (``tools/bench_venv.sh``; datatrove is not a project dependency), with ``--datatrove-workers``;
* the whole compile (all stages, 2 worker processes, gates included) in a child process, whose
  peak RSS and per-stage times are reported.

Setup is cached: the corpus, its Parquet family and datatrove's JSONL input are built once into
``--cache`` (default ``~/.cache/pixelgate/bench/dedup-<key>``, the key hashing the corpus
parameters, the seed and the code that builds them) and reused by later runs; setup time is
reported apart from every measured time. Each run works on a hard-linked copy of the cached
store in a temporary folder, so the cache is never written to by a measured step.

F1 is over pairs: every pair inside a predicted cluster, against a pooled truth: the 50,000
generated pairs plus every pair predicted by any method whose exact Jaccard reaches the
threshold (random conversations can share a long real turn and then really are near duplicates).
The last line is machine-readable (see docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import multiprocessing
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks import dedup_corpus  # noqa: E402
from benchmarks.dedup_corpus import (  # noqa: E402
    cluster_pairs,
    corpus_with_duplicates,
    pair_scores,
    synthetic_conversations,
    text_of,
)
from pixelgate.workflows import layout, recordio, records  # noqa: E402
from pixelgate.workflows.api import parse_resource  # noqa: E402
from pixelgate.workflows.api.compile_run import NearDedup  # noqa: E402
from pixelgate.workflows.recordio import write_records  # noqa: E402
from pixelgate.workflows.records import Message, Provenance, Record, content_hash, record_id  # noqa: E402
from pixelgate.workflows.steps.compile import compile_run  # noqa: E402
from pixelgate.workflows.steps.compile.clusters import components  # noqa: E402
from pixelgate.workflows.steps.compile.lsh import optimal_params, params_for  # noqa: E402
from pixelgate.workflows.steps.compile.minhash import Shingler, jaccard, normalize_texts  # noqa: E402
from pixelgate.workflows.steps.compile.stages import buckets_stage, merge_stage, plan_stage, signatures_stage  # noqa: E402
from pixelgate.workflows.store import LocalStore, write_pointer  # noqa: E402

THRESHOLD, NUM_PERM, NGRAM, SHARE, SEED = 0.8, 128, 5, 0.2, 0
CHUNK = 20_000  # documents shingled at once for datasketch (its input lists are never all in memory)
DATATROVE_FILES = 2  # JSONL input files: one per datatrove task at 2 workers


def resource_for(name: str, **spec) -> object:
    return parse_resource(
        {
            "apiVersion": "pixelgate.dev/v1alpha1",
            "kind": "CompileRun",
            "metadata": {"name": name},
            "spec": {"families": {"names": ["bench"]}, **spec},
        }
    )


def write_family(store: LocalStore, convs: list) -> None:
    def rows():
        for i, conv in enumerate(convs):
            msgs = [Message(role=r, content=t) for r, t in conv]
            yield Record(
                id=record_id("bench", str(i)),
                family="bench",
                messages=msgs,
                content_hash=content_hash(msgs),
                provenance=Provenance(
                    family="bench",
                    source_uri="derived://esconv+counselchat+annomi",
                    source_sha256="0" * 64,
                    source_record=str(i),
                    license="CC-BY-NC-4.0",
                    allow_training=True,
                    tier=2,
                    stage="foundation",
                    ingested_at="2026-01-01T00:00:00Z",
                    pipeline_version="bench",
                    spec_hash="bench",
                ),
            )

    target = layout.family_root("bench", "bench")
    write_records(store, f"{target}/records", rows(), 10_000)
    write_pointer(store, layout.family_pointer("bench"), target, spec_hash="bench")


# ---------------------------------------------------------------- cached setup
def cache_key(docs: int) -> str:
    """Corpus parameters, seed, and the code that builds the corpus and its family output."""
    h = hashlib.sha256(json.dumps({"docs": docs, "share": SHARE, "seed": SEED, "files": DATATROVE_FILES}).encode())
    for module in (dedup_corpus, records, recordio):
        h.update(Path(module.__file__).read_bytes())
    for fn in (write_family, build_cache):
        h.update(inspect.getsource(fn).encode())
    return h.hexdigest()[:16]


def build_cache(folder: Path, datasets: Path, docs: int) -> dict:
    """Corpus texts, truth pairs, the Parquet family and datatrove's JSONL input, built into a
    temporary folder and renamed into place (a killed build leaves no half cache)."""
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    seconds = {}
    t = time.perf_counter()
    base = synthetic_conversations(datasets, int(docs / (1 + SHARE)), seed=SEED)
    convs, truth = corpus_with_duplicates(base, share=SHARE, seed=SEED)
    texts = [text_of(c) for c in convs]
    pq.write_table(pa.table({"text": pa.array(texts, pa.large_string())}), tmp / "texts.parquet")
    np.save(tmp / "truth.npy", np.array([(a, b) for a, b, _ in truth], dtype=np.int64).reshape(-1, 2))
    seconds["corpus"] = time.perf_counter() - t
    t = time.perf_counter()
    write_family(LocalStore(tmp / "store"), convs)
    seconds["family_parquet"] = time.perf_counter() - t
    t = time.perf_counter()
    (tmp / "datatrove-input").mkdir()
    for k in range(DATATROVE_FILES):
        with open(tmp / "datatrove-input" / f"part-{k}.jsonl", "w", encoding="utf-8") as fh:
            fh.writelines(
                json.dumps({"id": str(i), "text": texts[i]}) + "\n" for i in range(k, len(texts), DATATROVE_FILES)
            )
    seconds["datatrove_jsonl"] = time.perf_counter() - t
    meta = {
        "docs": len(texts),
        "truth_pairs": len(truth),
        "text_mb": sum(map(len, texts)) / 1e6,
        "setup_seconds": seconds,
    }
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    os.replace(tmp, folder) if not folder.exists() else shutil.rmtree(tmp)
    return meta


def load_corpus(folder: Path) -> tuple[list[str], set[tuple[int, int]]]:
    texts = pq.read_table(folder / "texts.parquet").column("text").to_pylist()
    return texts, {(int(a), int(b)) for a, b in np.load(folder / "truth.npy")}


# ---------------------------------------------------------------- measured paths
def ours_near_dedup(store: LocalStore, n: int) -> tuple[float, set, object]:
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
    index = {record_id("bench", str(i)): i for i in range(n)}
    edges = np.array(
        [
            [index[a], index[b]]
            for a, b in zip(removed.column("removed_id").to_pylist(), removed.column("kept_id").to_pylist())
        ],
        dtype=np.int64,
    ).reshape(-1, 2)
    return elapsed, cluster_pairs(components(n, edges)), merge


def shingle_lists(texts: list[str]) -> list[list[bytes]]:
    """The same word 5-grams as ours (same normalization), as datasketch input."""
    out = []
    for norm in normalize_texts(texts).to_pylist():
        w = norm.split()
        out.append(
            [" ".join(g).encode() for g in zip(*(w[j:] for j in range(NGRAM)))]
            if len(w) >= NGRAM
            else ([" ".join(w).encode()] if w else [])
        )
    return out


def datasketch_naive(texts: list[str], sample: int) -> float:
    from datasketch import MinHash

    picked = random.Random(1).sample(range(len(texts)), min(sample, len(texts)))
    shingles = shingle_lists([texts[i] for i in picked])
    t0 = time.perf_counter()
    for doc in shingles:
        m = MinHash(num_perm=NUM_PERM)
        for s in doc:
            m.update(s)
    return (time.perf_counter() - t0) / len(picked)


def datasketch_batch(texts: list[str]) -> tuple[float, float, float, set]:
    """(untimed shingling seconds, bulk MinHash seconds, LSH + clustering seconds, predicted pairs);
    shingle lists are built (untimed) and hashed chunk by chunk."""
    from datasketch import MinHash, MinHashLSH

    build = bulk = 0.0
    sketches = []
    for start in range(0, len(texts), CHUNK):
        t0 = time.perf_counter()
        shingles = shingle_lists(texts[start : start + CHUNK])
        t1 = time.perf_counter()
        sketches.extend(MinHash.bulk(shingles, num_perm=NUM_PERM))
        bulk += time.perf_counter() - t1
        build += t1 - t0
    t1 = time.perf_counter()
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    with lsh.insertion_session() as session:
        for i, m in enumerate(sketches):
            session.insert(i, m, check_duplication=False)
    edges = [(i, j) for i, m in enumerate(sketches) for j in lsh.query(m) if j > i]
    labels = components(len(texts), np.array(edges, dtype=np.int64).reshape(-1, 2))
    return build, bulk, time.perf_counter() - t1, cluster_pairs(labels)


def datatrove_run(venv: Path, input_dir: Path, work: Path, workers: int) -> tuple[dict, set] | str:
    """datatrove's pipeline in its own venv; (stage seconds, predicted pairs) or why it did not run."""
    python = venv / "bin" / "python"
    if not python.exists():
        made = subprocess.run(
            ["bash", str(REPO / "tools" / "bench_venv.sh"), str(venv)], capture_output=True, text=True
        )
        if made.returncode:
            return f"no datatrove venv ({made.stderr.strip().splitlines()[-1:] or made.returncode})"
    bands, rows = optimal_params(THRESHOLD, NUM_PERM)  # datasketch's choice: no verification, like datatrove
    cmd = [
        str(python),
        str(REPO / "benchmarks" / "bench_datatrove.py"),
        "--input",
        str(input_dir),
        "--work",
        str(work),
        "--workers",
        str(workers),
        "--bands",
        str(bands),
        "--rows",
        str(rows),
    ]
    # run outside the repo: its worker processes must not import the repo's `operator` package as the stdlib's
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=work.parent)
    if done.returncode:
        return f"datatrove failed: {done.stderr.strip().splitlines()[-1:]}"
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return out, {(a, b) for members in out["clusters"] for x, a in enumerate(members) for b in members[x + 1 :]}


def _tree_rss_mb(root: int) -> float:
    """Resident MB of ``root`` and all its descendants, from /proc."""
    parent, rss = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            status = (entry / "status").read_text()
        except OSError:
            continue
        parent[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        rss[int(entry.name)] = next(
            (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0
        )
    tree, frontier = {root}, [root]
    while frontier:
        kids = [p for p, pp in parent.items() if pp in frontier and p not in tree]
        tree.update(kids)
        frontier = kids
    return sum(rss.get(p, 0) for p in tree) / 1024


def _full_compile(store_root: str, queue) -> None:
    """The whole compile; peak memory is the largest sum of RSS over this process and its pool
    workers, sampled every 0.2 s (``ru_maxrss`` would also count the parent's pages a spawned
    child had before its exec)."""
    store = LocalStore(store_root)
    res = resource_for("full")
    timings: dict[str, float] = {}
    peak, done = [0.0], threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            peak[0] = max(peak[0], _tree_rss_mb(os.getpid()))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    result = compile_run(res.name, res.spec, store, workers=2, timings=timings)
    elapsed = time.perf_counter() - t0
    done.set()
    sampler.join()
    peak = max(peak[0], _tree_rss_mb(os.getpid()))
    failed = "; ".join(f"{g.name}: {g.observed}" for g in result.gates if not g.passed)
    queue.put(
        (elapsed, peak, result.records, result.gates_passed + (f" (failed: {failed})" if failed else ""), timings)
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", default=str(REPO.parent / "shared" / "datasets"))
    ap.add_argument("--docs", type=int, default=300_000, help="corpus size (base + perturbed copies)")
    ap.add_argument("--naive-sample", type=int, default=2_000, help="documents the naive datasketch path is timed on")
    ap.add_argument(
        "--cache",
        default=str(Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pixelgate" / "bench"),
        help="folder of cached corpora and of the datatrove venv",
    )
    ap.add_argument(
        "--datatrove-workers",
        default="2",
        help="comma-separated worker counts for datatrove runs, e.g. 1,2 ('' skips datatrove)",
    )
    ap.add_argument(
        "--store", default=None, help="parent folder of the temporary store (default: the system temp folder)"
    )
    args = ap.parse_args()
    print(
        f"start: {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}; load "
        f"average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}"
        f" {os.getloadavg()[2]:.2f}",
        flush=True,
    )

    cache = Path(args.cache)
    folder = cache / f"dedup-{cache_key(args.docs)}"
    t = time.perf_counter()
    if (folder / "meta.json").exists():
        meta = json.loads((folder / "meta.json").read_text())
        how = "cached"
    else:
        meta = build_cache(folder, Path(args.datasets), args.docs)
        how = "built now"
    t = time.perf_counter()
    texts, truth_pairs = load_corpus(folder)
    s = meta["setup_seconds"]
    print(
        f"corpus: {len(texts)} conversations, {len(truth_pairs)} true duplicate pairs,"
        f" {meta['text_mb']:.0f} MB text; setup {how} in {folder} "
        f"(untimed: corpus {s['corpus']:.0f}s, Parquet family {s['family_parquet']:.0f}s, "
        f"datatrove JSONL {s['datatrove_jsonl']:.0f}s when built; "
        f"{time.perf_counter() - t:.0f}s to load)",
        flush=True,
    )

    with tempfile.TemporaryDirectory(prefix="bench-dedup-", dir=args.store) as tmp:
        shutil.copytree(
            folder / "store", tmp, copy_function=os.link, dirs_exist_ok=True
        )  # hard links: the cache stays untouched
        store = LocalStore(tmp)

        ours_s, ours_pairs, merge = ours_near_dedup(store, len(texts))
        p, r, f1 = pair_scores(ours_pairs, truth_pairs)
        bands, rows = params_for(NearDedup(threshold=THRESHOLD, num_perm=NUM_PERM))
        index_ratio = (bands * 8) / (NUM_PERM * 4)
        print(
            f"ours near-dedup (1 core): {ours_s:.1f}s = {len(texts) / ours_s:,.0f} docs/s; on "
            f"generated pairs P={p:.4f} R={r:.4f} F1={f1:.4f}; "
            f"candidates={merge.candidates} verified={merge.verified}; index {bands * 8} B/"
            f"record = {index_ratio:.2f}x signature bytes ({NUM_PERM * 4} B)",
            flush=True,
        )

        naive_per_doc = datasketch_naive(texts, args.naive_sample)
        build_s, bulk_s, lsh_s, ds_pairs = datasketch_batch(texts)
        print(f"datasketch input shingle lists built chunk by chunk ({build_s:.0f}s, untimed)", flush=True)

        dt_runs: dict[int, tuple[dict, set]] = {}
        for w in [int(x) for x in args.datatrove_workers.split(",") if x.strip()]:
            got = datatrove_run(cache / "venv-datatrove", folder / "datatrove-input", Path(tmp) / "datatrove", w)
            if isinstance(got, str):
                print(f"datatrove ({w} workers): skipped, {got}", flush=True)
                break
            dt_runs[w] = got
            sec = got[0]["seconds"]
            print(
                f"datatrove 0.10.1 ({w} workers, {got[0]['bands']}x{got[0]['rows']}): "
                f"signatures {sec['signatures']:.1f}s + buckets {sec['buckets']:.1f}s + "
                f"cluster {sec['cluster']:.1f}s "
                f"= {sec['signatures'] + sec['buckets'] + sec['cluster']:.1f}s "
                f"= {len(texts) / (sec['signatures'] + sec['buckets'] + sec['cluster']):,.0f} "
                f"docs/s; filter {sec['filter']:.1f}s",
                flush=True,
            )

        # pooled truth: random conversations can share a long real turn and be genuine near
        # duplicates; every predicted pair outside the generated ones counts as true when its
        # exact Jaccard reaches the threshold (pairs no method found stay unknown to all)
        predicted = ours_pairs | ds_pairs
        for _, pairs in dt_runs.values():
            predicted |= pairs
        extra = sorted(predicted - truth_pairs)
        sets = Shingler(NGRAM).sets([texts[i] for pair in extra for i in pair]) if extra else []
        accidental = {pair for k, pair in enumerate(extra) if jaccard(sets[2 * k], sets[2 * k + 1]) >= THRESHOLD}
        pooled = truth_pairs | accidental
        print(
            f"pooled truth: {len(truth_pairs)} generated + {len(accidental)} accidental pairs "
            f"with exact Jaccard >= {THRESHOLD}",
            flush=True,
        )
        p, r, f1 = pair_scores(ours_pairs, pooled)
        dp, dr, df1 = pair_scores(ds_pairs, pooled)
        line = (
            f"F1 on pooled truth: ours P={p:.4f} R={r:.4f} F1={f1:.4f}; datasketch P={dp:.4f} R={dr:.4f} F1={df1:.4f}"
        )
        if dt_runs:
            tp, tr, tf1 = pair_scores(next(iter(dt_runs.values()))[1], pooled)
            line += f"; datatrove P={tp:.4f} R={tr:.4f} F1={tf1:.4f}"
        print(line, flush=True)
        naive_s = naive_per_doc * len(texts) + lsh_s
        batch_s = bulk_s + lsh_s
        print(
            f"datasketch naive MinHash.update: {naive_per_doc * 1e3:.3f} ms/doc on "
            f"a {args.naive_sample}-doc sample -> {naive_s:.0f}s extrapolated (+ measured LSH)",
            flush=True,
        )
        gp, gr, gf1 = pair_scores(ds_pairs, truth_pairs)
        print(
            f"datasketch MinHash.bulk {bulk_s:.1f}s + MinHashLSH/clusters {lsh_s:.1f}s "
            f"= {batch_s:.1f}s = {len(texts) / batch_s:,.0f} docs/s; "
            f"on generated pairs P={gp:.4f} R={gr:.4f} F1={gf1:.4f}",
            flush=True,
        )
        del texts, sets, ours_pairs, ds_pairs, predicted, pooled, dt_runs

        ctx = multiprocessing.get_context("spawn")
        queue = ctx.Queue()
        proc = ctx.Process(target=_full_compile, args=(tmp, queue))
        proc.start()
        full_s, peak_mb, records_out, gates_passed, timings = queue.get()
        proc.join()
        stages = ", ".join(f"{k} {v:.1f}s" for k, v in timings.items())
        print(
            f"whole compile (2 workers, gates included): {full_s:.1f}s ({stages}),"
            f" {records_out} records out, gates {gates_passed}, peak RSS {peak_mb:.0f} MB",
            flush=True,
        )

    print(
        f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}; "
        f"end: {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}; "
        f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}"
    )
    print(
        f"ratio_vs_datasketch_naive={naive_s / ours_s:.1f} "
        f"ratio_vs_datasketch_batch={batch_s / ours_s:.1f} f1={f1:.4f} "
        f"f1_datasketch={df1:.4f} peak_rss_mb={peak_mb:.0f} compile_300k_s={full_s:.0f}"
    )


if __name__ == "__main__":
    main()
