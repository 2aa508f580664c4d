"""Point-wise predictability metrics: ROC AUC (ties counted half) and mean cross-entropy."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata


def auc_score(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney statistic on average ranks; equals sklearn's ``roc_auc_score``."""
    y = np.asarray(y).astype(bool)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def cross_entropy(y: np.ndarray, p: np.ndarray, eps: float = 1e-15) -> float:
    """Mean binary cross-entropy (natural log); equals sklearn's ``log_loss``."""
    p = np.clip(np.asarray(p, dtype=np.float64), eps, 1 - eps)
    y = np.asarray(y, dtype=np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))
