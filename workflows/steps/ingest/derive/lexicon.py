"""Versioned term lists and the phrase matcher behind lexicon tagging and ``where.text`` lexicon
filters (see docs/derived-families.md).

A lexicon is ``lexicons/v<version>/<name>.txt`` in this package: directives (``@scale``,
``@require``), ``[group]`` headers and ``<weight> <phrase>`` lines. A phrase is matched on word
tokens (lower-cased; apostrophes kept inside words, every other character separates), so
``c-ptsd`` matches "C-PTSD" and "c ptsd". A trailing ``*`` on the last word matches any word
that starts with it (``dissociat*``). A hit is *negated* when one of the three words before it,
in the same clause, is a negator (``not``, ``never``, ``no``, any ``-n't`` word...): "I'm not
suicidal" does not count as a hit for ``suicidal``.

Pure functions and frozen data; files are read once per (name, version).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)*")
_CLAUSE = re.compile(r"[.!?;:\n]+|\bbut\b|\bthough\b|\bhowever\b")
_REF = re.compile(r"^([a-z0-9][a-z0-9-]*)@([1-9][0-9]*)$")
NEGATORS = frozenset(
    {"not", "no", "never", "without", "nor", "hardly", "deny", "denies", "denied", "cannot", "nothing", "none"}
)
NEGATION_WINDOW = 3


class LexiconError(ValueError):
    """A lexicon that does not exist or does not parse."""


@dataclass(frozen=True)
class Term:
    words: tuple[str, ...]
    prefix: bool  # the last word is a prefix (``*``)
    weight: float
    group: str

    @property
    def text(self) -> str:
        return " ".join(self.words) + ("*" if self.prefix else "")


@dataclass(frozen=True)
class Lexicon:
    name: str
    version: int
    scale: float  # confidence = 1 - exp(-score / scale)
    require: tuple[str, ...]  # groups of which at least one must have a hit, or the confidence is 0
    terms: tuple[Term, ...]
    sha256: str  # of the file, part of a derived family's input digest
    by_first: dict[str, tuple[Term, ...]] = field(
        default_factory=dict, compare=False
    )  # terms by their exact first word
    by_prefix: tuple[Term, ...] = ()  # one-word prefix terms (checked at every word)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


@dataclass(frozen=True)
class Hit:
    term: Term
    start: int  # word index in the clause
    negated: bool


def tokens(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("\u2019", "'").replace("\u2018", "'"))


def clauses(text: str) -> list[list[str]]:
    """Word tokens of each clause: sentence ends and contrastive words (but, though, however) end a
    negation's reach."""
    return [words for part in _CLAUSE.split(text.lower()) if (words := tokens(part))]


def is_negator(word: str) -> bool:
    return word in NEGATORS or word.endswith("n't")


def parse_lexicon(name: str, version: int, text: str) -> Lexicon:
    scale, require, group, terms = 3.0, (), "terms", []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("@scale "):
            scale = float(line.split()[1])
        elif line.startswith("@require "):
            require = tuple(line.split()[1:])
        elif line.startswith("[") and line.endswith("]"):
            group = line[1:-1].strip()
        else:
            weight, _, phrase = line.partition(" ")
            try:
                w = float(weight)
            except ValueError:
                raise LexiconError(
                    f"{name}@{version} line {number}: expected '<weight> <phrase>', got {raw!r}"
                ) from None
            prefix = phrase.strip().endswith("*")
            words = tuple(tokens(phrase.strip().rstrip("*")))
            if not words:
                raise LexiconError(f"{name}@{version} line {number}: empty phrase")
            terms.append(Term(words, prefix, w, group))
    missing = [g for g in require if g not in {t.group for t in terms}]
    if missing:
        raise LexiconError(f"{name}@{version}: @require names groups without terms: {missing}")
    digest = hashlib.sha256(text.encode()).hexdigest()
    by_first: dict[str, list[Term]] = {}
    for term in terms:
        if not (term.prefix and len(term.words) == 1):
            by_first.setdefault(term.words[0], []).append(term)
    by_prefix = tuple(t for t in terms if t.prefix and len(t.words) == 1)
    return Lexicon(
        name, version, scale, require, tuple(terms), digest, {k: tuple(v) for k, v in by_first.items()}, by_prefix
    )


def available(version: int) -> list[str]:
    folder = resources.files(__package__).joinpath("lexicons", f"v{version}")
    return (
        sorted(p.name[: -len(".txt")] for p in folder.iterdir() if p.name.endswith(".txt")) if folder.is_dir() else []
    )


@cache
def load(name: str, version: int) -> Lexicon:
    """The shipped lexicon ``name`` at ``version``; :class:`LexiconError` names what exists when it does not."""
    path = resources.files(__package__).joinpath("lexicons", f"v{version}", f"{name}.txt")
    if not path.is_file():
        raise LexiconError(
            f"no lexicon {name!r} at version {version}; available at v{version}: {available(version) or 'none'}"
        )
    return parse_lexicon(name, version, path.read_text(encoding="utf-8"))


def load_ref(ref: str) -> Lexicon:
    """``name@version``, e.g. ``cptsd@1``."""
    match = _REF.match(ref.strip())
    if not match:
        raise LexiconError(f"{ref!r} is not a lexicon reference of the form name@version (e.g. cptsd@1)")
    return load(match.group(1), int(match.group(2)))


def _matches(term: Term, words: list[str], i: int) -> bool:
    n = len(term.words)
    if i + n > len(words):
        return False
    for k, want in enumerate(term.words):
        got = words[i + k]
        if k == n - 1 and term.prefix:
            if not got.startswith(want):
                return False
        elif got != want:
            return False
    return True


def find(lexicon: Lexicon, text: str | list[list[str]]) -> list[Hit]:
    """Every occurrence of every term in ``text`` (or its :func:`clauses`, to tokenize once for
    several lexicons), negated or not; overlapping terms all count."""
    hits = []
    for words in clauses(text) if isinstance(text, str) else text:
        for i, word in enumerate(words):
            for term in (*lexicon.by_first.get(word, ()), *lexicon.by_prefix):
                if _matches(term, words, i):
                    window = words[max(0, i - NEGATION_WINDOW) : i]
                    hits.append(Hit(term, i, any(is_negator(w) for w in window)))
    return hits


def count(lexicon: Lexicon, text: str) -> int:
    """Non-negated hits: what a ``where.text`` lexicon match counts."""
    return sum(not h.negated for h in find(lexicon, text))
