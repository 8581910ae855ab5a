"""Seeded, documented transformations of the real datasets into dedup test corpora.

Turn pools: every turn of ESConv (train/valid/test), every CounselChat question and answer
(2020 scrape; HTML stripped) and every AnnoMI utterance, split into user-side and
assistant-side pools.

* :func:`synthetic_conversations` makes ``n`` *distinct* conversations: each has 4 to 12 turns,
  alternating user/assistant, every turn drawn independently and uniformly from its pool with
  ``random.Random(seed)``. Two such conversations share a whole turn only by chance, so their
  word-5-gram Jaccard is near 0 and they are true negatives.
* :data:`PERTURBATIONS` turn a text into a near-duplicate of known origin:
  ``typos`` (1% of words get one random character edit: swap, delete, insert or substitute),
  ``casing`` (30% of words upper-, title- or lower-cased), ``whitespace`` (spaces doubled, tabs
  and newlines inserted at 10% of gaps), ``reorder`` (two sentences swapped in one turn that
  has two or more), ``truncate`` (the last 10% of the words of the
  conversation cut).
* :func:`corpus_with_duplicates` appends, for a share of the base conversations, one perturbed
  copy each (perturbation kind chosen at random), and returns the ground-truth pairs.
"""

from __future__ import annotations

import csv
import json
import random
import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

Conversation = list[tuple[str, str]]
_TAG = re.compile(r"<[^>]+>")
_SENT = re.compile(r"(?<=[.!?])\s+")


@lru_cache(maxsize=2)
def turn_pools(datasets: Path) -> tuple[list[str], list[str]]:
    """(user-side texts, assistant-side texts) from ESConv, CounselChat and AnnoMI."""
    user, assistant = [], []
    for name in ("train.jsonl", "valid.jsonl", "test.jsonl"):
        with open(datasets / "esconv" / name, encoding="utf-8") as fh:
            for line in fh:
                for turn in json.loads(line)["dialog"]:
                    (user if turn["speaker"] == "usr" else assistant).append(turn["text"].strip())
    with open(datasets / "counselchat" / "20200325_counsel_chat.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            user.append(f"{row['questionTitle']}\n\n{row['questionText']}".strip())
            assistant.append(_TAG.sub(" ", row["answerText"]).strip())
    with open(datasets / "annomi" / "AnnoMI-simple.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            (assistant if row["interlocutor"] == "therapist" else user).append(row["utterance_text"].strip())
    return [t for t in user if t], [t for t in assistant if t]


def synthetic_conversations(datasets: Path, n: int, seed: int = 0) -> list[Conversation]:
    user, assistant = turn_pools(datasets)
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        turns = rng.randint(4, 12)
        out.append(
            [("user", rng.choice(user)) if i % 2 == 0 else ("assistant", rng.choice(assistant)) for i in range(turns)]
        )
    return out


def _typo(word: str, rng: random.Random) -> str:
    if len(word) < 2:
        return word + rng.choice("abcdefghijklmnopqrstuvwxyz")
    i = rng.randrange(len(word) - 1)
    op = rng.randrange(4)
    c = rng.choice("abcdefghijklmnopqrstuvwxyz")
    if op == 0:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if op == 1:
        return word[:i] + word[i + 1 :]
    if op == 2:
        return word[:i] + c + word[i:]
    return word[:i] + c + word[i + 1 :]


def _words_map(conv: Conversation, fn: Callable[[str], str]) -> Conversation:
    return [(r, " ".join(fn(w) for w in t.split(" "))) for r, t in conv]


def typos(conv: Conversation, rng: random.Random) -> Conversation:
    return _words_map(conv, lambda w: _typo(w, rng) if w and rng.random() < 0.01 else w)


def casing(conv: Conversation, rng: random.Random) -> Conversation:
    styles = (str.upper, str.title, str.lower)
    return _words_map(conv, lambda w: rng.choice(styles)(w) if rng.random() < 0.3 else w)


def whitespace(conv: Conversation, rng: random.Random) -> Conversation:
    gaps = ("  ", "\t", "\n", " \n ")
    return [(r, "".join(ch if ch != " " or rng.random() >= 0.1 else rng.choice(gaps) for ch in t)) for r, t in conv]


def reorder(conv: Conversation, rng: random.Random) -> Conversation:
    turns = [k for k, (_, t) in enumerate(conv) if len(_SENT.split(t)) >= 2]
    if not turns:
        return list(conv)
    k = rng.choice(turns)
    sents = _SENT.split(conv[k][1])
    i, j = rng.sample(range(len(sents)), 2)
    sents[i], sents[j] = sents[j], sents[i]
    return [*conv[:k], (conv[k][0], " ".join(sents)), *conv[k + 1 :]]


def truncate(conv: Conversation, rng: random.Random) -> Conversation:
    words = [(k, w) for k, (_, t) in enumerate(conv) for w in t.split(" ")]
    keep = words[: max(1, int(len(words) * 0.9))]
    out: Conversation = []
    for k, (r, _) in enumerate(conv):
        text = " ".join(w for kk, w in keep if kk == k)
        if text:
            out.append((r, text))
    return out or conv[:1]


PERTURBATIONS: dict[str, Callable[[Conversation, random.Random], Conversation]] = {
    "typos": typos,
    "casing": casing,
    "whitespace": whitespace,
    "reorder": reorder,
    "truncate": truncate,
}


def corpus_with_duplicates(
    base: list[Conversation], share: float, seed: int = 0, kinds: tuple[str, ...] = tuple(PERTURBATIONS)
) -> tuple[list[Conversation], list[tuple[int, int, str]]]:
    """``base`` plus one perturbed copy of ``share`` of it; truth = [(base index, copy index, kind)]."""
    rng = random.Random(seed)
    docs = list(base)
    truth = []
    for i in sorted(rng.sample(range(len(base)), int(len(base) * share))):
        kind = rng.choice(kinds)
        docs.append(PERTURBATIONS[kind](base[i], rng))
        truth.append((i, len(docs) - 1, kind))
    return docs, truth


def text_of(conv: Conversation) -> str:
    return "\n".join(t for _, t in conv)


def pair_scores(predicted: set[tuple[int, int]], truth: set[tuple[int, int]]) -> tuple[float, float, float]:
    """Precision, recall, F1 of predicted duplicate pairs against the true ones."""
    tp = len(predicted & truth)
    p = tp / len(predicted) if predicted else 1.0
    r = tp / len(truth) if truth else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def cluster_pairs(labels) -> set[tuple[int, int]]:
    """Every pair of indices sharing a cluster label."""
    groups: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        groups.setdefault(int(label), []).append(i)
    return {
        (a, b)
        for members in groups.values()
        if len(members) > 1
        for x, a in enumerate(members)
        for b in members[x + 1 :]
    }
