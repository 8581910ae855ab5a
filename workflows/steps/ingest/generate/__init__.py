"""Generated families: synthetic edge-case conversations over the 25 difficulty categories
(docs/generated-families.md).

``generate_conversations`` is what the ingest pipeline calls for a ``source.generate`` family;
it streams one :class:`Conversation` per record (never a list of them), in round-robin order
over the categories, each carrying an :class:`Origin` whose provenance names the generator,
its version, the seed, the category and the hash of the templates or prompts used.
"""

from __future__ import annotations

from collections.abc import Iterator

from ....api.dataset_family import DatasetFamilySpec, GenerateSource
from ....store import Store
from ..produced import Conversation, Origin, Produced
from .categories import BY_ID, CATEGORIES, CATEGORY_IDS, Category, counts_per_category
from .template import generate_record, load_templates

GENERATED_LICENSE = "LicenseRef-pixelgate-generated"


def plan(gen: GenerateSource) -> Iterator[tuple[str, int]]:
    """(category, index) of every record, round-robin over the categories (see counts_per_category)."""
    counts = counts_per_category(gen.categories, gen.count)
    for index in range(max(counts.values())):
        for category, n in counts.items():
            if index < n:
                yield category, index


def generated_origin(
    kind: str, version: str, seed: int, prompt_hash: str, modified: str, category: str | None, model: str | None = None
) -> Origin:
    """Provenance of generated conversations; ``category`` None gives the family-wide default origin."""
    generator = (
        None
        if category is None
        else {
            "name": kind,
            "version": version,
            "seed": seed,
            "category": category,
            "prompt_hash": prompt_hash,
            "model": model,
        }
    )
    return Origin(
        source_uri=f"generate://{kind}/v{version}?seed={seed}" + (f"&model={model}" if model else ""),
        name=f"generate-{kind}-v{version}-seed{seed}",
        source_sha256=prompt_hash,
        modified=modified,
        license=GENERATED_LICENSE,
        license_url=None,
        allow_training=True,
        generator=generator,
    )


def generated_conversation(
    kind: str, category: str, index: int, turns: list[tuple[str, str]], origin: Origin, raw: dict
) -> Conversation:
    """One generated record's conversation: position ``<category>/<index>``, tagged with its category."""
    return Conversation(
        position=f"{category}/{index}",
        turns=turns,
        meta={"category": category, "risk": BY_ID[category].risk, "generator": kind},
        raw=raw,
        origin=origin,
        tags={category: 1.0},
    )


def _template_conversations(gen: GenerateSource) -> Produced:
    loaded = load_templates()
    version = str(loaded.templates.version)
    modified = f"{loaded.templates.date}T00:00:00Z"
    origins = {
        c: generated_origin("template", version, gen.seed, loaded.sha256, modified, c)
        for c in counts_per_category(gen.categories, gen.count)
    }

    def stream() -> Iterator[Conversation]:
        for category, index in plan(gen):
            turns = generate_record(loaded.templates, category, gen.seed, index)
            yield generated_conversation(
                "template", category, index, turns, origins[category], {"category": category, "index": index}
            )

    default = generated_origin("template", version, gen.seed, loaded.sha256, modified, None)
    return Produced(default, stream(), [{"uri": default.source_uri, "sha256": loaded.sha256}])


def generate_conversations(family: str, spec: DatasetFamilySpec, store: Store | None = None) -> Produced:
    """The conversations of a ``source.generate`` family. ``store`` holds the llm generator's
    resume cache (families/<family>/generate-cache/...); the template generator needs none."""
    gen = spec.source.generate
    assert gen is not None, "generate_conversations needs source.generate"
    if gen.generator == "llm":
        from .llm import llm_conversations

        return llm_conversations(family, gen, store)
    return _template_conversations(gen)


__all__ = ["CATEGORIES", "CATEGORY_IDS", "Category", "GENERATED_LICENSE", "generate_conversations", "plan"]
