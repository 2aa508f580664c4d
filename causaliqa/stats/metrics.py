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


def bootstrap_auc_ce(y: np.ndarray, p: np.ndarray, codes: np.ndarray, n_boot: int, rng: np.random.Generator,
                     block: int = 16, eps: float = 1e-15) -> tuple[np.ndarray, np.ndarray]:
    """AUC and cross-entropy of ``n_boot`` resamples of image ids (all rows of an id move together), vectorised.

    A resample that draws an id c times is the rows of that id, each counted c times, so its AUC is the
    Mann-Whitney statistic with those counts as weights (ties count half) and its CE a weighted mean. The
    resamples are the same draws as a loop taking ``rng.integers(0, n_ids, n_ids)`` once per resample, so
    the results equal the loop's (to rounding). Rows are sorted once; each block of resamples costs
    O(block x rows). NaN where a resample holds one class.
    """
    y = np.asarray(y).astype(bool)
    ids, local = np.unique(codes, return_inverse=True)
    order = np.argsort(p, kind="stable")
    ys, ls, ps = y[order], local[order], np.asarray(p, dtype=np.float64)[order]
    starts = np.flatnonzero(np.r_[True, ps[1:] != ps[:-1]])  # tie groups: equal scores, contiguous once sorted
    pc = np.clip(ps, eps, 1 - eps)
    loss = -np.where(ys, np.log(pc), np.log1p(-pc))
    loss_by_id = np.bincount(ls, weights=loss, minlength=ids.size)
    rows_by_id = np.bincount(ls, minlength=ids.size).astype(np.float64)
    aucs, ces = np.empty(n_boot), np.empty(n_boot)
    for first in range(0, n_boot, block):
        b = min(block, n_boot - first)
        picks = rng.integers(0, ids.size, (b, ids.size))
        counts = np.zeros((b, ids.size))
        np.add.at(counts, (np.repeat(np.arange(b), ids.size), picks.ravel()), 1.0)
        w = counts[:, ls]  # (b, rows): each row weighted by how often its id was drawn
        pos = np.add.reduceat(np.where(ys, w, 0.0), starts, axis=1)
        neg = np.add.reduceat(np.where(ys, 0.0, w), starts, axis=1)
        below = np.cumsum(neg, axis=1) - neg
        total_pos, total_neg = pos.sum(1), neg.sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            aucs[first:first + b] = (pos * (below + 0.5 * neg)).sum(1) / (total_pos * total_neg)
        ces[first:first + b] = (counts @ loss_by_id) / (counts @ rows_by_id)
    return aucs, ces
