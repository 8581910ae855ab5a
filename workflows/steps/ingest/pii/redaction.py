"""Redaction: spans replaced by ``<ENTITY_TYPE>`` placeholders with presidio-anonymizer's
``replace`` operator."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from .spans import Span


def redact(text: str, spans: Sequence[Span]) -> str:
    """Replace each span with ``<ENTITY>`` using presidio-anonymizer's replace operator."""
    if not spans:
        return text
    from presidio_anonymizer.entities import RecognizerResult

    results = [RecognizerResult(s.entity, s.start, s.end, s.score) for s in spans]
    return _anonymizer().anonymize(text=text, analyzer_results=results).text


@lru_cache(maxsize=1)
def _anonymizer() -> Any:
    from presidio_anonymizer import AnonymizerEngine

    return AnonymizerEngine()
