"""Checks that a regex match is what its recognizer claims: checksums (Luhn, IBAN mod 97), number
formats (SSN, IP, phone) and cue-found names without common words."""

from __future__ import annotations

import re

from .common_words import COMMON_CAPS, OPENER_SHAPE, common_word


def luhn(digits: str) -> bool:
    total, parity = 0, len(digits) % 2
    for i, ch in enumerate(digits):
        d = int(ch)
        if i % 2 == parity:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def credit_card_ok(text: str) -> bool:
    digits = re.sub(r"\D", "", text)
    return 13 <= len(digits) <= 19 and luhn(digits)


def iban_ok(text: str) -> bool:
    s = re.sub(r"\s", "", text).upper()
    s = s[4:] + s[:4]
    try:
        return int("".join(str(int(c, 36)) for c in s)) % 97 == 1
    except ValueError:
        return False


def ssn_ok(text: str) -> bool:
    digits = re.sub(r"\D", "", text)
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return area not in {"000", "666"} and group != "00" and serial != "0000" and len(set(digits)) > 1


def ip_ok(text: str) -> bool:
    return ":" in text or all(0 <= int(p) <= 255 for p in text.split("."))


def phone_ok(text: str) -> bool:
    if re.match(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\b|\d{1,2}[-/.]\d{1,2}[-/.]\d{4}\b", text):
        return False  # a date
    digits = re.sub(r"\D", "", re.split(r"[ ]?(?:x|ext)", text)[0])  # without an extension
    return 7 <= len(digits) <= 15 and len(set(digits)) > 2


def name_ok(text: str) -> bool:
    """A cue-found name holds no common word ("says I", "called The", "I-- Like I said"), nor
    starts with a common capitalized one ("Mom")."""
    words = text.split()
    return words[0] not in COMMON_CAPS and not any(
        common_word(w.strip("-–")) or OPENER_SHAPE.fullmatch(w) for w in words
    )
