"""Is it English? The model's dictionary, and whether a word, its next words or a whole text are
English (the unknown-word and known-name stages judge only English text)."""

from __future__ import annotations

import re
from functools import lru_cache

from .common_words import common_word, stop_words
from .model import load_ner

INFLECTIONS = (
    ("'s", ""),
    ("’s", ""),
    ("s", ""),
    ("es", ""),
    ("ies", "y"),
    ("ed", ""),
    ("ed", "e"),
    ("ied", "y"),
    ("d", ""),
    ("ing", ""),
    ("ing", "e"),
    ("ly", ""),
    ("er", ""),
    ("est", ""),
)
PREFIXES = ("re", "un", "non", "pre", "over", "under", "mis", "dis")
LETTERS = "abcdefghijklmnopqrstuvwxyz"
LOWER_TOKEN = re.compile(r"(?<![\w'’])[a-zß-ÿ][a-zß-ÿ'’]*")
GOES_ON = re.compile(r",?[ \t]+([a-z][\w'’]*)(?:[ \t]+([\w'’]+))?")
# the commonest function words of Spanish, Portuguese, Italian and French (none an English word)
ROMANCE_WORDS = frozenset(
    "que el la los las de del en y por para con una es lo se su al pero muy si mi tu como nos les um uma não os "
    "il di che per et des est une dans pas qui".split()
)


@lru_cache(maxsize=4)
def english_words(model: str) -> frozenset[str]:
    """The base forms in the spaCy model's lemmatizer index (WordNet-derived, ~90k words in
    en_core_web_sm); empty for a model without a lookup lemmatizer, which turns
    ``unknown_word_spans`` off."""
    nlp = load_ner(model)
    if "lemmatizer" not in nlp.component_names:
        return frozenset()
    lookups = getattr(nlp.get_pipe("lemmatizer"), "lookups", None)
    if lookups is None or not lookups.has_table("lemma_index"):
        return frozenset()
    words = {w for forms in lookups.get_table("lemma_index").values() for w in forms}
    if lookups.has_table("lemma_exc"):  # irregular forms: "got", "children"
        words.update(w for forms in lookups.get_table("lemma_exc").values() for w in forms)
    return frozenset(words)


def is_english(word: str, words: frozenset[str]) -> bool:
    """An English word, an inflection of one, one with a prefix ("re-", "un-"...), or a hyphenated
    word with an English part."""
    w = word.lower().replace("’", "'")
    if "-" in w:
        return any(part.isdigit() or is_english(part, words) for part in w.split("-") if part)
    if any(w.startswith(p) and len(w) > len(p) + 3 and is_english(w[len(p) :], words) for p in PREFIXES):
        return True  # "Resparking"
    return (
        w in words or common_word(w) or any(w.endswith(e) and w[: -len(e)] + base in words for e, base in INFLECTIONS)
    )


def typo(word: str, words: frozenset[str]) -> bool:
    """A misspelt common word, one edit (a letter deleted, inserted, replaced or two swapped)
    from a stop word ("Hve", "Anyting", "Youre", "Thats"), or two words run together ("Alot",
    "Thankyou"; parts of three letters or more unless stop words): not a name."""
    w, stop = word.lower(), stop_words()
    splits = [(w[:i], w[i:]) for i in range(len(w) + 1)]
    edits = {a + b[1:] for a, b in splits if b}
    edits |= {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    edits |= {a + c + b[1:] for a, b in splits if b for c in LETTERS}
    edits |= {a + c + b for a, b in splits for c in LETTERS}
    if not edits.isdisjoint(stop):
        return True
    return any(all(p in stop or (len(p) >= 3 and p in words) for p in (a, b)) for a, b in splits[1:-1])


def english_goes_on(text: str, pos: int, words: frozenset[str]) -> bool:
    """An English sentence goes on at ``pos``: its next one or two words are English
    ("Shovda is very", "Aloisia, can I"; not "Ella no puede", nor a heading or signature line)."""
    m = GOES_ON.match(text, pos)
    return m is not None and all(w is None or is_english(w, words) for w in m.groups())


def english_text(text: str) -> bool:
    """Whether ``text`` is English enough to judge its unknown words and names: 15 % or more of
    its lower-case words are English stop words (English prose has 40 % and more, even tweets
    pass), and they outnumber twice over the commonest Spanish, Portuguese, Italian and French
    function words (a Spanish answer has 15-30 % English stop words: "a", "me", "no")."""
    lower, stop = LOWER_TOKEN.findall(text), stop_words()
    english = sum(w in stop for w in lower)
    romance = sum(w in ROMANCE_WORDS for w in lower)
    return english >= 2 * romance if len(lower) < 4 else english >= 0.15 * len(lower) and english > 2 * romance
