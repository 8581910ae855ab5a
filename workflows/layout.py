"""The store layout: every key pixelgate reads or writes is built here, nowhere else.

::

    families/<family>/latest.json                      -> {"target": "families/<family>/<spec-hash>", ...}
    families/<family>/<spec-hash>/records/part-NNNNN.parquet
    families/<family>/<spec-hash>/quarantine/<reason>.jsonl
    families/<family>/<spec-hash>/pii_audit.jsonl
    families/<family>/<spec-hash>/stats.json
    compiles/<compile>/latest.json
    compiles/<compile>/<spec-hash>/...                  (see docs/storage.md)
    trainings/<training>/latest.json
    trainings/<training>/<spec-hash>/...
    status/<Kind>/<name>.json                           (local runner only)
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
