"""LSH banding: choosing bands x rows, hashing bands, and turning buckets into candidate pairs.

Buckets are never held as a hash table. A band's (band-hash, record) pairs are sorted, and equal
hashes sit next to each other; memory is 16 bytes per record for the one band being processed.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from .minhash import splitmix64

if TYPE_CHECKING:
    from ...api.compile_run import NearDedup

# within a bucket every record is paired with its next PAIR_WINDOW neighbours in sorted order;
# larger buckets additionally pair every member with the bucket's first record (a star)
PAIR_WINDOW = 8


def _prob_collide(s: np.ndarray, bands: int, rows: int) -> np.ndarray:
    return 1.0 - (1.0 - s**rows) ** bands


@lru_cache(maxsize=64)
def optimal_params(threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5) -> tuple[int, int]:
    """(bands, rows) minimizing the weighted areas of false positives (similarity below the
    threshold but colliding) and false negatives (above it, not colliding), the criterion
    datasketch's MinHashLSH uses, integrated numerically."""
    below = np.linspace(0.0, threshold, 201)
    above = np.linspace(threshold, 1.0, 201)
    best, best_err = (1, num_perm), float("inf")
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            fp = np.trapezoid(_prob_collide(below, bands, rows), below)
            fn = np.trapezoid(1.0 - _prob_collide(above, bands, rows), above)
            err = fp_weight * fp + fn_weight * fn
            if err < best_err - 1e-12:
                best, best_err = (bands, rows), err
    return best


# With verification, a pair at exactly the threshold may be missed with at most this probability.
MAX_MISS_AT_THRESHOLD = 1e-4


@lru_cache(maxsize=64)
def recall_params(threshold: float, num_perm: int, max_miss: float = MAX_MISS_AT_THRESHOLD) -> tuple[int, int]:
    """(bands, rows) that collide a pair at exactly ``threshold`` with probability >= 1 - ``max_miss``
    (pairs above it even more surely), with the least false-positive area below the threshold."""
    below = np.linspace(0.0, threshold, 201)
    best, best_fp = None, float("inf")
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            if 1.0 - float(_prob_collide(np.array(threshold), bands, rows)) > max_miss:
                continue
            fp = float(np.trapezoid(_prob_collide(below, bands, rows), below))
            if fp < best_fp - 1e-12:
                best, best_fp = (bands, rows), fp
    return best or (num_perm, 1)


def params_for(near: "NearDedup") -> tuple[int, int]:
    """Bands and rows for a spec: given ones, else chosen ones.

    With verification on (the default), a false positive costs one exact Jaccard, while a missed
    pair near the threshold is a duplicate that survives and, worse, may sit in another split than
    its twin. So the choice is recall-first (:func:`recall_params`): at threshold 0.8 and 128
    permutations, 24x5 misses a pair at exactly 0.8 with probability 7e-5 (datasketch's equal
    weights, 9x13, miss 60% of them). Without verification, datasketch's 0.5/0.5 optimum."""
    if near.bands and near.rows:
        return near.bands, near.rows
    if near.verify:
        return recall_params(near.threshold, near.num_perm)
    return optimal_params(near.threshold, near.num_perm)


def band_hashes(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """``uint64[n, bands]``: one hash per band of ``rows`` signature values."""
    n = signatures.shape[0]
    out = np.empty((n, bands), dtype=np.uint64)
    for b in range(bands):
        h = np.full(n, np.uint64(b + 1), dtype=np.uint64)
        for r in range(rows):
            h = splitmix64(h ^ signatures[:, b * rows + r].astype(np.uint64))
        out[:, b] = h
    return out


def bucket_pairs(hashes: np.ndarray, ids: np.ndarray, window: int = PAIR_WINDOW) -> np.ndarray:
    """Candidate pairs ``int64[m, 2]`` (smaller id first, distinct rows) of records sharing a hash.

    Sorting by (hash, id) makes every bucket a contiguous run. Each record pairs with the next
    ``window`` records of its run, and every record of a run longer than ``window + 1`` also with
    the run's first record, so each bucket stays connected and small buckets are paired exhaustively.
    """
    if len(hashes) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    order = np.lexsort((ids, hashes))
    h, i = hashes[order], ids[order].astype(np.int64)
    pairs = []
    for j in range(1, window + 1):
        if j >= len(h):
            break
        same = h[j:] == h[:-j]
        if not same.any():
            break
        pairs.append(np.stack([i[:-j][same], i[j:][same]], axis=1))
    run_start = np.ones(len(h), dtype=bool)
    run_start[1:] = h[1:] != h[:-1]
    first = np.maximum.accumulate(np.where(run_start, np.arange(len(h)), 0))
    far = (np.arange(len(h)) - first) > window
    if far.any():
        pairs.append(np.stack([i[first[far]], i[far]], axis=1))
    if not pairs:
        return np.zeros((0, 2), dtype=np.int64)
    out = np.concatenate(pairs)
    return np.sort(out, axis=1)


def unique_pairs(pairs: np.ndarray) -> np.ndarray:
    """Distinct rows of an ``[m, 2]`` pair array, sorted."""
    if not len(pairs):
        return pairs.reshape(0, 2).astype(np.int64)
    return np.unique(pairs, axis=0)
