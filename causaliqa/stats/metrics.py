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


def id_resample_counts(n_ids: int, n_boot: int, rng: np.random.Generator, block: int = 16) -> np.ndarray:
    """(n_boot, n_ids) draw counts: resample b draws id i counts[b, i] times. The draws are the loop's
    ``rng.integers(0, n_ids, n_ids)`` once per resample, taken ``block`` resamples at a time."""
    counts = np.empty((n_boot, n_ids), dtype=np.int32)
    for first in range(0, n_boot, block):
        picks = rng.integers(0, n_ids, (min(block, n_boot - first), n_ids))
        for i, row in enumerate(picks):
            counts[first + i] = np.bincount(row, minlength=n_ids)
    return counts


def bootstrap_auc_ce(y: np.ndarray, p: np.ndarray, codes: np.ndarray, n_boot: int, rng: np.random.Generator,
                     block: int = 16, eps: float = 1e-15) -> tuple[np.ndarray, np.ndarray]:
    """AUC and cross-entropy of ``n_boot`` resamples of image ids (all rows of an id move together).

    A resample that draws an id c times is the rows of that id, each counted c times, so its AUC is the
    Mann-Whitney statistic with those counts as weights (ties count half) and its CE a weighted mean. The
    resamples are the same draws as a loop taking ``rng.integers(0, n_ids, n_ids)`` once per resample
    (:func:`id_resample_counts`), so the results equal the loop's. NaN where a resample holds one class.
    """
    ids, local = np.unique(codes, return_inverse=True)
    return resampled_auc_ce(y, p, local, id_resample_counts(ids.size, n_boot, rng, block), eps)


def resampled_auc_ce(y: np.ndarray, p: np.ndarray, local: np.ndarray, counts: np.ndarray,
                     eps: float = 1e-15, order: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """AUC and CE of each resample given its id draw counts (``counts[b, local[row]]`` weights a row).

    Rows are sorted by ``p`` once (``order``: an order in which ``p`` is non-decreasing, when the caller has
    one); one pass per resample (compiled) accumulates the weighted Mann-Whitney numerator over tie groups,
    so a resample costs O(rows) and no (resamples x rows) array is built.
    """
    y = np.asarray(y).astype(bool)
    p = np.asarray(p, dtype=np.float64)
    order = np.argsort(p, kind="stable") if order is None else order
    ps = p[order]
    group_end = np.r_[ps[1:] != ps[:-1], True]  # last row of each tie group
    weights_t = np.ascontiguousarray(np.asarray(counts, dtype=np.float64).T)  # free when counts is Fortran-ordered
    aucs = _weighted_auc(y[order], np.asarray(local, dtype=np.int64)[order], group_end, weights_t)
    pc = np.clip(p, eps, 1 - eps)
    loss = -np.where(y, np.log(pc), np.log1p(-pc))
    loss_by_id = np.bincount(local, weights=loss, minlength=counts.shape[1])
    rows_by_id = np.bincount(local, minlength=counts.shape[1]).astype(np.float64)
    return aucs, (loss_by_id @ weights_t) / (rows_by_id @ weights_t)


def _weighted_auc(ys, ls, group_end, counts):
    from numba import get_num_threads

    from causaliqa.stats._kernels import weighted_auc_sorted

    return weighted_auc_sorted(ys, ls, group_end, counts, get_num_threads())
