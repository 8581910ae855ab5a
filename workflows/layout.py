"""The store layout: every key pixelgate reads or writes is built here, nowhere else.

::

    families/<family>/latest.json                      -> {"target": "families/<family>/<spec-hash>", ...}
    families/<family>/<spec-hash>/records/part-NNNNN.parquet
    families/<family>/<spec-hash>/quarantine/<reason>.jsonl
    families/<family>/<spec-hash>/pii_audit.jsonl
    families/<family>/<spec-hash>/stats.json
    families/<family>/generate-cache/<key>/<category>/<index>.json  (llm generator: resume cache)
    compiles/<compile>/latest.json
    compiles/<compile>/<spec-hash>/...                  (see docs/storage.md)
    trainings/<training>/latest.json
    trainings/<training>/<spec-hash>/...
    status/<Kind>/<name>.json                           (local runner only)
    runs/<workflow>/<node>.json                         (local runner: step cache and resume)
"""

from __future__ import annotations

from .api.kinds import COMPILE_RUN, DATASET_FAMILY, TRAINING_RUN

# The store prefix of each kind with outputs: <prefix>/<name>/<identity>/... and <prefix>/<name>/latest.json
PREFIX = {DATASET_FAMILY: "families", COMPILE_RUN: "compiles", TRAINING_RUN: "trainings"}
POINTER = "latest.json"
# What only the local runner writes: on a cluster, the resources' status and Argo's Workflow hold it.
STATUS_DIR, RUNS_DIR = "status", "runs"
LOCAL_RUNNER_PREFIXES = (f"{STATUS_DIR}/", f"{RUNS_DIR}/")


def resource_prefix(kind: str, name: str) -> str:
    """Every output of one resource, all identities (what ``retention: Delete`` removes)."""
    return f"{PREFIX[kind]}/{name}/"


def output_root(kind: str, name: str, identity: str) -> str:
    return f"{PREFIX[kind]}/{name}/{identity}"


def pointer(kind: str, name: str) -> str:
    """``<prefix>/<name>/latest.json``: names the resource's current output folder."""
    return f"{PREFIX[kind]}/{name}/{POINTER}"


def pointer_owner(kind: str, key: str) -> str | None:
    """The resource name of a ``pointer(kind, name)`` key, None for any other key."""
    parts = key.split("/")
    if len(parts) == 3 and parts[0] == PREFIX[kind] and parts[2] == POINTER:
        return parts[1]
    return None


def family_root(family: str, spec_hash: str) -> str:
    return output_root(DATASET_FAMILY, family, spec_hash)


def family_pointer(family: str) -> str:
    return pointer(DATASET_FAMILY, family)


def compile_root(name: str, spec_hash: str) -> str:
    return output_root(COMPILE_RUN, name, spec_hash)


def compile_pointer(name: str) -> str:
    return pointer(COMPILE_RUN, name)


def training_root(name: str, spec_hash: str) -> str:
    return output_root(TRAINING_RUN, name, spec_hash)


def training_pointer(name: str) -> str:
    return pointer(TRAINING_RUN, name)


def status_prefix(kind: str) -> str:
    """Folder of the local runner's status files of one kind."""
    return f"{STATUS_DIR}/{kind}/"


def status_key(kind: str, name: str) -> str:
    return f"{status_prefix(kind)}{name}.json"


def run_node_key(workflow: str, node: str) -> str:
    """The local runner's record of one finished workflow node (its cache and resume point)."""
    return f"{RUNS_DIR}/{workflow}/{node}.json"


def compile_split_shards(root: str, split: str) -> str:
    """Folder of a compile output's jsonl shards of one split (``<root>/shards/<split>``)."""
    return f"{root}/shards/{split}"


def compile_manifest(root: str) -> str:
    return f"{root}/manifest.json"


def compile_report(root: str) -> str:
    return f"{root}/verification_report.json"


def compile_drift(root: str) -> str:
    return f"{root}/drift.json"


def compile_removed_log(root: str) -> str:
    """Every record dedup removed, with the record that kept its place and the similarity."""
    return f"{root}/dedup/removed.parquet"


def compile_jsonl_export(root: str) -> str:
    return f"{root}/compiled/final_training_dataset.jsonl"


def compile_parquet_export(root: str) -> str:
    return f"{root}/compiled/parquet"


def part_key(prefix: str, index: int, suffix: str) -> str:
    """``<prefix>/part-NNNNN.<suffix>``: the one naming of numbered shards and parts."""
    return f"{prefix.rstrip('/')}/part-{index:05d}.{suffix}"


def compile_work(name: str, spec_hash: str) -> str:
    """The compile's intermediate state (plan, signatures, band pairs, decisions, filter records)."""
    return f"{compile_root(name, spec_hash)}/work"


def compile_plan(name: str, spec_hash: str) -> str:
    return f"{compile_work(name, spec_hash)}/plan.json"


def compile_merge(name: str, spec_hash: str) -> str:
    return f"{compile_work(name, spec_hash)}/merge.json"


def compile_signatures(name: str, spec_hash: str, shard: int) -> str:
    return part_key(f"{compile_work(name, spec_hash)}/signatures", shard, "npz")


def compile_band_pairs(name: str, spec_hash: str, band: int) -> str:
    """Candidate pairs of one LSH band (band ``bands`` holds the exact-hash pairs)."""
    return f"{compile_work(name, spec_hash)}/buckets/band-{band:03d}.npy"


def compile_decisions(name: str, spec_hash: str, shard: int) -> str:
    return part_key(f"{compile_work(name, spec_hash)}/decisions", shard, "npy")


def compile_filter_done(name: str, spec_hash: str, shard: int) -> str:
    """The filter stage's record of one input shard: the output parts it wrote."""
    return part_key(f"{compile_work(name, spec_hash)}/filter", shard, "json")


def compile_split_part(root: str, split: str, part: int) -> str:
    return part_key(compile_split_shards(root, split), part, "jsonl")


def training_checkpoints(name: str, spec_hash: str) -> str:
    """Default checkpoint folder of a training: ``checkpoint-<step>/`` folders and their ``latest.json``."""
    return f"{training_root(name, spec_hash)}/checkpoints"


def checkpoint_folder(prefix: str, name: str = "") -> str:
    """A checkpoint folder (``checkpoint-<step>``) under a checkpoint prefix, or the prefix itself."""
    return "/".join(p for p in (prefix.strip("/"), name) if p)


def checkpoint_file(prefix: str, name: str, relative: str) -> str:
    return f"{checkpoint_folder(prefix, name)}/{relative}"


def checkpoint_pointer(prefix: str) -> str:
    """``<prefix>/latest.json``: the last completely uploaded checkpoint."""
    return checkpoint_folder(prefix, POINTER)


def training_file(name: str, spec_hash: str, filename: str) -> str:
    """A training output file or folder: metrics.json, eval_report.json, model/."""
    return f"{training_root(name, spec_hash)}/{filename}"


def run_manifest_key(workflow: str) -> str:
    """The rendered Argo manifest the local runner executed for ``workflow``."""
    return f"{RUNS_DIR}/{workflow}/workflow.yaml"


def family_records(root: str) -> str:
    """Folder of a family output's ``part-NNNNN.parquet`` record shards."""
    return f"{root}/records"


def family_quarantine(root: str, reason: str) -> str:
    """Quarantined records of one reason: raw record, reason, detail, source position (jsonl)."""
    return f"{root}/quarantine/{reason}.jsonl"


def family_pii_audit(root: str) -> str:
    return f"{root}/pii_audit.jsonl"


def family_stats(root: str) -> str:
    return f"{root}/stats.json"


def family_generate_cache(family: str, key: str) -> str:
    """The llm generator's resume cache: one ``<category>/<index>.json`` answer per conversation;
    ``key`` hashes what determines an answer (endpoint, model, prompts, seed, temperature)."""
    return f"{PREFIX[DATASET_FAMILY]}/{family}/generate-cache/{key}"


def family_generate_answer(cache: str, category: str, index: int) -> str:
    """One cached llm answer under :func:`family_generate_cache`."""
    return f"{cache}/{category}/{index}.json"


def family_timing(root: str) -> str:
    """Duration and throughput of the ingest: the one family output that differs between reruns."""
    return f"{root}/timing.json"
