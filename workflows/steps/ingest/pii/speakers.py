"""Dialogue speaker labels ("Nicole: Remember me?") as PERSON, and the field and role names that
are no speaker ("Phone:", "Therapist:")."""

from __future__ import annotations

import re

from .common_words import common_word
from .shapes import CAP
from .spans import Span

SPEAKER = re.compile(rf"(?m)^[ \t>]*({CAP})[ \t]*:(?=[ \t]*\S)")
FIELD_WORDS = frozenset(
    "mobile desk fax phone tel telephone cell email e-mail website web url address name title note notes update edit "
    "answer question q a re subject from to cc bcc date time where when who what user bot assistant system therapist "
    "counselor counsellor client patient doctor nurse interviewer interviewee speaker host guest moderator admin op "
    "example step tip tips warning summary source ps p.s. reply response comment comments status location occupation "
    "job company school reason diagnosis medication medications history plan goal goals session day week part "
    "chapter".split()
)


def speaker_spans(text: str) -> list[Span]:
    """Dialogue speaker labels ("Nicole: Remember me?"): a capitalized word and a colon at the
    start of a line, when at least two lines of the text carry such labels and the word is
    neither a common word nor a field or role name ("Phone:", "Therapist:")."""
    found = [
        m for m in SPEAKER.finditer(text) if m.group(1).lower() not in FIELD_WORDS and not common_word(m.group(1))
    ]
    if len(found) < 2:
        return []
    return [Span(m.start(1), m.end(1), "PERSON", 0.6, "speaker") for m in found]
