"""Precision, recall and F1 of near-dedup per perturbation kind and threshold (docs/dedup.md).

For each kind, ``--base`` distinct synthetic conversations (benchmarks/dedup_corpus.py) get one
perturbed copy each; the true pairs are (original, copy); every other pair is a negative.
Detection is the compile's own: MinHash signatures, LSH with optimal bands/rows for the
threshold, exact-Jaccard verification, then clusters (pairs inside a cluster are predicted).

    .venv/bin/python benchmarks/dedup_quality.py --base 2000
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.dedup_corpus import PERTURBATIONS, cluster_pairs, pair_scores, synthetic_conversations, text_of  # noqa: E402
from pixelgate.workflows.api.compile_run import NearDedup  # noqa: E402
from pixelgate.workflows.steps.compile.clusters import components  # noqa: E402
from pixelgate.workflows.steps.compile.detect import near_duplicates  # noqa: E402
from pixelgate.workflows.steps.compile.minhash import Shingler, jaccard  # noqa: E402

THRESHOLDS = (0.5, 0.7, 0.8, 0.9)


def quality_table(datasets: Path, base_n: int, seed: int = 3, thresholds=THRESHOLDS) -> list[dict]:
    base = synthetic_conversations(datasets, base_n, seed=seed)
    rows = []
    for kind, perturb in PERTURBATIONS.items():
        rng = random.Random(f"{seed}-{kind}")
        docs = [text_of(c) for c in base] + [text_of(perturb(c, rng)) for c in base]
        truth = {(i, base_n + i) for i in range(base_n)}
        sets = Shingler().sets(docs)
        similarity = {pair: jaccard(sets[pair[0]], sets[pair[1]]) for pair in truth}
        for threshold in thresholds:
            pairs, _ = near_duplicates(docs, NearDedup(threshold=threshold))
            predicted = cluster_pairs(components(len(docs), pairs))
            p, r, f1 = pair_scores(predicted, truth)
            above = {pair for pair, sim in similarity.items() if sim >= threshold}
            rows.append(
                {
                    "kind": kind,
                    "threshold": threshold,
                    "precision": p,
                    "recall": r,
                    "f1": f1,
                    "share_above": len(above) / len(truth),
                    "recall_above": len(predicted & above) / len(above) if above else 1.0,
                }
            )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", default=str(REPO.parent / "shared" / "datasets"))
    ap.add_argument("--base", type=int, default=2000)
    args = ap.parse_args()
    print("| perturbation | threshold | precision | recall | F1 | true pairs with J >= threshold | recall on those |")
    print("|---|---|---|---|---|---|---|")
    for row in quality_table(Path(args.datasets), args.base):
        print(
            f"| {row['kind']} | {row['threshold']:.1f} | {row['precision']:.4f} |"
            f" {row['recall']:.4f} | {row['f1']:.4f} "
            f"| {row['share_above']:.3f} | {row['recall_above']:.4f} |"
        )


if __name__ == "__main__":
    main()
