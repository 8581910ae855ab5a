"""Training data from a CompileRun's output: find the shards, stream them, mix them.

A compile writes ``compiles/<name>/latest.json`` -> ``<target>``, then ``<target>/manifest.json``
and ``<target>/shards/{train,val,test}/part-NNNNN.jsonl`` (one :class:`Record` per line). Training
reads train shards only, mixed by curriculum weights; validation reads val shards; nothing here
ever opens a test shard for training (the evaluate step reads them).

Mixing: records are grouped by family, or by tier (``tier1``..``tier4``) where the curriculum
names tiers. Every draw picks a group with probability ``weight / sum(weights)`` from a seeded
RNG and takes that group's next record; a group that runs out starts over (it is upsampled).
Each group streams the shards itself, so memory does not grow with the corpus.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ... import layout
from ...records import Record
from ...store import Store, read_pointer
from ..compile.stages import OutputShard
from ..registry import StepInputError

SPLITS = ("train", "val", "test")


class TrainingDataError(StepInputError):
    """The compile output is missing, incomplete or inconsistent with the curriculum."""

    def __init__(self, message: str, field: str = "compileRun"):
        super().__init__(field, message)


class _FamilyWeight(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    weight: float = 1.0


class ManifestView(BaseModel):
    """The part of compile's ``manifest.json`` training reads (see steps/compile/manifest.py)."""

    model_config = ConfigDict(extra="ignore")

    shards: list[OutputShard]
    families: list[_FamilyWeight] = Field(default_factory=list)


@dataclass(frozen=True)
class CompileInputs:
    root: str
    manifest: ManifestView
    shards: dict[str, list[str]]

    def family_weights(self) -> dict[str, float]:
        """The families' own weights, as the compile recorded them."""
        return {f.name: f.weight for f in self.manifest.families}


def resolve_compile(store: Store, compile_run: str) -> CompileInputs:
    """The newest complete output of ``compile_run``: its manifest and its shard keys per split."""
    pointer = layout.compile_pointer(compile_run)
    if not store.exists(pointer):
        raise TrainingDataError(f"CompileRun {compile_run!r} has no output yet ({store.url(pointer)} is missing)")
    root = read_pointer(store, pointer)["target"]
    manifest_key = layout.compile_manifest(root)
    if not store.exists(manifest_key):
        raise TrainingDataError(f"compile output {root} has no manifest.json; it is incomplete")
    try:
        manifest = ManifestView.model_validate(store.read_json(manifest_key))
    except ValidationError as err:
        raise TrainingDataError(f"{manifest_key} is not a compile manifest: {err}") from err
    shards = {split: sorted(s.path for s in manifest.shards if s.split == split and s.records > 0) for split in SPLITS}
    missing = [k for keys in shards.values() for k in keys if not store.exists(k)]
    if missing:
        raise TrainingDataError(f"compile output {root}: manifest lists shards that are missing: {missing[:3]}")
    if not shards["train"]:
        raise TrainingDataError(f"compile output {root} has no train shards")
    return CompileInputs(root=root, manifest=manifest, shards=shards)


def iter_shard_records(store: Store, key: str) -> Iterator[Record]:
    with store.open_read(key) as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield Record.model_validate_json(line)
            except ValidationError as err:
                raise TrainingDataError(f"{key}:{line_no}: not a valid record: {err.errors()[0]['msg']}") from err


def iter_records(store: Store, keys: list[str]) -> Iterator[Record]:
    for key in keys:
        yield from iter_shard_records(store, key)


def group_of(record: Record, weights: Mapping[str, float]) -> str:
    """The curriculum group of a record: its family, unless the curriculum weighs its tier."""
    if record.family in weights:
        return record.family
    tier = f"tier{record.provenance.tier}"
    return tier if tier in weights else record.family


@dataclass(frozen=True)
class MixturePlan:
    weights: dict[str, float]
    counts: dict[str, int]

    @property
    def records(self) -> int:
        return sum(self.counts.values())

    def shares(self) -> dict[str, float]:
        total = sum(self.weights.values())
        return {g: w / total for g, w in sorted(self.weights.items())}


def plan_mixture(
    store: Store, train_keys: list[str], curriculum: Mapping[str, float], family_weights: Mapping[str, float]
) -> MixturePlan:
    """Count the train records per group (one streaming pass) and fix each group's weight."""
    counts = Counter(group_of(r, curriculum) for r in iter_records(store, train_keys))
    unknown = sorted(set(curriculum) - set(counts))
    if unknown:
        raise TrainingDataError(
            f"curriculum weights name {unknown}, which match no family or tier in the train "
            f"shards (groups: {sorted(counts)})"
        )
    weights = {g: float(curriculum.get(g, family_weights.get(g, 1.0))) for g in counts}
    if not any(w > 0 for w in weights.values()):
        raise TrainingDataError("curriculum: every weight is zero")
    return MixturePlan(
        weights={g: w for g, w in weights.items() if w > 0}, counts={g: c for g, c in counts.items() if weights[g] > 0}
    )


def _cycle_group(store: Store, keys: list[str], group: str, curriculum: Mapping[str, float]) -> Iterator[Record]:
    while True:
        yield from (r for r in iter_records(store, keys) if group_of(r, curriculum) == group)


def mixed_stream(
    store: Store, train_keys: list[str], plan: MixturePlan, curriculum: Mapping[str, float], seed: int
) -> Iterator[Record]:
    """An endless, seeded stream of train records drawn per group with the plan's weights."""
    rng = random.Random(seed)
    groups = sorted(plan.weights)
    streams = {g: _cycle_group(store, train_keys, g, curriculum) for g in groups}
    weights = [plan.weights[g] for g in groups]
    while True:
        yield next(streams[rng.choices(groups, weights)[0]])
