"""Street addresses and intersections (LOCATION), read token by token, and the street words that
the PERSON repairs also use ("Crown St" is a street, not a person)."""

from __future__ import annotations

import re

from .common_words import common_word
from .spans import Span

STREET_NAMES = (
    r"(?:St|Str|Street|Rd|Road|Ave|Avenue|Blvd|Boulevard|Dr|Drive|Ln|Lane|Way|Ct|Court|Pl|Place|Terrace|Turnpike|"
    r"Mall|Square|Sq|Plaza|Parkway|Pkwy|Highway|Hwy|Crescent|Close|Gardens|Hills|Coves?|Point|Alley|Row|Walk)\b\.?"
)
STREET_SUFFIX = re.compile(rf"[ \t]*{STREET_NAMES}")  # used with .match(text, pos)
STREET_WORD = re.compile(rf"[ \t]{STREET_NAMES}", re.I)

ADDRESS_START = re.compile(
    r"\b(?:\d{1,6}(?:[ \t]+\d{1,5})?[ \t]+(?=[^\W\d_])|PSC[ \t]+\d+|P\.?O\.?[ \t]+Box[ \t]+\d+)"
)
ADDRESS_TOKEN = re.compile(r"[^\s,]+|,|\n")
# street types whose street name may follow in lower case ("rue de pologne", "avenida praia")
STREET_TYPES = frozenset(
    "rue avenue avenida av. calle carrer via viale vicolo piazza rua travessa strasse straße str. gasse weg gate gata "
    "gatan vej vägen väg tie katu út utca ulica ul. trg plac".split()
)
ADDRESS_WORDS = STREET_TYPES | frozenset(
    "apt apt. suite unit box street st st. ave ave. road rd rd. drive dr. lane way boulevard blvd place court "
    "du de da do dos das del della delle dei des e la le les van von der den di y and of u. p.o. po".split()
)
CONNECTORS = frozenset("du de da do dos das del della delle dei des e la le les van von der den di y and of".split())
LINE_PREFIX = re.compile(r"[>?*•·#-]+")  # quoting or bullet marks before a line of an address block
ADDRESS_MAX_TOKENS = 20


def address_spans(text: str) -> list[Span]:
    """Street addresses: a house number followed by capitalized (or street) words, extended over
    following comma- or line-separated parts (city, region, country, postcode) while they look
    like address parts; stops at the first ordinary lower-case word or sentence end. Quoting or
    bullet marks that start a line ("> Suite 828") are read through; the street name after a
    street type may be lower case ("rue des lieutemants"). An address with a street word scores
    0.7, above the model's names ("Crown St" is no person), one without 0.6."""
    out: list[Span] = []
    pos = 0
    while (m := ADDRESS_START.search(text, pos)) is not None:
        end, words, full_stop, number_dot, street_name, street = m.end(), 0, False, False, False, False
        prev = m.end()
        for tok in ADDRESS_TOKEN.finditer(text, m.end()):
            word, gap, prev = tok.group(), text[prev : tok.start()], tok.end()
            if word in ("\n", ","):
                continue
            if text[end : tok.start()].count("\n") > 2 or words >= ADDRESS_MAX_TOKENS or word.endswith(":"):
                break
            if "\n" in gap + text[tok.start() - 1 : tok.start()] and LINE_PREFIX.fullmatch(word):
                continue
            head = re.split(r"[?!]", word, maxsplit=1)[0]
            core = head.strip("().>")
            lower = head.lower()
            if not core or not (
                core[0].isdigit() or core[0].isupper() or lower in ADDRESS_WORDS or (street_name and core.isalpha())
            ):
                break
            street |= lower in ADDRESS_WORDS and lower not in CONNECTORS
            street_name = lower in STREET_TYPES or (street_name and lower in CONNECTORS)
            if full_stop and (
                common_word(core) or (number_dot and not (core[0].isdigit() or head.lower() in ADDRESS_WORDS))
            ):
                break  # "... Drive. It serves", "... 60810. Kids": a full stop ended the sentence
            full_stop, number_dot = head.endswith("."), head.endswith(".") and core[0].isdigit()
            if core[0].isdigit() or core[0].isupper() or head.lower() not in CONNECTORS:
                words += 1  # a connector ("de", "and") counts only once a real part follows it
                end = tok.start() + len(head)
            if head != word:  # sentence end inside the token
                break
        if words >= 2:  # "3 PM" or "2 Kids" alone is not an address
            value = text[m.start() : end].rstrip(" \t\n,.>")
            street |= bool(STREET_WORD.search(value))
            if not street and any(w[0].isupper() and common_word(w) for w in value.split()[1:]):
                pos = m.end()  # "5 Musicians Of The 70s": a title, not an address
                continue
            out.append(Span(m.start(), m.start() + len(value), "LOCATION", 0.7 if street else 0.6, "address"))
            pos = m.start() + len(value)
        else:
            pos = m.end()
    return out


CORNER = re.compile(r"\b(?:[Tt]he[ \t]+)?corner[ \t]+of[ \t]+")
CORNER_WORDS = ADDRESS_WORDS | {"str", "str.", "rkp."}


def corner_spans(text: str) -> list[Span]:
    """Intersections: "the corner of <street> and <street>", each street a run of capitalized,
    numeric or street words."""
    out: list[Span] = []
    for m in CORNER.finditer(text):
        end, seen_and, after_and = m.end(), False, 0
        for tok in re.finditer(r"[^\s,?!]+", text[m.end() :]):
            word, start = tok.group(), m.end() + tok.start()
            if text[end:start].strip(" \t") or "\n" in text[end:start]:
                break
            if word == "and" and not seen_and and end > m.end():
                seen_and, end = True, start + len(word)
                continue
            core = word.rstrip(".")
            if not core or not (core[0].isdigit() or core[0].isupper() or word.lower() in CORNER_WORDS):
                break
            end = start + len(word)
            after_and += seen_and
        if seen_and and after_and:
            value = text[m.start() : end].rstrip(".")
            out.append(Span(m.start(), m.start() + len(value), "LOCATION", 0.75, "corner"))
    return out
