"""Generalised covariance measure (Shah & Peters 2020) with flexible regressions and image-id clusters.

Test A _||_ B | Z: regress every column of A and of B on Z flexibly, multiply the residuals, and ask
whether the products average zero. The regression of a column on Z is exact for the strata of the
discrete members of Z (within-stratum means) and additive cubic splines for each continuous member
(so Z -> Q and Z -> M through Z^2 is adjusted for, where a linear term is not). Categorical A or B
enter as indicator columns, so the statistic is a vector; its covariance is estimated from the sums of
the products over clusters (one cluster per image id: the variants of an image are not independent),
or over rows without clusters. T = S' V^-1 S is chi-square with rank(V) degrees of freedom under the
null; with C clusters, Hotelling's T^2 correction gives F(d, C - d), which holds the level at 80 clusters
where the chi-square does not. When that rank is large next to the number of clusters (a many-level categorical such as the
label), the chi-square is not trusted and the same statistic is calibrated by permuting B within
strata (whole clusters when B is constant within them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

PERMUTATION_DF = 10  # above this many degrees of freedom the statistic is calibrated by permutation
N_PERM = 500
SPLINE_KNOTS = 5


@dataclass(frozen=True)
class GCMResult:
    statistic: float
    df: int
    p_value: float
    calibration: str  # "F" (Hotelling) or "permutation"
    clusters: int


def _within(matrix: np.ndarray, codes: np.ndarray) -> np.ndarray:
    n_strata = codes.max() + 1 if codes.size else 1
    sums = np.zeros((n_strata, matrix.shape[1]))
    np.add.at(sums, codes, matrix)
    counts = np.bincount(codes, minlength=n_strata)[:, None]
    return matrix - (sums / np.maximum(counts, 1))[codes]


def spline_basis(continuous: np.ndarray) -> np.ndarray:
    """Additive cubic splines of each continuous conditioning column (quantile knots)."""
    if continuous.shape[1] == 0:
        return continuous
    from sklearn.preprocessing import SplineTransformer

    blocks = []
    for j in range(continuous.shape[1]):
        column = continuous[:, j:j + 1]
        if np.unique(column).size < 4:
            blocks.append(column)
            continue
        blocks.append(SplineTransformer(n_knots=SPLINE_KNOTS, degree=3, knots="quantile", include_bias=False).fit_transform(column))
    return np.hstack(blocks)


def residualise(values: np.ndarray, codes: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """Residuals of each column of ``values`` after strata means and an additive spline fit (Frisch-Waugh-Lovell)."""
    v = _within(values, codes)
    if basis.shape[1] == 0:
        return v
    b = _within(basis, codes)
    coef, *_ = np.linalg.lstsq(b, v, rcond=None)
    return v - b @ coef


def _statistic(ra: np.ndarray, rb: np.ndarray, cluster_codes: np.ndarray, n_clusters: int) -> tuple[float, int]:
    products = (ra[:, :, None] * rb[:, None, :]).reshape(len(ra), -1)
    sums = np.zeros((n_clusters, products.shape[1]))
    np.add.at(sums, cluster_codes, products)
    total = sums.sum(0)
    centred = sums - sums.mean(0)
    cov = centred.T @ centred * n_clusters / max(n_clusters - 1, 1)
    rank = int(np.linalg.matrix_rank(cov, tol=1e-10 * max(np.trace(cov), 1e-300)))
    if rank == 0:
        return float("nan"), 0
    return float(total @ np.linalg.pinv(cov, rcond=1e-10) @ total), rank


def _rank(residuals: np.ndarray) -> int:
    """Rank of the residual columns (their Gram matrix is small: one row and column per indicator)."""
    gram = residuals.T @ residuals
    return int(np.linalg.matrix_rank(gram, tol=1e-10 * max(np.trace(gram), 1e-300))) if gram.size else 0


def gcm_test(a: np.ndarray, b: np.ndarray, strata: np.ndarray, continuous: np.ndarray, clusters: np.ndarray | None = None,
             b_constant_in_clusters: bool = False, seed: int = 0, n_perm: int = N_PERM) -> GCMResult:
    """``a`` (n, da) and ``b`` (n, db) numeric columns; ``strata`` codes and ``continuous`` (n, k) conditioning variables."""
    n = len(a)
    cluster_codes = np.arange(n) if clusters is None else np.unique(clusters, return_inverse=True)[1]
    n_clusters = int(cluster_codes.max() + 1) if n else 0
    basis = spline_basis(continuous)
    ra = residualise(a, strata, basis)
    rb = residualise(b, strata, basis)
    if ra.shape[1] * rb.shape[1] > PERMUTATION_DF:  # calibrated by permutation whatever the rank: skip the d x d covariance
        df = min(_rank(ra), n_clusters) * min(_rank(rb), n_clusters)  # (d = 6,000 for image id x label took a minute per test)
        t = 0.0 if df else float("nan")
    else:
        t, df = _statistic(ra, rb, cluster_codes, n_clusters)
    if df == 0 or not np.isfinite(t):
        return GCMResult(float("nan"), 0, float("nan"), "chi2", n_clusters)
    if df <= PERMUTATION_DF and df < n_clusters / 5:
        # Hotelling's T^2 -> F(d, C - d): the small-sample form of a Wald statistic with a covariance estimated
        # from C cluster sums (the chi-square limit is liberal at 80 clusters and 9 dimensions: 0.116 at 0.05)
        f = t * (n_clusters - df) / (df * (n_clusters - 1))
        return GCMResult(t, df, float(stats.f.sf(f, df, n_clusters - df)), "F", n_clusters)
    # permutation: a statistic whose weights do not change when B is permuted within strata, so the test is exact
    weight_a = np.linalg.pinv(ra.T @ ra, rcond=1e-10)
    weight_b = np.linalg.pinv(rb.T @ rb, rcond=1e-10)

    def invariant(rb_perm: np.ndarray) -> float:
        cross = ra.T @ rb_perm
        return float(np.sum((weight_a @ cross) * (cross @ weight_b)))

    observed = invariant(rb)
    rng = np.random.default_rng(seed)
    exceed = 0
    for _ in range(n_perm):
        perm = _permutation(strata, cluster_codes if b_constant_in_clusters else None, rng)
        # without splines, residualising commutes with a within-stratum permutation
        exceed += invariant(rb[perm] if basis.shape[1] == 0 else residualise(b[perm], strata, basis)) >= observed - 1e-12
    return GCMResult(observed, df, (1 + exceed) / (1 + n_perm), "permutation", n_clusters)


def _permutation(strata: np.ndarray, clusters: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """Row order that shuffles B within strata; whole clusters move together when B is constant within them."""
    n = strata.size
    order = np.arange(n)
    if clusters is None:
        for s in np.unique(strata):
            rows = np.flatnonzero(strata == s)
            order[rows] = rng.permutation(rows)
        return order
    # cluster-level: give each cluster the B of another cluster of the same stratum (first row's stratum)
    first = np.unique(clusters, return_index=True)[1]
    cluster_stratum = strata[first]
    target = np.arange(first.size)
    for s in np.unique(cluster_stratum):
        members = np.flatnonzero(cluster_stratum == s)
        target[members] = rng.permutation(members)
    return first[target][clusters]
