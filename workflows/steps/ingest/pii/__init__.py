"""PII/PHI detection and redaction, with a fast path.

Four stages, all deterministic (each module holds one job):

1. **Regex recognizers on every text** (``recognizers``; one compiled pattern per entity,
   validators where a checksum exists: ``validators``): EMAIL_ADDRESS, URL, PHONE_NUMBER, US_SSN,
   CREDIT_CARD (Luhn), IBAN_CODE (mod 97), IP_ADDRESS, AGE (numbers with age context),
   DATE_OF_BIRTH (dates with birth context), MEDICAL_RECORD_NUMBER and INSURANCE_NUMBER (ids
   after MRN/policy/member context), LOCATION (street addresses and intersections:
   ``addresses``; places after "moved from"/"grew up in"..., military addresses, postcodes after
   a place, country and US state names: ``place_names``) and PERSON (names after cues such as
   "my name is", "Mr.", "Name:"; dialogue speaker labels: ``speakers``).
2. **NER only where it can matter**: texts are cut into sentence-like chunks, and a chunk
   goes to spaCy only if it has a capitalized word that is not a common word, a filler ("Um") or
   a sentence adverb in sentence-initial position (``chunks.needs_ner``; the words that are never
   names: ``common_words``): most conversational sentences never reach the model. Texts are
   batched with ``nlp.pipe`` and every component but ``ner`` is disabled (``model``; the small
   English model's NER has its own tok2vec). spaCy PERSON -> PERSON, GPE/LOC/FAC -> LOCATION
   (``ner``). On the same chunks, capitalized words that are no English word (the model's own
   lemmatizer index as the dictionary: ``english``; ``unknown_words``) become a PERSON at
   sentence start or a LOCATION after "in"/"at"/"near", at a low score: names the small model
   misses. Model PERSON spans that are common phrases ("Personality Disorder", "Zoom") are
   dropped (``evidence.NameEvidence.common_phrase``).
3. **Known names** (``known_names``) on every English sentence: listed first names (Faker's
   person providers, ``name_lists``) in any case, with the initials, particles and last names
   after them, guarded against common words ("long day") and proper nouns used as common nouns
   ("Christmas Eve").
4. **PERSON repairs** (``person_repairs``): titles, possessives and trailing lower-case words
   cut off, street-like "names" turned into LOCATION, company names dropped, first names and
   initials joined, split names merged, names propagated to lists and to repeated mentions in
   the same text.

US_DRIVER_LICENSE is deliberately absent: its pattern fires on ordinary numbers and words.
Overlaps are resolved by score, then length (``spans``); redaction uses presidio-anonymizer's
``replace`` operator with ``<ENTITY_TYPE>`` placeholders (``redaction``). ``detector`` runs the
stages over a batch of texts.
"""

from __future__ import annotations

from .addresses import address_spans, corner_spans
from .chunks import needs_ner, ner_chunks, sentences
from .detector import PiiDetector
from .english import english_words
from .evidence import NameEvidence, name_evidence
from .known_names import known_name_spans
from .model import DEFAULT_NER_MODEL, load_ner
from .ner import NER_LABELS
from .person_repairs import refine_persons
from .recognizers import RECOGNIZERS, Recognizer, regex_spans
from .redaction import redact
from .spans import Span, resolve_overlaps
from .speakers import speaker_spans
from .unknown_words import unknown_word_spans

__all__ = [
    "DEFAULT_NER_MODEL",
    "NER_LABELS",
    "RECOGNIZERS",
    "NameEvidence",
    "PiiDetector",
    "Recognizer",
    "Span",
    "address_spans",
    "corner_spans",
    "english_words",
    "known_name_spans",
    "load_ner",
    "name_evidence",
    "needs_ner",
    "ner_chunks",
    "redact",
    "refine_persons",
    "regex_spans",
    "resolve_overlaps",
    "sentences",
    "speaker_spans",
    "unknown_word_spans",
]
