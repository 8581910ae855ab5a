"""Quality scoring v1 separates real good from real bad conversations (AUC of ``overall``)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from pixelgate.workflows.steps.ingest import quality


def auc(positives: list[float], negatives: list[float]) -> float:
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def _esconv(path: Path, role: str, content: str, roles: dict[str, str]) -> list[list[tuple[str, str]]]:
    if path.suffix == ".jsonl":
        dialogs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    else:
        dialogs = json.loads(path.read_text())
    return [[(roles[t[role]], t[content].strip()) for t in d["dialog"]] for d in dialogs]


def test_overall_separates_esconv_from_failed_esconv(datasets: Path) -> None:
    good = _esconv(datasets / "esconv" / "test.jsonl", "speaker", "text", {"usr": "user", "sys": "assistant"})
    bad = _esconv(
        datasets / "esconv" / "FailedESConv.json",
        "speaker",
        "content",
        {"seeker": "user", "speaker": "user", "supporter": "assistant", "listener": "assistant"},
    )
    value = auc([quality.score(c).overall for c in good], [quality.score(c).overall for c in bad])
    assert value >= 0.62  # measured 0.629 on this test split, 0.659 over all 1,300 ESConv dialogues (docs/quality.md)


def test_overall_separates_annomi_high_from_low(datasets: Path) -> None:
    convs: dict[str, list[tuple[str, str]]] = {}
    label: dict[str, str] = {}
    with open(datasets / "annomi" / "AnnoMI-simple.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            convs.setdefault(row["transcript_id"], []).append(
                ("assistant" if row["interlocutor"] == "therapist" else "user", row["utterance_text"])
            )
            label[row["transcript_id"]] = row["mi_quality"]
    scores = {t: quality.score(c).overall for t, c in convs.items()}
    value = auc(
        [s for t, s in scores.items() if label[t] == "high"], [s for t, s in scores.items() if label[t] == "low"]
    )
    assert value >= 0.68  # measured 0.686 with the shared marker lexicon (docs/quality.md)


def test_scores_are_bounded_and_harm_is_penalised() -> None:
    kind = [
        ("user", "I feel so alone lately."),
        ("assistant", "It sounds like you have been feeling really isolated. What has that been like for you?"),
    ]
    cruel = [("user", "I feel so alone lately."), ("assistant", "Shut up, you are pathetic. Nobody cares about you.")]
    a, b = quality.score(kind), quality.score(cruel)
    for s in (a, b):
        assert all(
            0 <= getattr(s, axis) <= 1
            for axis in ("empathy", "fidelity", "harmfulness", "domain_relevance", "overall")
        )
    assert a.empathy > b.empathy and b.harmfulness > 0.5 and a.overall > b.overall
    assert quality.score([("user", "hello?")]).fidelity == 0.0  # no helper turn
