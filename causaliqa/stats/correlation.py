"""Group-wise correlation of mean Q and accuracy (paper Tables 1-3), with CIs whose coverage was measured.

Kendall and Spearman: percentile intervals of a bootstrap over the (corruption, severity) groups (coverage 0.925-0.975
at 15 groups). Pearson: Fisher's z interval, tanh(atanh(r) +- 1.96 / sqrt(n - 3)) (the percentile bootstrap covered
0.81-0.92 at 15 groups, Fisher's z 0.94-0.95 on normal and skewed group means; tests/test_stats.py). Fewer than
:data:`MIN_GROUPS` groups: the correlation is reported but marked not estimable (its interval spans most of
[-1, 1]; the report says "too few groups").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from causaliqa.serialize import Serializable


MIN_GROUPS = 8  # fewer (corruption, severity) groups: a correlation over them is too few to estimate


@dataclass(frozen=True)
class Correlation(Serializable):
    name: str
    estimate: float
    p_value: float
    ci_low: float
    ci_high: float
    interval: str = "percentile bootstrap"

    def excludes_zero(self) -> bool:
        return bool(self.ci_low > 0 or self.ci_high < 0)


@dataclass(frozen=True)
class GroupCorrelation(Serializable):
    """Kendall, Spearman and Pearson of per-group mean Q against per-group accuracy."""

    n_groups: int
    n_boot: int
    kendall: Correlation
    spearman: Correlation
    pearson: Correlation

    json_properties = ("estimable",)

    @property
    def estimable(self) -> bool:
        return self.n_groups >= MIN_GROUPS


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
    from causaliqa.stats.streams import stream

    return stream(seed, "correlation_resamples").integers(0, n, size=(n_boot, n))


def fisher_z_interval(r: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """Fisher's z interval of a Pearson r over n pairs; NaN with 3 pairs or fewer."""
    if n <= 3 or not np.isfinite(r):
        return float("nan"), float("nan")
    half = stats.norm.ppf(0.5 + level / 2) / np.sqrt(n - 3)
    z = np.arctanh(np.clip(r, -1 + 1e-15, 1 - 1e-15))
    return float(np.tanh(z - half)), float(np.tanh(z + half))


def group_correlation(q: np.ndarray, m: np.ndarray, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> GroupCorrelation:
    """Point estimates and p-values from scipy; Kendall and Spearman CIs by percentile bootstrap over resampled
    groups, Pearson's by Fisher's z (see the module docstring)."""
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
    ):
        boot = boot_of()
        lo, hi = np.nanquantile(boot, [alpha, 1 - alpha]) if np.isfinite(boot).any() else (np.nan, np.nan)
        results.append(Correlation(name, float(point.statistic), float(point.pvalue), float(lo), float(hi)))
    pearson = stats.pearsonr(q, m)
    results.append(Correlation("pearson", float(pearson.statistic), float(pearson.pvalue),
                               *fisher_z_interval(float(pearson.statistic), q.size, level), "Fisher z"))
    return GroupCorrelation(q.size, n_boot, *results)
