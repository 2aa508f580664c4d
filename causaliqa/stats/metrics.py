"""Point-wise predictability metrics: ROC AUC (ties counted half), mean cross-entropy, and their resampled forms.

An AUC over the variants of several images can count pairs of two variants of the *same* image. At the paper's
size (10,000 held-out images) such pairs are 1 in 10,000 and do not matter; on 16 held-out images they are 1 in 16
and pull the AUC towards what Q does within an image. ``between_images_auc`` leaves them out: it estimates the AUC
for two variants drawn from different images, which is the population AUC a held-out set estimates.
"""

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


def within_id_pairs(y: np.ndarray, score: np.ndarray, local: np.ndarray, n_ids: int) -> tuple[np.ndarray, np.ndarray]:
    """Per id: the Mann-Whitney count of its own (positive, negative) row pairs (ties half) and their number.

    Within-id average ranks come from one global ranking of (id, dense rank of score); O(rows log rows).
    """
    y = np.asarray(y).astype(bool)
    local = np.asarray(local, dtype=np.int64)
    dense = rankdata(score, method="dense").astype(np.int64)
    ranks = rankdata(local * (int(dense.max(initial=0)) + 1) + dense)  # ids in order, scores within ids
    sizes = np.bincount(local, minlength=n_ids)
    ranks = ranks - (np.cumsum(sizes) - sizes)[local]  # rank within the row's own id
    pos = np.bincount(local, weights=y.astype(np.float64), minlength=n_ids)
    rank_sum = np.bincount(local, weights=np.where(y, ranks, 0.0), minlength=n_ids)
    return rank_sum - pos * (pos + 1) / 2, pos * (sizes - pos)


def between_images_auc(y: np.ndarray, score: np.ndarray, ids: np.ndarray) -> float:
    """AUC over pairs of rows from different ids (the reference for the resampled form; O(rows log rows))."""
    _, local = np.unique(ids, return_inverse=True)
    y = np.asarray(y).astype(bool)
    n_pos = y.sum()
    n_neg = y.size - n_pos
    num = (rankdata(score)[y].sum() - n_pos * (n_pos + 1) / 2)
    within, pairs = within_id_pairs(y, score, local, local.max() + 1)
    denominator = n_pos * n_neg - pairs.sum()
    return float((num - within.sum()) / denominator) if denominator > 0 else float("nan")


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
    """AUC (all pairs) and CE of each resample given its id draw counts (``counts[b, local[row]]`` weights a row)."""
    weights_t = np.ascontiguousarray(np.asarray(counts, dtype=np.float64).T)  # free when counts is Fortran-ordered
    num, pos, neg = resampled_mann_whitney(y, p, local, weights_t, order)
    with np.errstate(invalid="ignore", divide="ignore"):
        aucs = np.where((pos > 0) & (neg > 0), num / (pos * neg), np.nan)
    return aucs, resampled_cross_entropy(y, p, local, weights_t, eps)


def resampled_mann_whitney(y: np.ndarray, score: np.ndarray, local: np.ndarray, weights_t: np.ndarray,
                           order: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted Mann-Whitney numerator, positives and negatives of each resample (``weights_t``: ids x resamples).

    Rows are sorted by ``score`` once (``order``: an order in which it is non-decreasing, when the caller has one);
    one compiled pass per block of resamples accumulates over tie groups, O(rows) per resample.
    """
    y = np.asarray(y).astype(bool)
    score = np.asarray(score, dtype=np.float64)
    order = np.argsort(score, kind="stable") if order is None else order
    ss = score[order]
    group_end = np.r_[ss[1:] != ss[:-1], True]  # last row of each tie group
    from numba import get_num_threads

    from causaliqa.stats._kernels import weighted_mann_whitney_sorted

    return weighted_mann_whitney_sorted(y[order], np.asarray(local, dtype=np.int64)[order], group_end,
                                        np.ascontiguousarray(weights_t), get_num_threads())


def resampled_cross_entropy(y: np.ndarray, p: np.ndarray, local: np.ndarray, weights_t: np.ndarray,
                            eps: float = 1e-15) -> np.ndarray:
    """Mean cross-entropy of each resample: per-id loss sums weighted by the id's draw count."""
    y = np.asarray(y).astype(bool)
    pc = np.clip(np.asarray(p, dtype=np.float64), eps, 1 - eps)
    loss = -np.where(y, np.log(pc), np.log1p(-pc))
    n_ids = weights_t.shape[0]
    loss_by_id = np.bincount(local, weights=loss, minlength=n_ids)
    rows_by_id = np.bincount(local, minlength=n_ids).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (loss_by_id @ weights_t) / (rows_by_id @ weights_t)
