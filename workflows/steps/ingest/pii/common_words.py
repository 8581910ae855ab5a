"""Words that are never names: spaCy's English stop words, chat openers and transcript fillers,
common capitalized words ("Mom", "Monday"), sentence adverbs and stutters."""

from __future__ import annotations

import re
from functools import lru_cache

COMMON_CAPS = frozenset(
    "I I'm I've I'll I'd I’m I’ve I’ll I’d OK Ok Okay God Mom Dad Mum Christmas Monday Tuesday Wednesday Thursday "
    "Friday Saturday Sunday January February March April May June July August September October November December "
    "Covid COVID English TV Internet".split()
)


@lru_cache(maxsize=1)
def stop_words() -> frozenset[str]:
    from spacy.lang.en.stop_words import STOP_WORDS

    return frozenset(STOP_WORDS) | STARTERS


STARTERS = frozenset(
    "hello hi hey thanks thank yes yeah yep no nope sorry well maybe okay ok sure oh great good wow hmm right "
    "i'm i've i'll i'd it's that's there's what's let's don't can't won't didn't glad nice cool bye goodbye please "
    "sounds seems honestly actually also really sometimes today yesterday tomorrow lately anyway basically "
    # spoken fillers and sentence openers of transcripts (AnnoMI, ESConv): never names
    "um umm uh uhm mm mhm mm-hmm uh-huh uh-uh hm ah ha haha yea ya yup im ive ill dont cant alright exactly correct "
    "true like plus instead tell try consider remember find imagine things life trust hope best c'mon heck btw "
    "lol omg "
    # informal English that the dictionary lacks (some are first names elsewhere: "Til", "Uni")
    "til ima gonna wanna gotta uni yada versa".split()
)
# sentence-initial adverbs ("Unfortunately", "Hopefully") and stutters ("I-I", "And-and", "I--")
OPENER_SHAPE = re.compile(r"(?i)[a-z]+(?:ally|ually|ately|ently|ously|ively|ably|ibly|fully|essly)|(\w+)-\1|\w+--")


def common_word(word: str) -> bool:
    w = word.lower().replace("’", "'")
    return w in stop_words() or w.split("'")[0] in stop_words()
