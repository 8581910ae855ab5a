"""datatrove's MinHash dedup on the bench-dedup corpus; run by benchmarks/bench_dedup.py in its own venv.

This script imports datatrove and nothing from pixelgate: it runs with the interpreter of the
separate virtual environment that ``tools/bench_venv.sh`` creates (datatrove is not a project
dependency). Its input is a folder of JSONL files, one ``{"id": "<corpus index>", "text": ...}``
per line, written by bench_dedup.py from the same corpus everyone else is measured on.

The pipeline is datatrove's own four MinHash stages, each a ``LocalPipelineExecutor`` with
``--workers`` tasks and processes (the buckets stage: one task per band):

1. ``MinhashDedupSignature`` (read the JSONL, simplify the text, hash word 5-grams, signatures);
2. ``MinhashDedupBuckets`` (duplicate pairs: documents sharing a band);
3. ``MinhashDedupCluster`` (union-find; cluster ids saved);
4. ``MinhashDedupFilter`` (reread the documents, drop all but one per cluster, write kept and
   removed documents, each with its ``minhash_cluster_id``).

Settings: word 5-grams, ``--bands`` x ``--rows`` hashes (64-bit xxhash shingles, datatrove's
defaults for precision and hash function). datatrove has no similarity threshold and no
verification: two documents are duplicates when all ``rows`` hashes of any band agree, so the
threshold is implied by the S-curve of bands x rows. Its English word tokenizer needs NLTK data
that cannot be downloaded here, so a whitespace tokenizer is passed in (datatrove's text
simplification has already lower-cased the text and removed punctuation, so whitespace words
are the words).

Prints one JSON object: seconds per stage, and the clusters (lists of corpus indices).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from datatrove.executor.local import LocalPipelineExecutor
from datatrove.pipeline.dedup.minhash import (
    MinhashConfig,
    MinhashDedupBuckets,
    MinhashDedupCluster,
    MinhashDedupFilter,
    MinhashDedupSignature,
)
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter
from datatrove.utils.word_tokenizers import WordTokenizer


class WhitespaceTokenizer(WordTokenizer):
    def word_tokenize(self, text: str) -> list[str]:
        return text.split()

    def sent_tokenize(self, text: str) -> list[str]:
        return [text]

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        return [(0, len(text))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--input", required=True, help="folder of JSONL files")
    ap.add_argument("--work", required=True, help="scratch folder (emptied first)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--bands", type=int, default=9)
    ap.add_argument("--rows", type=int, default=13)
    args = ap.parse_args()

    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    config = MinhashConfig(n_grams=5, num_buckets=args.bands, hashes_per_bucket=args.rows)
    tok = WhitespaceTokenizer("en")
    w = args.workers
    logs = work / "logs"

    def reader() -> JsonlReader:
        return JsonlReader(args.input, compression=None, text_key="text", id_key="id")

    stages = {
        "signatures": LocalPipelineExecutor(
            [reader(), MinhashDedupSignature(output_folder=str(work / "sigs"), config=config, language=tok)],
            tasks=w,
            workers=w,
            logging_dir=str(logs / "sigs"),
        ),
        "buckets": LocalPipelineExecutor(
            [MinhashDedupBuckets(input_folder=str(work / "sigs"), output_folder=str(work / "buckets"), config=config)],
            tasks=args.bands,
            workers=w,
            logging_dir=str(logs / "buckets"),
        ),
        "cluster": LocalPipelineExecutor(
            [
                MinhashDedupCluster(
                    input_folder=str(work / "buckets"),
                    output_folder=str(work / "remove"),
                    config=config,
                    save_cluster_id=True,
                )
            ],
            tasks=1,
            workers=1,
            logging_dir=str(logs / "cluster"),
        ),
        "filter": LocalPipelineExecutor(
            [
                reader(),
                MinhashDedupFilter(
                    input_folder=str(work / "remove"),
                    load_cluster_ids=True,
                    exclusion_writer=JsonlWriter(str(work / "removed"), compression=None),
                ),
                JsonlWriter(str(work / "kept"), compression=None),
            ],
            tasks=w,
            workers=w,
            logging_dir=str(logs / "filter"),
        ),
    }
    seconds = {}
    for name, executor in stages.items():
        t0 = time.perf_counter()
        executor.run()
        seconds[name] = time.perf_counter() - t0

    groups: dict[int, list[int]] = {}
    for path in sorted([*(work / "kept").glob("*.jsonl"), *(work / "removed").glob("*.jsonl")]):
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                doc = json.loads(line)
                cid = doc["metadata"].get("minhash_cluster_id", -1)
                if cid >= 0:
                    groups.setdefault(cid, []).append(int(doc["id"]))
    print(
        json.dumps(
            {
                "seconds": seconds,
                "workers": w,
                "bands": args.bands,
                "rows": args.rows,
                "clusters": [sorted(g) for g in groups.values() if len(g) > 1],
            }
        )
    )


if __name__ == "__main__":
    main()
