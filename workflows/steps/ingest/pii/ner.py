"""Stage 2, the model: spaCy NER on the chunks that need it (``chunks.ner_chunks``), its labels
mapped to PERSON and LOCATION, without common phrases ("Personality Disorder") and without
employers ("I work for Datamyne")."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from .evidence import name_evidence
from .model import load_ner
from .spans import Span

NER_LABELS = {"PERSON": "PERSON", "GPE": "LOCATION", "LOC": "LOCATION", "FAC": "LOCATION"}
EMPLOYER_CUE = re.compile(r"\b(?:work|works|worked|working)[ \t]+(?:for|at)[ \t]+$")


def model_spans(
    texts: Sequence[str], chunks: Sequence[tuple[int, int, int]], entities: frozenset[str], model: str, batch_size: int
) -> Iterator[tuple[int, Span]]:
    """The model's spans in ``chunks`` ((text index, start, end), batched with ``nlp.pipe``), as
    (text index, span in text offsets), score 0.65."""
    nlp = load_ner(model)
    pieces = (texts[i][a:b] for i, a, b in chunks)
    for (i, a, _), doc in zip(chunks, nlp.pipe(pieces, batch_size=batch_size)):
        for ent in doc.ents:
            entity = NER_LABELS.get(ent.label_)
            if entity not in entities:
                continue
            if entity == "PERSON" and name_evidence(model).common_phrase(ent.text):
                continue  # "Personality Disorder", "Zoom"
            start = a + ent.start_char
            if entity == "LOCATION" and EMPLOYER_CUE.search(texts[i], 0, start):
                continue  # "I work for Datamyne": a company
            yield i, Span(start, a + ent.end_char, entity, 0.65, "spacy")
