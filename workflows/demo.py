"""The quickstart: a seeded sample generator (``pixelgate demo-data``) and ``make demo``
(``python -m pixelgate.workflows.demo``), which generates the data and runs
``examples/quickstart/`` end to end through the local runner.

The generated families carry every defect the pipeline must handle: PII, mojibake, exact
duplicates (within and across families), near duplicates, malformed lines, a holdout family
and a low-quality family; in four formats (jsonl, json, csv, parquet).
"""

from __future__ import annotations

import csv
import json
import random
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

QUICKSTART = Path(__file__).resolve().parent.parent / "examples" / "quickstart"

_FEELINGS = [
    "anxious",
    "overwhelmed",
    "lonely",
    "exhausted",
    "stuck",
    "on edge",
    "numb",
    "restless",
    "hopeless",
    "irritable",
]
_CAUSES = [
    "since I started a new job",
    "after my breakup last spring",
    "because my exams are coming up",
    "ever since we moved to a new city",
    "because my mother has been ill",
    "since I lost my position at work",
    "when I think about the future",
    "after an argument with my best friend",
    "because I cannot sleep more than a few hours",
    "since my brother stopped talking to me",
]
_ASKS = [
    "What can I do about it?",
    "Is this normal?",
    "How do I stop feeling like this?",
    "Where do I even start?",
    "Should I talk to someone about it?",
]
_REFLECT = [
    "It sounds like you have been carrying a lot {cause}.",
    "Feeling {feeling} {cause} makes a lot of sense.",
    "Thank you for sharing this; being {feeling} is hard.",
    "I hear how tiring it is to feel {feeling} day after day.",
]
_SUGGEST = [
    "One small step could be to notice when the feeling is strongest and write down what happened just before.",
    "Some people find that a short walk, regular meals and a steady bedtime take the edge off.",
    "Talking with someone you trust, or a counsellor, can help you sort out what is within your control.",
    "You might try breaking the week into small, concrete goals and celebrating each one you reach.",
    "Breathing slowly for a few minutes, in for four counts and out for six, can calm the body down.",
]
_CLOSE = [
    "What feels most doable for you this week?",
    "How does that sound to you?",
    "Which of these would you like to try first?",
]
_NAMES = ["Maria Gonzalez", "James Carter", "Aisha Khan", "Tom Becker", "Li Wei"]
_CITIES = ["Seattle", "Manchester", "Toronto", "Melbourne", "Dublin"]


def _conversation(rng: random.Random) -> list[dict[str, str]]:
    feeling, cause = rng.choice(_FEELINGS), rng.choice(_CAUSES)
    user = f"I have been feeling {feeling} {cause}. {rng.choice(_ASKS)}"
    reply = " ".join(
        [
            rng.choice(_REFLECT).format(feeling=feeling, cause=cause),
            rng.choice(_SUGGEST),
            rng.choice(_SUGGEST),
            rng.choice(_CLOSE),
        ]
    )
    follow = f"I think I could try that. It is just hard when I feel {rng.choice(_FEELINGS)}."
    answer = " ".join([rng.choice(_SUGGEST), "Be patient with yourself; small changes add up.", rng.choice(_CLOSE)])
    return [
        {"role": "user", "content": user},
        {"role": "assistant", "content": reply},
        {"role": "user", "content": follow},
        {"role": "assistant", "content": answer},
    ]


def _with_pii(rng: random.Random, messages: list[dict[str, str]]) -> list[dict[str, str]]:
    name, city = rng.choice(_NAMES), rng.choice(_CITIES)
    phone = f"206-555-{rng.randint(1000, 9999)}"
    extra = (
        f" My name is {name}, I live in {city}; call me at {phone} or write to {name.split()[0].lower()}@example.com."
    )
    return [{**messages[0], "content": messages[0]["content"] + extra}, *messages[1:]]


def _mojibake(text: str) -> str:
    """UTF-8 bytes read as cp1252: the classic 'donâ€™t'."""
    return text.replace("'", "\u2019").encode("utf-8").decode("cp1252", errors="replace")


def _near_duplicate(rng: random.Random, messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """A light edit: one word changed in the last assistant turn."""
    out = [dict(m) for m in messages]
    words = out[-1]["content"].split()
    words[rng.randrange(len(words))] = rng.choice(["really", "truly", "gently"])
    out[-1]["content"] = " ".join(words)
    return out


def generate(out_dir: Path, *, seed: int = 7, size: int = 120) -> dict[str, Path]:
    """Write the quickstart families into ``out_dir``; the same seed gives the same bytes."""
    rng = random.Random(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}

    # 1. support-chats (jsonl): PII, mojibake, exact and near duplicates, malformed lines.
    chats = [_conversation(rng) for _ in range(size)]
    for i in range(0, size, 6):
        chats[i] = _with_pii(rng, chats[i])
    for i in range(3, size, 10):
        chats[i] = [{**m, "content": _mojibake(m["content"].replace("I have", "I've"))} for m in chats[i]]
    chats += [chats[i] for i in range(0, 12, 3)]  # exact duplicates
    chats += [_near_duplicate(rng, chats[i]) for i in range(1, min(40, size), 4)]  # near duplicates
    lines = [json.dumps({"id": f"sc-{i}", "messages": m}, ensure_ascii=False) for i, m in enumerate(chats)]
    lines.insert(5, '{"id": "sc-broken", "messages": [')  # malformed JSON
    lines.insert(9, json.dumps({"id": "sc-noturns", "text": "no messages here"}))  # mapping failure
    paths["support-chats"] = out_dir / "support_chats.jsonl"
    paths["support-chats"].write_text("\n".join(lines) + "\n", encoding="utf-8")

    # 2. counsel-qa (csv): question/answer pairs, some copied verbatim from support-chats.
    qa_path = out_dir / "counsel_qa.csv"
    with open(qa_path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["questionTitle", "questionText", "answerText", "topic"])
        for i in range(size):
            conv = (
                chats[i] if i % 15 == 0 else _conversation(rng)
            )  # cross-family exact duplicates of the first turn pair
            writer.writerow(
                [
                    f"Question {i}" if i % 15 else "",
                    conv[0]["content"],
                    conv[1]["content"],
                    rng.choice(["anxiety", "grief", "family"]),
                ]
            )
    paths["counsel-qa"] = qa_path

    # 3. mi-sessions (parquet): a conversation spread over rows.
    rows: dict[str, list[Any]] = {"transcript_id": [], "turn": [], "interlocutor": [], "utterance": []}
    for t in range(size // 2):
        for k, m in enumerate(_conversation(rng)):
            rows["transcript_id"].append(f"mi-{t}")
            rows["turn"].append(k)
            rows["interlocutor"].append("client" if m["role"] == "user" else "therapist")
            rows["utterance"].append(m["content"])
    paths["mi-sessions"] = out_dir / "mi_sessions.parquet"
    pq.write_table(pa.table(rows), paths["mi-sessions"])

    # 4. crisis-holdout (json array): a holdout family, goes to test only.
    holdout = [
        {
            "id": f"ch-{i}",
            "dialog": [
                {"speaker": "seeker" if m["role"] == "user" else "supporter", "text": m["content"]}
                for m in _conversation(rng)
            ],
        }
        for i in range(size // 3)
    ]
    paths["crisis-holdout"] = out_dir / "crisis_holdout.json"
    paths["crisis-holdout"].write_text(json.dumps(holdout, ensure_ascii=False, indent=1), encoding="utf-8")

    # 5. low-quality-forum (jsonl): short, shouty, repetitive replies below the quality floor.
    junk = ["ok", "lol just get over it", "IDK!!!!!!", "same same same same", "whatever works"]
    low = [
        {
            "id": f"lq-{i}",
            "messages": [
                {"role": "user", "content": rng.choice(["help", "sad", "what do i do"])},
                {"role": "assistant", "content": rng.choice(junk)},
            ],
        }
        for i in range(size // 3)
    ]
    low += [{"id": f"lq-good-{i}", "messages": _conversation(rng)} for i in range(5)]
    paths["low-quality-forum"] = out_dir / "low_quality_forum.jsonl"
    paths["low-quality-forum"].write_text("".join(json.dumps(r) + "\n" for r in low), encoding="utf-8")
    return paths


def main(argv: list[str] | None = None) -> int:
    """``make demo``: generate the data, run the quickstart, say where the results are."""
    from rich.console import Console

    from .api.manifests import load_items
    from .local.cli import run_items
    from .store import DEFAULT_LOCAL_STORE

    console = Console(stderr=True)
    data = generate(QUICKSTART / "data")
    console.print(f"generated {len(data)} families under {QUICKSTART / 'data'}")
    code = run_items(
        load_items([str(QUICKSTART)]), store_uri=DEFAULT_LOCAL_STORE, workers=2, use_cache=True, image=None
    )
    _print_locations(console, DEFAULT_LOCAL_STORE)
    return code


def _print_locations(console: Any, store_uri: str) -> None:
    from .api.kinds import COMPILE_RUN
    from .layout import RUNS_DIR, status_prefix
    from .store import open_store

    store = open_store(store_uri)
    for key in store.list(status_prefix(COMPILE_RUN)):
        status = store.read_json(key)
        console.print(
            f"compile {Path(key).stem}: manifest {status.get('manifestUri', '(none)')}  "
            f"verification report {status.get('reportUri', '(none)')}"
        )
    for key in store.list(f"{RUNS_DIR}/"):
        if key.endswith("workflow.yaml"):
            console.print(f"rendered workflow: {store.url(key)}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
