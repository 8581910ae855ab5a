"""The ``template`` generator: a seeded grammar over versioned template data (data/templates-v<N>.yaml).

Each record draws from its own ``random.Random`` seeded by sha256(seed, category, index), so a
record depends on nothing but those three and the template bytes: records can be produced in any
order, in parallel, or streamed, and the same seed gives the same conversations.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from .categories import CATEGORY_IDS

TEMPLATE_VERSION = 1
MAX_EXCHANGES = 4
_SLOT = re.compile(r"\{([A-Za-z_]+)\}")
_MAX_DEPTH = 8


class CategoryTemplates(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slots: dict[str, list[str]] = Field(default_factory=dict)
    user_open: list[str] = Field(min_length=1)
    user_more: list[str] = Field(min_length=1)
    assistant_open: list[str] = Field(min_length=1)
    assistant_more: list[str] = Field(min_length=1)
    assistant_close: list[str] = Field(min_length=1)


class TemplateSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int
    date: str = Field(
        pattern=r"^\d{4}-\d{2}-\d{2}$", description="Release date; becomes every record's provenance.ingested_at."
    )
    sticky: list[str] = Field(description="Slots chosen once per conversation.")
    slots: dict[str, list[str]]
    categories: dict[str, CategoryTemplates]

    @model_validator(mode="after")
    def _covers_catalogue(self) -> "TemplateSet":
        missing = sorted(set(CATEGORY_IDS) - set(self.categories))
        extra = sorted(set(self.categories) - set(CATEGORY_IDS))
        if missing or extra:
            raise ValueError(f"templates v{self.version}: missing categories {missing}, unknown categories {extra}")
        every_slot = set(self.slots).union(*(c.slots for c in self.categories.values()))
        if unknown_sticky := sorted(set(self.sticky) - every_slot):
            raise ValueError(f"templates v{self.version}: sticky slots {unknown_sticky} are defined nowhere")
        for cid, cat in self.categories.items():
            known = set(self.slots) | set(cat.slots)
            for text in [
                *cat.user_open,
                *cat.user_more,
                *cat.assistant_open,
                *cat.assistant_more,
                *cat.assistant_close,
                *(v for vs in [*self.slots.values(), *cat.slots.values()] for v in vs),
            ]:
                for name in _SLOT.findall(text):
                    if _key(name) not in known:
                        raise ValueError(f"templates v{self.version}, {cid}: unknown slot {{{name}}} in {text!r}")
        return self


@dataclass(frozen=True)
class LoadedTemplates:
    templates: TemplateSet
    sha256: str  # of the file's bytes: the records' prompt_hash


def _key(name: str) -> str:
    return name[0].lower() + name[1:]


@lru_cache(maxsize=4)
def load_templates(version: int = TEMPLATE_VERSION) -> LoadedTemplates:
    data = resources.files(__package__).joinpath("data", f"templates-v{version}.yaml").read_bytes()
    return LoadedTemplates(TemplateSet.model_validate(yaml.safe_load(data)), hashlib.sha256(data).hexdigest())


def record_rng(seed: int, category: str, index: int) -> random.Random:
    digest = hashlib.sha256(f"{seed}\x00{category}\x00{index}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


class _Expander:
    def __init__(self, templates: TemplateSet, category: str, rng: random.Random):
        self.shared, self.own = templates.slots, templates.categories[category].slots
        self.sticky, self.bound, self.rng = set(templates.sticky), {}, rng

    def choose(self, options: list[str]) -> str:
        return options[self.rng.randrange(len(options))]

    def slot(self, name: str, depth: int) -> str:
        key = _key(name)
        if key in self.bound:
            value = self.bound[key]
        else:
            value = self.expand(self.choose(self.own.get(key) or self.shared[key]), depth + 1)
            if key in self.sticky:
                self.bound[key] = value
        return value[:1].upper() + value[1:] if name[0].isupper() else value

    def expand(self, text: str, depth: int = 0) -> str:
        if depth > _MAX_DEPTH:
            raise ValueError(f"template slots nest deeper than {_MAX_DEPTH}: {text!r}")
        return _SLOT.sub(lambda m: self.slot(m.group(1), depth), text)


def generate_record(templates: TemplateSet, category: str, seed: int, index: int) -> list[tuple[str, str]]:
    """One conversation: (role, text) turns of an arc of 1..MAX_EXCHANGES exchanges."""
    cat = templates.categories[category]
    rng = record_rng(seed, category, index)
    ex = _Expander(templates, category, rng)
    exchanges = rng.randint(1, min(MAX_EXCHANGES, 1 + len(cat.user_more)))
    follow_ups = rng.sample(cat.user_more, exchanges - 1)
    turns = [("user", ex.expand(ex.choose(cat.user_open)))]
    for i, user in enumerate(follow_ups):
        turns.append(("assistant", ex.expand(ex.choose(cat.assistant_open if i == 0 else cat.assistant_more))))
        turns.append(("user", ex.expand(user)))
    turns.append(("assistant", ex.expand(ex.choose(cat.assistant_close))))
    return turns
