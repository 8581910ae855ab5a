"""Evaluation of PII detection (presidio-research synth_dataset_v2, WNUT-17): span level (by
coverage, and by intersection over union as presidio-research's span evaluator) and token level.

Gold types map onto the entity types pixelgate redacts (``GOLD_TO_EVAL``); gold types it
does not redact (ORGANIZATION, TITLE, NRP, DATE_TIME, US_DRIVER_LICENSE) are left out of the
score for every system, and predictions of types outside ``EVAL_TYPES`` are ignored.

``score`` matches by coverage (documented in docs/pii.md): a gold span counts as found when
predicted spans of the same type cover at least half of its characters; a predicted span is
correct when at least half of its characters lie in gold spans of its type. This is span-level
but tolerant of segmentation (an address labelled as one span or as street/city/postcode
parts). The strict variant (identical boundaries and type) is reported alongside.

``iou_score`` follows presidio-research's span evaluator and ``token_score`` its token
evaluator (methods in docs/pii.md). Both tag spaCy English tokens IO with the type of the span
that covers the token's start, map gold types (``PRESIDIO_RESEARCH_MAP`` or ``GOLD_TO_EVAL``),
restrict predictions to the types the system supports, read filler tokens (``skip_words()``)
leniently, and make the overall figure type-agnostic (PII predicted as any PII type is found).
"""

from __future__ import annotations

import hashlib
import json
import string
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

GOLD_TO_EVAL = {
    "PERSON": "PERSON",
    "STREET_ADDRESS": "LOCATION",
    "GPE": "LOCATION",
    "ZIP_CODE": "LOCATION",
    "PHONE_NUMBER": "PHONE_NUMBER",
    "EMAIL_ADDRESS": "EMAIL_ADDRESS",
    "DOMAIN_NAME": "URL",
    "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN_CODE",
    "US_SSN": "US_SSN",
    "IP_ADDRESS": "IP_ADDRESS",
    "AGE": "AGE",
}
EVAL_TYPES = frozenset(GOLD_TO_EVAL.values())
# presidio-research's default alignment of synth_dataset_v2 labels to presidio's types (the
# labels this dataset uses; ZIP_CODE stays a type of its own there)
PRESIDIO_RESEARCH_MAP = {
    "PERSON": "PERSON",
    "STREET_ADDRESS": "LOCATION",
    "GPE": "LOCATION",
    "ZIP_CODE": "ZIP_CODE",
    "ORGANIZATION": "ORGANIZATION",
    "NRP": "NRP",
    "TITLE": "TITLE",
    "AGE": "AGE",
    "DATE_TIME": "DATE_TIME",
    "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN_CODE",
    "PHONE_NUMBER": "PHONE_NUMBER",
    "EMAIL_ADDRESS": "EMAIL_ADDRESS",
    "DOMAIN_NAME": "URL",
    "IP_ADDRESS": "IP_ADDRESS",
    "US_SSN": "US_SSN",
    "US_DRIVER_LICENSE": "US_DRIVER_LICENSE",
}


@dataclass(frozen=True)
class Example:
    text: str
    gold: tuple[tuple[int, int, str], ...]  # (start, end, eval type)


def load_synth(path: str | Path, mapping: Mapping[str, str] = GOLD_TO_EVAL) -> list[Example]:
    """The dataset's sentences with gold spans typed through ``mapping`` (unmapped types dropped)."""
    out = []
    for row in json.loads(Path(path).read_text()):
        gold = tuple(
            (s["start_position"], s["end_position"], mapping[s["entity_type"]])
            for s in row["spans"]
            if s["entity_type"] in mapping
        )
        out.append(Example(row["full_text"], gold))
    return out


def load_wnut(path: str | Path) -> Iterator[Example]:
    """CoNLL sentences joined with single spaces; person -> PERSON, location -> LOCATION (others dropped)."""
    tokens: list[tuple[str, str]] = []
    for line in list(Path(path).read_text().splitlines()) + [""]:
        if line.strip():
            token, _, tag = line.rpartition("\t") if "\t" in line else line.rpartition(" ")
            tokens.append((token, tag.strip()))
            continue
        if not tokens:
            continue
        text, gold, cur = "", [], None
        for token, tag in tokens:
            start = len(text) + (1 if text else 0)
            text = f"{text} {token}" if text else token
            kind = {"person": "PERSON", "location": "LOCATION"}.get(tag[2:])
            if tag.startswith("B-") and kind:
                cur = [start, len(text), kind]
                gold.append(cur)
            elif tag.startswith("I-") and cur is not None and kind == cur[2]:
                cur[1] = len(text)
            else:
                cur = None if not (tag.startswith("I-") and cur) else cur
        yield Example(text, tuple((s, e, k) for s, e, k in gold))
        tokens = []


def _covered(start: int, end: int, others: Iterable[tuple[int, int]]) -> int:
    return sum(max(0, min(end, e) - max(start, s)) for s, e in others)


@dataclass
class Scores:
    tp_gold: Counter[str]  # gold spans found
    n_gold: Counter[str]
    tp_pred: Counter[str]  # predicted spans correct
    n_pred: Counter[str]

    def row(self, entity: str | None = None) -> dict[str, float]:
        pick = (lambda c: c[entity]) if entity else (lambda c: sum(c.values()))
        p = pick(self.tp_pred) / pick(self.n_pred) if pick(self.n_pred) else 0.0
        r = pick(self.tp_gold) / pick(self.n_gold) if pick(self.n_gold) else 0.0
        f2 = 5 * p * r / (4 * p + r) if p + r else 0.0
        return {"precision": p, "recall": r, "f2": f2, "support": float(pick(self.n_gold))}


def score(examples: list[Example], predictions: list[list[tuple[int, int, str]]], strict: bool = False) -> Scores:
    s = Scores(Counter(), Counter(), Counter(), Counter())
    for ex, pred in zip(examples, predictions):
        pred = [p for p in pred if p[2] in EVAL_TYPES]
        by_type_gold: dict[str, list[tuple[int, int]]] = defaultdict(list)
        by_type_pred: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for a, b, t in ex.gold:
            by_type_gold[t].append((a, b))
        for a, b, t in pred:
            by_type_pred[t].append((a, b))
        for a, b, t in ex.gold:
            s.n_gold[t] += 1
            hit = (a, b) in by_type_pred[t] if strict else 2 * _covered(a, b, by_type_pred[t]) >= (b - a)
            s.tp_gold[t] += hit
        for a, b, t in pred:
            s.n_pred[t] += 1
            hit = (a, b) in by_type_gold[t] if strict else 2 * _covered(a, b, by_type_gold[t]) >= (b - a)
            s.tp_pred[t] += hit
    return s


def split_half(text: str) -> str:
    """``"tune"`` or ``"heldout"``: a deterministic half of a dataset by a hash of the text, so
    detector changes are tuned on one half and reported on the other."""
    return "tune" if hashlib.sha256(text.encode()).digest()[0] % 2 == 0 else "heldout"


# ---- token level (presidio-research's token evaluator method) -----------------------------

# Tokens whose mismatch is not counted: punctuation, whitespace, spaCy's English stop words, and
# filler words of addresses, titles and time or age phrases (our list, same idea as theirs).
_FILLER = (
    "'s street st st. rue via de corner address city state country zip po p.o. box apt unit suite "
    "mr. mrs. miss age old year years y/o day days week weeks weekend month months ago morning noon "
    "afternoon evening night first last inc inc. ltd > >> >>> >>>> >>>>> >>>>>>"
)


@lru_cache(maxsize=1)
def skip_words() -> frozenset[str]:
    from spacy.lang.en.stop_words import STOP_WORDS

    # tokens are compared lower-cased and stripped, so whitespace tokens become ""
    return frozenset(set(string.punctuation) | set(STOP_WORDS) | set(_FILLER.split()) | {""})


@lru_cache(maxsize=1)
def _tokenizer():
    import spacy

    return spacy.blank("en").tokenizer  # the rules en_core_web_sm tokenizes with


def tokens(text: str) -> list[tuple[int, str]]:
    """(offset, text) of each spaCy English token."""
    return [(t.idx, t.text) for t in _tokenizer()(text)]


Pred = tuple[int, int, str] | tuple[int, int, str, float]  # (start, end, type[, score])


def io_tags(toks: Sequence[tuple[int, str]], spans: Iterable[Pred]) -> list[str]:
    """IO tag per token: the type of a span that covers the token's start or lies inside the
    token, else ``"O"``. Where spans overlap, the higher score (default 0.5) wins, then the
    earlier start."""
    ordered = sorted(spans, key=lambda s: (-(s[3] if len(s) > 3 else 0.5), s[0]))
    out = []
    for idx, text in toks:
        end = idx + len(text)
        tag = next((s[2] for s in ordered if s[0] <= idx < s[1] or (idx <= s[0] <= end and idx <= s[1] <= end)), "O")
        out.append(tag)
    return out


@dataclass
class TokenScores:
    confusion: Counter[tuple[str, str]]  # (gold tag, predicted tag) -> tokens

    def row(self, entity: str | None = None) -> dict[str, float]:
        """Per entity: typed token matches. Overall (``None``): any PII type against any PII type."""
        c = self.confusion
        if entity:
            tp = c[(entity, entity)]
            gold = sum(n for (g, _), n in c.items() if g == entity)
            pred = sum(n for (_, p), n in c.items() if p == entity)
        else:
            tp = sum(n for (g, p), n in c.items() if g != "O" and p != "O")
            gold = sum(n for (g, _), n in c.items() if g != "O")
            pred = sum(n for (_, p), n in c.items() if p != "O")
        p = tp / pred if pred else 0.0
        r = tp / gold if gold else 0.0
        f2 = 5 * p * r / (4 * p + r) if p + r else 0.0
        return {"precision": p, "recall": r, "f2": f2, "support": float(gold)}

    def entities(self) -> list[str]:
        return sorted({t for pair in self.confusion for t in pair} - {"O"})


def token_confusion(
    text: str, gold: Iterable[Pred], pred: Iterable[Pred], keep: frozenset[str]
) -> Counter[tuple[str, str]]:
    """(gold, predicted) IO-tag counts of one text; types outside ``keep`` count as ``"O"``, and
    a mismatch on a skip word is not counted."""
    toks = tokens(text)
    g_tags = [t if t in keep else "O" for t in io_tags(toks, gold)]
    p_tags = [t if t in keep else "O" for t in io_tags(toks, pred)]
    out: Counter[tuple[str, str]] = Counter()
    skip = skip_words()
    for (_, tok), g, p in zip(toks, g_tags, p_tags):
        if g != p and tok.lower().strip() in skip:
            continue
        out[(g, p)] += 1
    return out


def token_score(
    examples: Sequence[Example], predictions: Sequence[Sequence[Pred]], keep: Iterable[str]
) -> TokenScores:
    """Token-level scores over a dataset; ``keep``: the entity types the system supports."""
    keep = frozenset(keep)
    total: Counter[tuple[str, str]] = Counter()
    for ex, pred in zip(examples, predictions, strict=True):
        total += token_confusion(ex.text, ex.gold, pred, keep)
    return TokenScores(total)


# ---- span level by intersection over union (presidio-research's span evaluator method) --------


@dataclass(frozen=True)
class TaggedSpan:
    kind: str
    start: int  # start of its first token that is not a skip word
    end: int  # end of its last token that is not a skip word
    first: int  # token range [first, stop)
    stop: int


def tagged_spans(toks: Sequence[tuple[int, str]], tags: Sequence[str]) -> list[TaggedSpan]:
    """Spans of an IO tagging: each run of tokens with one tag, bounded by its tokens that are not
    skip words (a run of skip words only is no span); then spans of one type separated only by
    skip words are merged ("Main St , Springfield" is one LOCATION)."""
    skip = skip_words()
    runs: list[TaggedSpan] = []
    i = 0
    while i < len(tags):
        j = i + 1
        while j < len(tags) and tags[j] == tags[i]:
            j += 1
        kept = [k for k in range(i, j) if toks[k][1].lower().strip() not in skip]
        if tags[i] != "O" and kept:
            runs.append(TaggedSpan(tags[i], toks[kept[0]][0], toks[kept[-1]][0] + len(toks[kept[-1]][1]), i, j))
        i = j
    merged: list[TaggedSpan] = []
    for span in runs:
        prev = merged[-1] if merged else None
        if (
            prev
            and prev.kind == span.kind
            and all(toks[k][1].lower().strip() in skip for k in range(prev.stop, span.first))
        ):
            merged[-1] = TaggedSpan(prev.kind, prev.start, span.end, prev.first, span.stop)
        else:
            merged.append(span)
    return merged


def _iou(span: TaggedSpan, others: Sequence[TaggedSpan]) -> float:
    """Character intersection over union of ``span`` and the union of ``others``."""
    own = set(range(span.start, span.end))
    theirs = set().union(*(range(o.start, o.end) for o in others))
    return len(own & theirs) / len(own | theirs)


def _count_iou(golds: Sequence[TaggedSpan], preds: Sequence[TaggedSpan], threshold: float, s: Scores) -> None:
    """Per gold span: the predictions that overlap it, grouped by type, each group one predicted
    span; the gold span is found when the group of its type reaches ``threshold`` IoU together.
    A prediction that overlaps no gold span is one predicted span (a false positive)."""
    touched: set[int] = set()
    for g in golds:
        s.n_gold[g.kind] += 1
        groups: dict[str, list[TaggedSpan]] = defaultdict(list)
        for k, p in enumerate(preds):
            if p.start < g.end and g.start < p.end:
                groups[p.kind].append(p)
                touched.add(k)
        for kind, group in groups.items():
            s.n_pred[kind] += 1
            if kind == g.kind and _iou(g, group) >= threshold:
                s.tp_gold[kind] += 1
                s.tp_pred[kind] += 1
    for k, p in enumerate(preds):
        if k not in touched:
            s.n_pred[p.kind] += 1


@dataclass
class IouScores:
    typed: Scores  # spans of each type matched against predictions of that type
    pii: Scores  # every type read as "PII" before spans are formed

    def row(self, entity: str | None = None) -> dict[str, float]:
        """Per entity: typed matches. Overall (``None``): PII against PII, type-agnostic."""
        return self.typed.row(entity) if entity else self.pii.row()


def iou_score(
    examples: Sequence[Example], predictions: Sequence[Sequence[Pred]], keep: Iterable[str], threshold: float
) -> IouScores:
    """presidio-research's span method (``SpanEvaluator``, read at commit 7622dec, no code copied;
    docs/pii.md): both sides tagged IO on spaCy tokens, predictions of types outside ``keep``
    dropped, spans formed and merged over skip words (``tagged_spans``), IoU on the character
    bounds of their non-skip tokens, a match at ``threshold`` or above."""
    keep = frozenset(keep)
    out = IouScores(
        Scores(Counter(), Counter(), Counter(), Counter()), Scores(Counter(), Counter(), Counter(), Counter())
    )
    for ex, pred in zip(examples, predictions, strict=True):
        toks = tokens(ex.text)
        g_tags = io_tags(toks, ex.gold)
        p_tags = [t if t in keep else "O" for t in io_tags(toks, pred)]
        _count_iou(tagged_spans(toks, g_tags), tagged_spans(toks, p_tags), threshold, out.typed)
        pii = [[t if t == "O" else "PII" for t in tags] for tags in (g_tags, p_tags)]
        _count_iou(tagged_spans(toks, pii[0]), tagged_spans(toks, pii[1]), threshold, out.pii)
    return out
