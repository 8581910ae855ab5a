"""The detector: the four stages over a batch of texts (see the package docstring), overlaps
resolved and low scores dropped."""

from __future__ import annotations

from collections.abc import Sequence

from .chunks import ner_chunks
from .english import english_words
from .evidence import name_evidence
from .known_names import known_name_spans
from .model import DEFAULT_NER_MODEL
from .ner import NER_LABELS, model_spans
from .person_repairs import refine_persons
from .recognizers import regex_spans
from .spans import Span, resolve_overlaps
from .unknown_words import unknown_word_spans


class PiiDetector:
    """Detects PII spans in batches of texts (see the package docstring for the method)."""

    def __init__(
        self,
        entities: Sequence[str],
        threshold: float = 0.5,
        ner_model: str = DEFAULT_NER_MODEL,
        batch_size: int = 256,
    ):
        self.entities = frozenset(entities)
        self.threshold = threshold
        self.ner_model = ner_model
        self.batch_size = batch_size
        self.ner_entities = self.entities & set(NER_LABELS.values())
        self.ner_texts = 0  # texts with at least one chunk sent to NER
        self.ner_chars = 0  # characters sent to NER

    def detect(self, texts: Sequence[str]) -> list[list[Span]]:
        found = [regex_spans(t, self.entities) for t in texts]
        if self.ner_entities:
            todo = [(i, a, b) for i, t in enumerate(texts) for a, b in ner_chunks(t)]
            if todo:
                self.ner_texts += len({i for i, _, _ in todo})
                self.ner_chars += sum(b - a for _, a, b in todo)
                for i, span in model_spans(texts, todo, self.ner_entities, self.ner_model, self.batch_size):
                    found[i].append(span)
                words = english_words(self.ner_model)  # on the same chunks: what the model missed
                for i, a, b in todo:
                    found[i] += [
                        Span(a + s.start, a + s.end, s.entity, s.score, s.recognizer)
                        for s in unknown_word_spans(texts[i][a:b], words)
                        if s.entity in self.ner_entities
                    ]
        if "PERSON" in self.entities:
            evidence = name_evidence(self.ner_model)
            for spans, text in zip(found, texts):
                spans += known_name_spans(text, evidence)
            found = [refine_persons(t, resolve_overlaps(spans)) for t, spans in zip(texts, found)]
        return [resolve_overlaps(s for s in spans if s.score >= self.threshold) for spans in found]
