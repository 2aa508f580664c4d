"""Reference checks shared by the test files: our fast statistics against sklearn, in one place."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import log_loss, roc_auc_score

from causaliqa.stats.metrics import auc_score, cross_entropy


def assert_auc_and_ce_equal_sklearn(y: np.ndarray, score: np.ndarray) -> None:
    """AUC of ``score`` and cross-entropy of its logistic transform equal sklearn's to 1e-12 (ties included)."""
    p = 1 / (1 + np.exp(-score))
    assert abs(auc_score(y, score) - roc_auc_score(y, score)) < 1e-12
    assert abs(cross_entropy(y, p) - log_loss(y, p)) < 1e-12


def bootstrap_loop(y: np.ndarray, p: np.ndarray, codes: np.ndarray, n_boot: int, rng: np.random.Generator):
    """The reference loop: per resample, draw image ids with replacement, gather their rows, score the subset."""
    ids, local = np.unique(codes, return_inverse=True)
    order = np.argsort(local, kind="stable")
    counts = np.bincount(local, minlength=ids.size)
    starts = np.cumsum(counts) - counts
    aucs, ces = [], []
    for _ in range(n_boot):
        pick = rng.integers(0, ids.size, ids.size)
        rows = np.concatenate([order[starts[i]:starts[i] + counts[i]] for i in pick])
        aucs.append(auc_score(y[rows], p[rows]))
        ces.append(cross_entropy(y[rows], p[rows]))
    return np.array(aucs), np.array(ces)
