"""Tagger evaluation: precision/recall/F1 per tag of the lexicon tagger on the hand-written
labelled sample (tests/data/tagging/labelled-v1.jsonl), then, as a sanity check without labels,
how many ESConv and AnnoMI conversations (read straight from ../shared/datasets) get each tag.

``.venv/bin/python -m benchmarks.eval_tagging [--lexicon-version 1] [--min-confidence 0.5] [--no-datasets]``
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import Counter
from pathlib import Path

from pixelgate.workflows.steps.ingest.derive.lexicon import available
from pixelgate.workflows.steps.ingest.derive.tagger import LexiconTagger
from pixelgate.workflows.steps.ingest.derive.tagging_eval import evaluate, load_samples, markdown

REPO = Path(__file__).resolve().parent.parent
DATASETS = REPO.parent / "shared" / "datasets"
SAMPLE = REPO / "tests" / "data" / "tagging" / "labelled-v1.jsonl"


def esconv(datasets: Path):
    roles = {"usr": "user", "sys": "assistant"}
    for path in sorted((datasets / "esconv").glob("*.jsonl")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
            if line.strip():
                yield f"{path.name}#{n + 1}", [(roles[t["speaker"]], t["text"]) for t in json.loads(line)["dialog"]]


def annomi(datasets: Path):
    roles = {"client": "user", "therapist": "assistant"}
    convs: dict[str, dict[str, tuple[str, str]]] = {}
    with open(datasets / "annomi" / "AnnoMI-full.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            convs.setdefault(row["transcript_id"], {})[row["utterance_id"]] = (
                roles[row["interlocutor"]],
                row["utterance_text"],
            )
    for tid, turns in convs.items():
        yield f"transcript_id={tid}", [turns[k] for k in sorted(turns, key=int)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lexicon-version", type=int, default=1)
    parser.add_argument("--min-confidence", type=float, default=0.5)
    parser.add_argument("--sample", type=Path, default=SAMPLE)
    parser.add_argument("--no-datasets", action="store_true", help="skip the ESConv/AnnoMI counts")
    args = parser.parse_args()
    tags = available(args.lexicon_version)
    tagger = LexiconTagger(tags, args.lexicon_version, args.min_confidence)
    samples = load_samples(args.sample)
    scores = evaluate(tagger.tag, tags, samples)
    print(
        f"labelled sample {args.sample.name}: {len(samples)} conversations, lexicon "
        f"v{args.lexicon_version}, minConfidence {args.min_confidence}\n"
    )
    print(markdown(scores))
    for s in scores:
        if s.false_positives or s.false_negatives:
            print(f"  {s.tag}: false positives {s.false_positives}, false negatives {s.false_negatives}")
    if args.no_datasets:
        return
    for name, convs in (("ESConv", esconv(DATASETS)), ("AnnoMI", annomi(DATASETS))):
        counts: Counter[str] = Counter()
        examples: dict[str, list[str]] = {t: [] for t in tags}
        total = 0
        for cid, turns in convs:
            total += 1
            for tag in tagger.tag(turns):
                counts[tag] += 1
                if len(examples[tag]) < 3:
                    examples[tag].append(cid)
        print(f"\n{name}: {total} conversations; tagged " + ", ".join(f"{t} {counts[t]}" for t in tags))
        for t in tags:
            print(f"  {t} examples: {examples[t]}")


if __name__ == "__main__":
    main()
