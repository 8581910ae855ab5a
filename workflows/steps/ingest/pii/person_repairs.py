"""Stage 4, PERSON repairs: titles, possessives and trailing words cut off, street-like "names"
turned into LOCATION, company names dropped, split names joined, names propagated to lists and
to repeated mentions in the same text."""

from __future__ import annotations

import re

from .addresses import STREET_SUFFIX, STREET_WORD
from .common_words import common_word, stop_words
from .shapes import CAP
from .spans import Span
from .speakers import FIELD_WORDS

TITLE_HEAD = re.compile(
    # a lower-case prefixed word before a name ("ex-Zombie Lundberg"), then titles
    r"^(?:[a-z][\w'’]*-[A-Z][\w'’]*[ \t]+(?=[A-Z]))?"
    r"(?:(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Dame|Producer|Officer|Nurse|Coach|Judge|Colonel|Col|Captain|Capt|Sergeant"
    r"|Sgt|Lieutenant|Lt|General|Gen|Rev|Reverend|Pastor)\.?(?:[ \t]+|$))*"
)
NAME_TAIL = re.compile(r"(?:['’]s|[ \t]+(?:Apt|Suite|Unit)\.?)$")
LABEL_OR_QUOTE = re.compile(r"[ \t]*[:\"“”]")
FIRST_AND_INITIAL = re.compile(rf"(?<![\w'’-])({CAP})[ \t]+[A-Z]\.?[ \t]+$")
FIRST_NAME = re.compile(rf"(?<![\w'’-])({CAP})[ \t]+$")
INITIAL = re.compile(r"[A-Z]\.?[ \t]")
LOWER_WORD = re.compile(r",?[ \t]+([a-z][\w'’]*)")  # cut before a stop word: "Harris, see ..."
HOUSE_NUMBER = re.compile(r"[ \t]+\d{1,5}[A-Za-z]?\b(?=[ \t]*(?:,|\n|$|Apt|Suite|St\.|and\b|\.))")
ORG_SUFFIX = re.compile(
    r"[ \t](?:Inc|Incorporated|Corp|Corporation|Company|Co|Ltd|LLC|LLP|GmbH|Partners|Group|Technologies|Holdings"
    r"|Orchestra|Band)\.?$"
)
LIST_OF_NAMES = re.compile(rf"{CAP}(?:,[ \t]+{CAP})+,?[ \t]+(?:and|&)[ \t]+{CAP}")
LIST_ITEM = re.compile(CAP)


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
        head = TITLE_HEAD.match(value)
        start = sp.start + (head.end() if head else 0)
        tail = NAME_TAIL.search(text, start, sp.end)
        end = tail.start() if tail else sp.end
        cut = LABEL_OR_QUOTE.search(text, start, end) or next(
            (m for m in LOWER_WORD.finditer(text, start, end) if m.group(1) in stop_words()), None
        )
        if cut:  # a label, a quotation or a lower-case stop word starts inside: keep the name before it
            end = start + len(text[start : cut.start()].rstrip())
        if end <= start or text[start:end].lower() in FIELD_WORDS:
            continue  # a title alone, or a field label ("Answer:")
        value = text[start:end]
        street = STREET_SUFFIX.match(text, end) or HOUSE_NUMBER.match(text, end)
        if STREET_WORD.search(value) or street:
            out.append(Span(start, street.end() if street else end, "LOCATION", sp.score, sp.recognizer))
        elif not ORG_SUFFIX.search(value):
            head = FIRST_AND_INITIAL.search(text, 0, start) or (
                INITIAL.match(value) and FIRST_NAME.search(text, 0, start)
            )
            if head and not common_word(head.group(1)):  # "Juliusz A" + "Kwiatkowski", "Csanád" + "P Gere"
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
    for m in LIST_OF_NAMES.finditer(text):
        items = [(m.start() + i.start(), m.start() + i.end()) for i in LIST_ITEM.finditer(m.group())]
        if any(found(a, b) for a, b in items):
            extra += [
                Span(a, b, "PERSON", 0.6, "name_list")
                for a, b in items
                if not covered(a, b) and not common_word(text[a:b])
            ]
    words = {
        w
        for s in merged
        for w in re.findall(r"[^\W\d_][\w'’-]{2,}", text[s.start : s.end])
        if w[0].isupper() and not common_word(w)
    }
    for w in sorted(words):
        for m in re.finditer(rf"(?<![\w-]){re.escape(w)}(?![\w-])", text):
            if not covered(*m.span()) and not any(e.start < m.end() and m.start() < e.end for e in extra):
                extra.append(Span(m.start(), m.end(), "PERSON", 0.6, "name_repeat"))
    return out + extra
