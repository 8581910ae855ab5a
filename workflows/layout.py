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


def family_root(family: str, spec_hash: str) -> str:
    return f"families/{family}/{spec_hash}"


def family_pointer(family: str) -> str:
    return f"families/{family}/latest.json"


def compile_root(name: str, spec_hash: str) -> str:
    return f"compiles/{name}/{spec_hash}"


def compile_pointer(name: str) -> str:
    return f"compiles/{name}/latest.json"


def training_root(name: str, spec_hash: str) -> str:
    return f"trainings/{name}/{spec_hash}"


def training_pointer(name: str) -> str:
    return f"trainings/{name}/latest.json"


def status_key(kind: str, name: str) -> str:
    return f"status/{kind}/{name}.json"


def run_node_key(workflow: str, node: str) -> str:
    """The local runner's record of one finished workflow node (its cache and resume point)."""
    return f"runs/{workflow}/{node}.json"


def compile_split_shards(root: str, split: str) -> str:
    """Folder of a compile output's jsonl shards of one split (``<root>/shards/<split>``)."""
    return f"{root}/shards/{split}"


def training_checkpoints(name: str, spec_hash: str) -> str:
    """Default checkpoint folder of a training: ``checkpoint-<step>/`` folders and their ``latest.json``."""
    return f"{training_root(name, spec_hash)}/checkpoints"


def training_file(name: str, spec_hash: str, filename: str) -> str:
    """A training output file or folder: metrics.json, eval_report.json, model/."""
    return f"{training_root(name, spec_hash)}/{filename}"


def run_manifest_key(workflow: str) -> str:
    """The rendered Argo manifest the local runner executed for ``workflow``."""
    return f"runs/{workflow}/workflow.yaml"


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
    return f"families/{family}/generate-cache/{key}"


def family_timing(root: str) -> str:
    """Duration and throughput of the ingest: the one family output that differs between reruns."""
    return f"{root}/timing.json"
