"""Group-wise correlation of mean Q and accuracy with vectorised bootstrap CIs (paper Tables 1-3)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Correlation:
    name: str
    estimate: float
    p_value: float
    ci_low: float
    ci_high: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class GroupCorrelation:
    """Kendall, Spearman and Pearson of per-group mean Q against per-group accuracy."""

    n_groups: int
    n_boot: int
    kendall: Correlation
    spearman: Correlation
    pearson: Correlation

    def to_dict(self) -> dict:
        return {"n_groups": self.n_groups, "n_boot": self.n_boot,
                **{c.name: c.to_dict() for c in (self.kendall, self.spearman, self.pearson)}}


def pearson_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r of each row pair of two (B, n) arrays."""
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    denom = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a * b).sum(axis=1) / denom


def spearman_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return pearson_rows(stats.rankdata(a, axis=1), stats.rankdata(b, axis=1))


def kendall_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Kendall tau-b of each row pair (ties handled as scipy's default variant 'b')."""
    da = np.sign(a[:, :, None] - a[:, None, :])
    db = np.sign(b[:, :, None] - b[:, None, :])
    concordance = (da * db).sum(axis=(1, 2))
    ta = (da != 0).sum(axis=(1, 2))
    tb = (db != 0).sum(axis=(1, 2))
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
    for name, point, rows in (
        ("kendall", stats.kendalltau(q, m), kendall_rows),
        ("spearman", stats.spearmanr(q, m), spearman_rows),
        ("pearson", stats.pearsonr(q, m), pearson_rows),
    ):
        boot = rows(qb, mb)
        lo, hi = np.nanquantile(boot, [alpha, 1 - alpha])
        results.append(Correlation(name, float(point.statistic), float(point.pvalue), float(lo), float(hi)))
    return GroupCorrelation(q.size, n_boot, *results)
