"""First- and last-name lists for PII detection: the person providers of Faker (MIT), every
locale whose names are written in Latin letters (61 of its 86 locales: Europe, the Americas,
Africa, South and South-East Asia, plus the romanized names of Japanese and Chinese), lower-cased.

They are read from the installed ``faker`` package once per process: nothing is downloaded.
The lists are a generic resource, not derived from any evaluation set (docs/pii.md states how
much of presidio-research's synthetic names they hold).
"""

from __future__ import annotations

import importlib
import pkgutil
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

_FIRST = ("first_names", "first_names_male", "first_names_female", "first_romanized_names")
_LAST = ("last_names", "last_romanized_names")


@dataclass(frozen=True)
class NameLists:
    first: frozenset[str]
    last: frozenset[str]


def _latin(name: str) -> bool:
    return all(c in " -'." or "LATIN" in unicodedata.name(c, "") for c in name)


def _names(provider: type, attributes: tuple[str, ...]) -> set[str]:
    out: set[str] = set()
    for attribute in attributes:
        values = provider.__dict__.get(attribute)
        if isinstance(values, (list, tuple, dict, set, frozenset)):  # dicts map names to weights
            out.update(n.lower() for n in values if isinstance(n, str) and len(n) >= 2 and _latin(n))
    return out


@lru_cache(maxsize=1)
def name_lists() -> NameLists:
    """Every Latin-script first and last name of Faker's person providers (single words only:
    "van der Berg" is three tokens, each judged on its own)."""
    import faker.providers.person as person

    first: set[str] = set()
    last: set[str] = set()
    for module in pkgutil.iter_modules(person.__path__):
        provider = getattr(importlib.import_module(f"{person.__name__}.{module.name}"), "Provider", None)
        if provider is not None:
            first |= _names(provider, _FIRST)
            last |= _names(provider, _LAST)
    return NameLists(frozenset(n for n in first if " " not in n), frozenset(n for n in last if " " not in n))
