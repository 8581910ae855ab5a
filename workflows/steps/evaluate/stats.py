"""Small statistics for calibration: ROC AUC, logistic regression, k-fold cross-validation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def roc_auc(positives: Sequence[float], negatives: Sequence[float]) -> float:
    """P(score of a random positive > score of a random negative), ties counted half (Mann-Whitney U)."""
    if not len(positives) or not len(negatives):
        raise ValueError("roc_auc needs at least one positive and one negative")
    scores = np.concatenate([np.asarray(positives, float), np.asarray(negatives, float)])
    order = scores.argsort(kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):  # average ranks over ties
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    n_pos, n_neg = len(positives), len(negatives)
    return float((ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def sigmoid(z: np.ndarray | float) -> np.ndarray | float:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -500, 500)))


def fit_logistic(
    x: np.ndarray, y: np.ndarray, l2: float = 1.0, balanced: bool = True, iterations: int = 5000
) -> tuple[np.ndarray, float]:
    """Weights and bias of an L2-regularised logistic regression (Newton's method; deterministic).
    ``balanced`` weighs each class by the inverse of its frequency."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    design = np.hstack([x, np.ones((len(x), 1))])
    sample_w = (
        np.where(y > 0, len(y) / (2 * y.sum()), len(y) / (2 * (len(y) - y.sum()))) if balanced else np.ones(len(y))
    )
    theta = np.zeros(design.shape[1])
    penalty = np.full(design.shape[1], l2)
    penalty[-1] = 0.0  # no penalty on the bias
    for _ in range(iterations):
        p = sigmoid(design @ theta)
        grad = design.T @ (sample_w * (p - y)) + penalty * theta
        hess = (design * (sample_w * p * (1 - p))[:, None]).T @ design + np.diag(penalty) + 1e-9 * np.eye(len(theta))
        step = np.linalg.solve(hess, grad)
        theta -= step
        if np.abs(step).max() < 1e-10:
            break
    return theta[:-1], float(theta[-1])


def cross_validated_auc(x: np.ndarray, y: np.ndarray, folds: int = 5, seed: int = 0, l2: float = 1.0) -> float:
    """AUC of out-of-fold predictions from stratified k-fold logistic regression."""
    x, y = np.asarray(x, float), np.asarray(y, int)
    rng = np.random.default_rng(seed)
    fold_of = np.empty(len(y), int)
    for label in (0, 1):
        idx = np.flatnonzero(y == label)
        rng.shuffle(idx)
        fold_of[idx] = np.arange(len(idx)) % folds
    scores = np.empty(len(y))
    for k in range(folds):
        test = fold_of == k
        w, b = fit_logistic(x[~test], y[~test], l2=l2)
        scores[test] = x[test] @ w + b
    return roc_auc(scores[y == 1], scores[y == 0])
