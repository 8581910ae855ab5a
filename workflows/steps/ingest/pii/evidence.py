"""What words are judged by in the name stages: the name lists, the model's dictionary and its
parts of speech (``NameEvidence``), and the common-phrase filter for the model's PERSON spans
(``NameEvidence.common_phrase``)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from .common_words import COMMON_CAPS
from .english import english_words, is_english
from .model import load_ner
from .name_lists import name_lists
from .shapes import NAME_WORD, name_shape


@dataclass(frozen=True)
class NameEvidence:
    """What ``known_name_spans`` judges words by (all lower case)."""

    first: frozenset[str]  # listed first names (``name_lists``)
    last: frozenset[str]  # listed last names
    words: frozenset[str]  # the English dictionary (``english_words``)
    nouns: frozenset[str]  # listed names that the dictionary has only as nouns (its proper nouns)
    not_nouns: frozenset[str]  # dictionary words that are verbs, adjectives, adverbs or inflected forms

    def english(self, word: str) -> bool:
        """An English word; capitalized, a listed name that the dictionary has only as a noun is
        not: WordNet's proper nouns ("Scott", "Sofia", "Lima"), unlike "Grace", "Guy", "Will" or
        "Rose", which are verbs, adjectives or inflected forms too."""
        return is_english(word, self.words) and not (name_shape(word) == "title" and word.lower() in self.nouns)

    def listed(self, word: str) -> bool:
        return word.lower() in self.first or word.lower() in self.last

    def common_phrase(self, value: str) -> bool:
        """Whether ``value`` is a capitalized English phrase rather than a name: two or more
        words, each an English word and no listed name ("Guilty Pleasures", "Personality
        Disorder"; "Grace Park" holds a listed name), or one word that is also a verb, adjective or
        adverb ("Discipline", "Zoom") or a common capitalized word ("Mom", "COVID-19"). One word
        that the dictionary has only as a noun may be its proper noun ("Hitler", "Portland",
        "Garbo"): it stays."""
        found = [w for w, _ in NAME_WORD.findall(value)]
        if not found or not all(
            is_english(w, self.words) and not any(self.listed(p) for p in w.split("-")) for w in found
        ):
            return False
        base = found[0].split("-")[0]
        return len(found) > 1 or base.lower() in self.not_nouns or base in COMMON_CAPS  # "COVID-19", "Mom"


@lru_cache(maxsize=4)
def name_evidence(model: str) -> NameEvidence:
    names, words = name_lists(), english_words(model)
    if not words:
        return NameEvidence(names.first, names.last, words, frozenset(), frozenset())
    lookups = load_ner(model).get_pipe("lemmatizer").lookups
    index = lookups.get_table("lemma_index")
    other = {w for pos in ("verb", "adj", "adv") for w in index.get(pos, ())}
    if lookups.has_table("lemma_exc"):
        other.update(w for forms in lookups.get_table("lemma_exc").values() for w in forms)
    nouns = frozenset(w for w in index.get("noun", ()) if w not in other and (w in names.first or w in names.last))
    return NameEvidence(names.first, names.last, words, nouns, frozenset(other))
