"""Connected components over candidate pairs, and which record of each component survives.

Components are found by vectorized min-label propagation with pointer jumping (a union-find
whose root is the component's smallest index), so the result does not depend on pair order.
Memory: 8 bytes per record for the labels, plus the pairs.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

KeepStrategy = Literal["priority_order", "longest", "highest_quality"]


def components(n: int, pairs: np.ndarray) -> np.ndarray:
    """``labels[i]``: the smallest record index in ``i``'s component (``i`` when alone)."""
    labels = np.arange(n, dtype=np.int64)
    if not len(pairs):
        return labels
    a, b = pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)
    while True:
        low = np.minimum(labels[a], labels[b])
        before = labels.copy()
        np.minimum.at(labels, a, low)
        np.minimum.at(labels, b, low)
        np.minimum.at(labels, before, labels)  # a root adopts its members' smaller label
        while True:  # pointer jumping until every label is a root
            jumped = labels[labels]
            if np.array_equal(jumped, labels):
                break
            labels = jumped
        if np.array_equal(labels, before):
            return labels


def lineage_pairs(id_keys: np.ndarray, child: np.ndarray, parent_keys: np.ndarray) -> np.ndarray:
    """(child, parent) index pairs for the lineage edges whose parent is among the records;
    ``id_keys[i]`` is record ``i``'s id key, ``child[k]`` derives from the record keyed ``parent_keys[k]``."""
    if not len(child) or not len(id_keys):
        return np.zeros((0, 2), np.int64)
    order = np.argsort(id_keys, kind="stable")
    ordered = id_keys[order]
    pos = np.minimum(np.searchsorted(ordered, parent_keys), len(ordered) - 1)
    found = ordered[pos] == parent_keys
    return np.stack([child[found].astype(np.int64), order[pos[found]].astype(np.int64)], axis=1)


def keep_order(
    strategy: KeepStrategy, tier: np.ndarray, weight: np.ndarray, length: np.ndarray, quality: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Sort keys, most significant last (``np.lexsort`` order); smaller sorts first and wins.

    ``priority_order``: lowest tier, then highest weight, then earliest (smallest index).
    ``longest``: most characters, then earliest. ``highest_quality``: best overall score, then earliest.
    """
    index = np.arange(len(tier))
    if strategy == "priority_order":
        return index, -weight.astype(np.float64), tier.astype(np.int64)
    if strategy == "longest":
        return index, -length.astype(np.int64)
    if strategy == "highest_quality":
        return index, -quality.astype(np.float64)
    raise ValueError(f"unknown keep strategy {strategy!r}")


def keepers(labels: np.ndarray, keys: tuple[np.ndarray, ...]) -> np.ndarray:
    """``kept[i]``: the index of the record that survives for ``i``'s component."""
    order = np.lexsort((*keys, labels))
    sorted_labels = labels[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = sorted_labels[1:] != sorted_labels[:-1]
    winner_of_label = np.empty(len(labels), dtype=np.int64)
    winner_of_label[sorted_labels[first]] = order[first]
    return winner_of_label[labels]
