"""Stage 1, structured patterns: one compiled pattern per entity, on every text, with a validator
where a checksum or format exists (e-mails, URLs, phone numbers, SSNs, cards, IBANs, IPs, ages,
dates of birth, record and insurance ids, places after cues, countries, postcodes, names after
cues), plus the street addresses, intersections and speaker labels read by their own code."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .addresses import address_spans, corner_spans
from .place_names import COUNTRIES, LOWER_COUNTRIES, US_STATES
from .shapes import CAP, NAME
from .spans import Span
from .speakers import speaker_spans
from .validators import credit_card_ok, iban_ok, ip_ok, name_ok, phone_ok, ssn_ok


@dataclass(frozen=True)
class Recognizer:
    name: str
    entity: str
    pattern: re.Pattern[str]
    score: float
    group: int = 0  # 0: the whole match; n: group n; -1: the first group that took part
    validate: Callable[[str], bool] | None = None


UPPER = "A-ZÀ-ÖØ-ÞĀ-ŽΑ-ΩА-Я"
KIN = (  # "my son Jake", "my therapist Anna"
    "kid|son|daughter|child|baby|wife|husband|partner|spouse|boyfriend|girlfriend|fianc[ée]e?|ex|friend|best friend|"
    "brother|sister|mom|mum|mother|dad|father|aunt|uncle|cousin|niece|nephew|grandma|grandmother|grandpa|grandfather|"
    "stepmom|stepdad|roommate|neighbou?r|boss|manager|coworker|co-worker|colleague|teacher|therapist|counsell?or|"
    "doctor"
)
PLACE = (
    rf"[{UPPER}][\w'’-]*(?:[ \t]+(?:[{UPPER}][\w'’-]*|de|del|la|nad|am|upon))*"
    rf"(?<![ \t]de)(?<![ \t]del)(?<![ \t]la)"
)
TLDS = (
    "com|org|net|edu|gov|io|info|biz|co|us|uk|de|fr|es|it|nl|be|ch|at|se|no|dk|fi|pt|br|ca|au|ru|pl|cz|gr|ie|uy|cy|hu|"
    "ee|lv|lt|is|jp|cn|in"
)

RECOGNIZERS: list[Recognizer] = [
    Recognizer("email", "EMAIL_ADDRESS", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b"), 1.0),
    Recognizer(
        "url",
        "URL",
        re.compile(
            r"\b(?:https?://|www\.)[^\s<>\"'|]+[^\s<>\"'|.,;:!?)\]]"
            rf"|\b(?<!@)(?:[A-Za-z0-9-]+\.)+(?:{TLDS})\b"
            r"(?:/[^\s<>\"']*[^\s<>\"'.,;:!?)])?"
        ),
        0.85,
    ),
    Recognizer("ssn", "US_SSN", re.compile(r"\b\d{3}([- ])\d{2}\1\d{4}\b"), 0.9, validate=ssn_ok),
    Recognizer(
        "ssn_context",
        "US_SSN",
        re.compile(r"(?i)\b(?:ssn|social security(?: number)?)\D{0,20}?(\d{9})\b"),
        0.9,
        group=1,
        validate=ssn_ok,
    ),
    Recognizer("credit_card", "CREDIT_CARD", re.compile(r"\b(?:\d[ -]?){12,18}\d\b"), 0.9, validate=credit_card_ok),
    Recognizer(
        "card_context", "CREDIT_CARD", re.compile(r"(?i)\bcard\b\D{0,25}?\b((?:\d[ -]?){12,18}\d)\b"), 0.8, group=1
    ),
    Recognizer(
        "iban",
        "IBAN_CODE",
        re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b"),
        0.95,
        validate=iban_ok,
    ),
    Recognizer(
        "ip",
        "IP_ADDRESS",
        re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.]*\d)|\b(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}\b"),
        0.9,
        validate=ip_ok,
    ),
    Recognizer(
        "phone",
        "PHONE_NUMBER",
        re.compile(
            r"(?<![\w-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,5}(?:[ .-]\d{2,5}){1,4}"
            r"(?:[ ]?(?:x|ext\.?)[ ]?\d{1,6})?(?![\w-])(?!\.\d)(?!:\d)"
        ),
        0.55,
        validate=phone_ok,
    ),
    Recognizer(
        "phone_compact",
        "PHONE_NUMBER",
        re.compile(r"(?i)(?:phone|call|text|tel|mobile|cell|number|desk|fax)\D{0,20}?(\+?\d{7,15})\b"),
        0.7,
        group=1,
    ),
    Recognizer(
        "age",
        "AGE",
        re.compile(
            r"(?i)\b(\d{1,3})(?=[ -]?(?:years?|yrs?)[ -]?old\b|[ -]year[ -]old\b)"
            r"|(?i:\b(?:i'?m|i am|i'?ll turn|turn(?:ed|s|ing)?|aged?|age:|he is|she is|he's|she's|he was|she was"
            r"|is an?|when i was|i was|this)\s+)(\d{1,3})\b"
            r"(?![.,]\d|\s*(?:%|percent|am\b|pm\b|o'clock|minutes|hours|days|weeks|months|times|dollars|kg|lbs"
            r"|pounds))"
        ),
        0.7,
        group=-1,
    ),
    Recognizer(
        "date_of_birth",
        "DATE_OF_BIRTH",
        re.compile(
            r"(?i)\b(?:born(?: on| in)?|d\.?o\.?b\.?:?|date of birth:?|birth ?day(?: is)?:?)\s*"
            r"((?:\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4})|(?:\d{4}-\d{2}-\d{2})"
            r"|(?:[A-Z][a-z]+\.? \d{1,2}(?:st|nd|rd|th)?,? \d{4})"
            r"|(?:\d{1,2}(?:st|nd|rd|th)? (?:of )?[A-Z][a-z]+,? \d{4}))"
        ),
        0.85,
        group=1,
    ),
    Recognizer(
        "mrn",
        "MEDICAL_RECORD_NUMBER",
        re.compile(r"(?i)\b(?:mrn|medical record(?: number| no\.?| #)?|patient id)\W{0,5}([A-Z0-9-]{5,15})\b"),
        0.85,
        group=1,
    ),
    Recognizer(
        "insurance",
        "INSURANCE_NUMBER",
        re.compile(
            r"(?i)\b(?:insurance|policy|member|medicaid|medicare|subscriber)(?: id| number| no\.?| #)"
            r"\W{0,5}([A-Z0-9-]{6,20})\b"
        ),
        0.85,
        group=1,
    ),
    Recognizer(
        "street_tail",
        "LOCATION",
        re.compile(
            rf"\b(?:{CAP}[ \t]+){{0,3}}{CAP}[ \t]+\d{{1,5}}[A-Za-z]?\b"
            rf"(?=[ \t]*(?:,|\n|$|Apt|Suite|St\.|and\b|\.\s*$))"
        ),
        0.7,
        validate=name_ok,
    ),
    Recognizer(
        "place_cue",
        "LOCATION",
        re.compile(
            rf"\b(?:moved (?:here |there |back )?(?:from|to)|flew (?:in )?(?:to|from)|grew up in|originally from|"
            rf"(?:I|we|they|he|she) (?:live|lived|lives) in|born in|based in|returned to|travel(?:l?ed)? to|Where:)"
            rf"[ \t]+({PLACE})"
        ),
        0.7,
        group=1,
        validate=name_ok,
    ),
    Recognizer(
        "military_address",
        "LOCATION",
        re.compile(rf"\b(?:USNS|USS|USCGC)[ \t]+{CAP}|\b(?:FPO|APO|DPO)[ \t]+A[AEP][ \t]+\d{{5}}\b"),
        0.8,
    ),
    Recognizer("country", "LOCATION", re.compile(rf"\b(?:{COUNTRIES}|{US_STATES})\b"), 0.75),
    Recognizer(
        "country_lower",
        "LOCATION",
        re.compile(rf"\b(?:from|in|to|near|visit|visited|visiting)[ \t]+({LOWER_COUNTRIES})\b"),
        0.6,
        group=1,
    ),
    Recognizer(
        "zip_context",
        "LOCATION",
        re.compile(r"(?i)\b(?:zip(?: code)?|postcode|postal code)(?: is)?:?\s*([A-Z0-9]{2,5}(?: ?[A-Z0-9]{2,4})?)\b"),
        0.8,
        group=1,
    ),
    Recognizer(
        "address_context",
        "LOCATION",
        re.compile(
            r"(?i)\b(?:address(?: is)?:|lives? (?:at|on)|located at)[ \t]*\n?[ \t]*([^\n?!]{6,80}?)(?=[.?!]|\n|$)"
        ),
        0.55,
        group=1,
    ),
    Recognizer(
        "name_cue",
        "PERSON",
        re.compile(
            rf"(?:\b(?:[Mm]y name is|(?:[Ff]irst |[Ll]ast |[Mm]aiden |[Mm]iddle |[Ff]ull )?[Nn]ame(?: is|:|\?)"
            rf"|(?:I'?m|I am|[Hh]e'?s|[Ss]he'?s|(?:[Hh]e|[Ss]he|[Ww]ho) (?:is|was)|was) called|[Cc]all me|[Tt]his is|"
            rf"[Ss]igned,?|[Rr]egards,?|[Ss]incerely,?|[Dd]ear|[Bb]y:|User:|[Dd]irected by|[Ss]tarring|[Tt]ribute to|"
            rf"[Aa]ssistant to|[Ss]ays|[Ss]aid|[Tt]alked to|[Ss]poke (?:to|with)|[Mm]arried|[Dd]ating|[Nn]amed"
            rf"|under my \w+'s name)[ \t]+)({NAME})"
            rf"|\b(?i:mr|mrs|ms|miss|dr|prof)\.?[ \t]+({CAP}(?:[ \t]+{CAP})?)"
        ),
        0.8,
        group=-1,
        validate=name_ok,
    ),
    Recognizer(
        "name_kin", "PERSON", re.compile(rf"\b[Mm]y[ \t]+(?:{KIN})[ \t]+({NAME})"), 0.8, group=1, validate=name_ok
    ),
    Recognizer(
        "name_speech",
        "PERSON",
        re.compile(
            rf"\b({CAP}(?:[ \t]+{CAP})?)[ \t]+(?:said|says|told|asked|shouted|yelled|replied|whispered|lives|lived)\b"
        ),
        0.7,
        group=1,
        validate=name_ok,
    ),
    Recognizer(
        "name_line",
        "PERSON",
        # the first line of a block only: the lines under a name are a title or a company
        re.compile(
            r"(?m)(?:\A(?:[ \t>]*\n)*|\n[ \t>]*\n)[ \t>]*"
            r"((?:[A-ZÀ-ÖØ-Þ][\w'’-]+)(?:[ \t]+(?:[A-Z]\.?|[A-ZÀ-ÖØ-Þ][\w'’-]+)){1,2})[ \t]*$"
        ),
        0.55,
        group=1,
    ),
    Recognizer("name_lower", "PERSON", re.compile(r"\bmy name is ([a-z]+(?: [a-z]+)?)\b(?<!\bnot)"), 0.6, group=1),
]


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
