"""Topic tags with a confidence in [0, 1] for a conversation (``source.derive.tag``).

The lexicon strategy scores each tag from its term list (see :mod:`.lexicon`):

* every non-negated hit adds ``term weight x role weight``: user turns 1.0, assistant turns 0.5
  (a counsellor often echoes or asks about a topic the client never raised), system text 0;
* one term counts at most :data:`MAX_REPEATS` times per conversation, so a word repeated
  through a long session cannot tag it on its own;
* a lexicon with ``@require`` groups scores 0 unless one of those groups has a hit;
* confidence = ``1 - exp(-score / scale)``, rounded to 4 places; the tag is kept when it
  reaches ``minConfidence``.

The embedding strategy needs a local sentence-embedding model; pixelgate downloads none, and a
spec that asks for it without one fails naming ``source.derive.tag.model``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from ....api.dataset_family import Tagging
from .lexicon import Lexicon, LexiconError, clauses, find, load

ROLE_WEIGHTS = {"user": 1.0, "assistant": 0.5, "system": 0.0}
MAX_REPEATS = 2


class TaggingError(ValueError):
    """A tagging spec that cannot run; ``field`` is the spec field to fix."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def score(lexicon: Lexicon, turns: Sequence[tuple[str, str | list[list[str]]]]) -> float:
    """Confidence of ``lexicon``'s tag for ``turns`` ((role, text or its clauses) pairs)."""
    total, used, groups = 0.0, Counter[str](), set()
    for role, text in turns:
        weight = ROLE_WEIGHTS.get(role, 0.0)
        if not weight:
            continue
        for hit in find(lexicon, text):
            if hit.negated or used[hit.term.text] >= MAX_REPEATS:
                continue
            used[hit.term.text] += 1
            groups.add(hit.term.group)
            total += hit.term.weight * weight
    if lexicon.require and not groups & set(lexicon.require):
        return 0.0
    return round(1.0 - math.exp(-total / lexicon.scale), 4)


class LexiconTagger:
    def __init__(self, tags: Sequence[str], version: int, min_confidence: float):
        try:
            self.lexicons = [load(tag, version) for tag in tags]
        except LexiconError as err:
            raise TaggingError("source.derive.tag.tags", str(err)) from None
        self.min_confidence = min_confidence

    def scores(self, turns: Sequence[tuple[str, str]]) -> dict[str, float]:
        """Every tag's confidence, kept or not (the evaluation reads these)."""
        tokenized = [(role, clauses(text)) for role, text in turns if ROLE_WEIGHTS.get(role)]
        return {lex.name: score(lex, tokenized) for lex in self.lexicons}

    def tag(self, turns: Sequence[tuple[str, str]]) -> dict[str, float]:
        """The tags that reach the confidence floor."""
        return {name: c for name, c in self.scores(turns).items() if c >= self.min_confidence and c > 0}


def make_tagger(spec: Tagging) -> LexiconTagger:
    """The tagger a spec asks for, or :class:`TaggingError` naming the field to fix."""
    if spec.strategy == "embedding":
        where = spec.model or "(no model given)"
        if not spec.model or not Path(spec.model).is_dir():
            raise TaggingError(
                "source.derive.tag.model",
                f"strategy embedding needs a local sentence-embedding model folder, and {where} is not one; pixelgate "
                "downloads no models: install one and give its path, or use strategy lexicon",
            )
        raise TaggingError(
            "source.derive.tag.strategy",
            f"strategy embedding is not available in this pipeline version (model {where} "
            f"found but no embedding tagger "
            "is built in); use strategy lexicon",
        )
    return LexiconTagger(spec.tags, spec.lexicon_version, spec.min_confidence)
