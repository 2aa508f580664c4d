"""Group-wise correlation of mean Q and accuracy with vectorised bootstrap CIs (paper Tables 1-3)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from causaliqa.serialize import Serializable


@dataclass(frozen=True)
class Correlation(Serializable):
    name: str
    estimate: float
    p_value: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class GroupCorrelation(Serializable):
    """Kendall, Spearman and Pearson of per-group mean Q against per-group accuracy."""

    n_groups: int
    n_boot: int
    kendall: Correlation
    spearman: Correlation
    pearson: Correlation


def pearson_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r of each row pair of two (B, n) arrays."""
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    denom = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a * b).sum(axis=1) / denom


def spearman_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return pearson_rows(stats.rankdata(a, axis=1), stats.rankdata(b, axis=1))


def resample_counts(idx: np.ndarray, n: int) -> np.ndarray:
    """(B, n) how often each of the n groups appears in each resample."""
    B = idx.shape[0]
    return np.bincount((idx + n * np.arange(B)[:, None]).ravel(), minlength=B * n).reshape(B, n).astype(np.float64)


def kendall_from_counts(a: np.ndarray, b: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Kendall tau-b of every resample from its group counts c: pair sums are quadratic forms c' S c.

    A resample's pairs (i < j) are pairs of original groups (u, v) taken c_u c_v times (u == v adds
    nothing: its signs are 0), so concordance = c' (S_a * S_b) c / 2 and the untied pair counts are
    c' |S_a| c / 2 and c' |S_b| c / 2. Exact in float64 (integers), O(B n^2) with one matmul each.
    """
    sa = np.sign(a[:, None] - a[None, :])
    sb = np.sign(b[:, None] - b[None, :])
    concordance = ((counts @ (sa * sb)) * counts).sum(1)
    ta = ((counts @ np.abs(sa)) * counts).sum(1)
    tb = ((counts @ np.abs(sb)) * counts).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return concordance / np.sqrt(ta * tb)


def bootstrap_indices(n: int, n_boot: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def group_correlation(q: np.ndarray, m: np.ndarray, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> GroupCorrelation:
    """Point estimates and p-values from scipy; percentile bootstrap CIs over resampled groups."""
    q = np.asarray(q, dtype=np.float64)
    m = np.asarray(m, dtype=np.float64)
    idx = bootstrap_indices(q.size, n_boot, seed)
    qb, mb = q[idx], m[idx]
    alpha = (1 - level) / 2
    results = []
    counts = resample_counts(idx, q.size)
    for name, point, boot_of in (
        ("kendall", stats.kendalltau(q, m), lambda: kendall_from_counts(q, m, counts)),
        ("spearman", stats.spearmanr(q, m), lambda: spearman_rows(qb, mb)),
        ("pearson", stats.pearsonr(q, m), lambda: pearson_rows(qb, mb)),
    ):
        boot = boot_of()
        lo, hi = np.nanquantile(boot, [alpha, 1 - alpha])
        results.append(Correlation(name, float(point.statistic), float(point.pvalue), float(lo), float(hi)))
    return GroupCorrelation(q.size, n_boot, *results)
