"""Duplicate detection over arrays already in memory: candidates from band hashes and content
keys, confirmed by exact Jaccard. The leakage gate uses it on the output; benchmarks and the
perturbation tests use :func:`near_duplicates` on plain texts."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ...api.compile_run import NearDedup
from .lsh import band_hashes, bucket_pairs, params_for, unique_pairs
from .minhash import MinHasher, Shingler, has_shingles, jaccard


def candidates(bands: np.ndarray, shingled: np.ndarray, exact: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(exact pairs: equal content key, near candidates: a shared band but different content)."""
    idx = np.arange(len(exact))
    exact_pairs = unique_pairs(bucket_pairs(exact, idx))
    near = [bucket_pairs(bands[shingled, b], idx[shingled]) for b in range(bands.shape[1])]
    cands = unique_pairs(np.concatenate(near + [np.zeros((0, 2), np.int64)]))
    if len(cands):
        cands = cands[exact[cands[:, 0]] != exact[cands[:, 1]]]
    return exact_pairs, cands


def confirm(
    cands: np.ndarray, texts_of: Callable[[np.ndarray], dict[int, str]], shingler: Shingler, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """(candidate pairs whose exact Jaccard reaches ``threshold``, those similarities)."""
    if not len(cands):
        return cands, np.zeros(0)
    texts = texts_of(np.unique(cands))
    keys = sorted(texts)
    sets = dict(zip(keys, shingler.sets([texts[k] for k in keys])))
    sims = np.array([jaccard(sets[a], sets[b]) for a, b in cands.tolist()])
    ok = sims >= threshold
    return cands[ok], sims[ok]


def near_duplicates(
    texts: list[str], near: NearDedup, seed: int = 1, exact: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Duplicate pairs (indices into ``texts``) and their similarity (1.0 for equal content keys)."""
    hasher = MinHasher(near.num_perm, seed, Shingler(near.ngram, near.ngram_unit, seed))
    bands, rows = params_for(near)
    sig = np.concatenate([hasher.signatures(texts[i : i + 4096]) for i in range(0, len(texts), 4096)])
    keys = exact if exact is not None else np.arange(len(texts), dtype=np.uint64)
    exact_pairs, cands = candidates(band_hashes(sig, bands, rows), has_shingles(sig), keys)
    if near.verify:
        dup, sims = confirm(cands, lambda ids: {int(i): texts[int(i)] for i in ids}, hasher.shingler, near.threshold)
    else:
        sims = (sig[cands[:, 0]] == sig[cands[:, 1]]).mean(axis=1) if len(cands) else np.zeros(0)
        dup, sims = cands[sims >= near.threshold], sims[sims >= near.threshold]
    return np.concatenate([exact_pairs, dup]), np.concatenate([np.ones(len(exact_pairs)), sims])
