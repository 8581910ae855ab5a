"""Leakage-free split assignment: by group, never by record.

A group is a connected component over every LSH candidate pair and every exact duplicate, so it
contains the near-duplicates that were kept (below the threshold, or kept on purpose) as well as
the ones removed, and every lineage edge: a derived record and the parent named in its
``provenance.parents``, when both are inputs (docs/derived-families.md). The whole group goes to
one split, chosen by a stable hash of its representative (the smallest 64-bit content-hash key
among its members, which does not depend on input order or on the keep strategy) mixed with the
seed. A group holding any record of a holdout family goes to test.
"""

from __future__ import annotations

import numpy as np

from .minhash import splitmix64

SPLITS = ("train", "val", "test")
TRAIN, VAL, TEST = 0, 1, 2


def group_representatives(labels: np.ndarray, content_keys: np.ndarray) -> np.ndarray:
    """``rep[i]``: the smallest content key in ``i``'s group."""
    rep = np.full(len(labels), np.iinfo(np.uint64).max, dtype=np.uint64)
    np.minimum.at(rep, labels, content_keys)
    return rep[labels]


def assign(representatives: np.ndarray, seed: int, train: float, val: float) -> np.ndarray:
    """Split codes (0 train, 1 val, 2 test) from a uniform draw per representative and seed."""
    mixed = splitmix64(representatives ^ splitmix64(np.array([seed], dtype=np.uint64))[0])
    u = (mixed >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    return np.where(u < train, TRAIN, np.where(u < train + val, VAL, TEST)).astype(np.int8)


def force_holdout(labels: np.ndarray, holdout: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Every group with a holdout member goes to test."""
    tainted = np.zeros(len(labels), dtype=bool)
    tainted[labels[holdout]] = True
    return np.where(tainted[labels], TEST, codes).astype(np.int8)
