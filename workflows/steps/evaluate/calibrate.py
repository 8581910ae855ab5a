"""Fit the empathy score on AnnoMI and measure it on labelled real data.

``python -m pixelgate.workflows.steps.evaluate.calibrate --datasets ../shared/datasets [--write]``

* fits :class:`.empathy.EmpathyModel` on AnnoMI (therapist utterances per transcript; label
  ``mi_quality == high``), reports its 5-fold cross-validated AUC and in-sample AUC, and with
  ``--write`` stores the weights in ``calibration.json``;
* reports AUCs on ESConv (positives) vs FailedESConv (negatives), supporter turns per
  conversation, of the fitted score and of the plain reflection-or-validation rate: a transfer
  check on data the fit never saw.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import defaultdict
from pathlib import Path

import click
import numpy as np

from ..lexicon import FEATURES
from .empathy import CALIBRATION, EmpathyModel, supportive_rate
from .stats import cross_validated_auc, fit_logistic, roc_auc

L2 = 1.0
ANNOMI = "annomi/AnnoMI-simple.csv"
ESCONV = ("esconv/train.jsonl", "esconv/valid.jsonl", "esconv/test.jsonl")
FAILED_ESCONV = "esconv/FailedESConv.json"


def annomi_transcripts(path: Path) -> tuple[list[list[str]], list[int]]:
    """Therapist utterances per transcript (in utterance order) and the label 1 = high MI quality."""
    utterances: dict[str, list[tuple[int, str]]] = defaultdict(list)
    labels: dict[str, int] = {}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            labels[row["transcript_id"]] = int(row["mi_quality"] == "high")
            if row["interlocutor"] == "therapist":
                utterances[row["transcript_id"]].append((int(row["utterance_id"]), row["utterance_text"]))
    ids = sorted((t for t in utterances), key=int)
    return [[text for _, text in sorted(utterances[t])] for t in ids], [labels[t] for t in ids]


def esconv_supporter_turns(paths: list[Path]) -> list[list[str]]:
    out = []
    for path in paths:
        with open(path) as fh:
            for line in fh:
                turns = [t["text"] for t in json.loads(line)["dialog"] if t["speaker"] == "sys"]
                if turns:
                    out.append(turns)
    return out


def failed_esconv_supporter_turns(path: Path) -> list[list[str]]:
    """FailedESConv uses the raw schema: supporter turns are speaker 'supporter' or 'listener'."""
    out = []
    for dialog in json.loads(path.read_text()):
        turns = [t["content"].strip() for t in dialog["dialog"] if t["speaker"] in {"supporter", "listener"}]
        if turns:
            out.append(turns)
    return out


def fit(datasets: Path) -> dict:
    source = datasets / ANNOMI
    transcripts, labels = annomi_transcripts(source)
    model = EmpathyModel(weights={f: 0.0 for f in FEATURES}, bias=0.0)
    x = np.array([model.features(t) for t in transcripts])
    y = np.array(labels)
    weights, bias = fit_logistic(x, y, l2=L2)
    fitted = EmpathyModel(weights={f: round(float(w), 6) for f, w in zip(FEATURES, weights)}, bias=round(bias, 6))
    scores = np.array([fitted.score(t) for t in transcripts])
    return {
        "weights": fitted.weights,
        "bias": fitted.bias,
        "fitted_on": {
            "file": ANNOMI,
            "sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
            "transcripts": len(y),
            "high": int(y.sum()),
            "low": int(len(y) - y.sum()),
            "l2": L2,
        },
        "auc": {
            "annomi_cv5": round(cross_validated_auc(x, y, folds=5, seed=0, l2=L2), 4),
            "annomi_in_sample": round(roc_auc(scores[y == 1], scores[y == 0]), 4),
        },
    }


def esconv_aucs(datasets: Path, model: EmpathyModel) -> dict[str, float]:
    """AUCs of ESConv (positive) vs FailedESConv (negative) supporters: the calibrated MI score,
    and the plain reflection-or-validation rate."""
    good = esconv_supporter_turns([datasets / p for p in ESCONV])
    bad = failed_esconv_supporter_turns(datasets / FAILED_ESCONV)
    return {
        "esconv_vs_failed_mi_score": round(roc_auc([model.score(t) for t in good], [model.score(t) for t in bad]), 4),
        "esconv_vs_failed_supportive_rate": round(
            roc_auc([supportive_rate(t) for t in good], [supportive_rate(t) for t in bad]), 4
        ),
    }


@click.command()
@click.option(
    "--datasets",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("../shared/datasets"),
    show_default=True,
)
@click.option("--write", is_flag=True, help=f"Store the fitted weights in {CALIBRATION.name}.")
def main(datasets: Path, write: bool) -> None:
    result = fit(datasets)
    model = EmpathyModel(weights=result["weights"], bias=result["bias"])
    result["auc"].update(esconv_aucs(datasets, model))
    if write:
        CALIBRATION.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    click.echo(json.dumps(result, indent=2, sort_keys=True))


if __name__ == "__main__":  # pragma: no cover
    main()
