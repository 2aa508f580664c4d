"""Generalised covariance measure (Shah & Peters 2020) with flexible regressions and image-id clusters.

Test A _||_ B | Z: regress every column of A and of B on Z flexibly, multiply the residuals, and ask
whether the products average zero. The regression of a column on Z is exact for the strata of the
discrete members of Z (within-stratum means); for continuous members it is additive cubic splines (so Z -> Q and
Z -> M through Z^2 is adjusted for, where a linear term is not) followed by a small regression tree on the
spline's residuals, cross-fitted over 5 folds of image ids (rows without clusters): a step such as
1{Z > 0.5} acting on Q and M left the spline alone with a level of 0.82 at n = 400 and 1.00 at n = 2000; with
the tree, 0.05-0.07 (smooth shapes keep 0.03-0.06; tests/test_citest.py). The GCM is only as valid as these
regressions: effects that neither splines nor a tree of 8 leaves on each variable can follow (interactions of
several continuous variables) are not adjusted for, which the report says. Categorical A or B
enter as indicator columns, so the statistic is a vector; its covariance is estimated from the sums of
the products over clusters (one cluster per image id: the variants of an image are not independent),
or over rows without clusters. T = S' V^-1 S is chi-square with rank(V) degrees of freedom under the
null; with C clusters, Hotelling's T^2 correction gives F(d, C - d), which holds the level at 80 clusters
where the chi-square does not. Without clusters the rows are the units, and the regressions used some of their
degrees of freedom: the statistic is scaled by (n - p) / n and F has n - p - d denominator degrees of freedom, p the
strata, spline columns and tree leaves (a rare outcome, M = 1 in 7 % of 400 rows, rejected a true null 0.074 of the
time without this and 0.068 with it; the step confounder 0.067 -> 0.057). When that rank is large next to the number of clusters (a many-level categorical such as the
label), the chi-square is not trusted and the same statistic is calibrated by permutation: B is permuted (within
strata; whole clusters when B is constant within them, across all clusters when the strata vary within clusters)
and the permuted B is residualised on Z again, exactly as the observed B was, so the null distribution is built
the way the statistic is (reusing the residuals of the unpermuted B had a level of 0.23 for Q _||_ Y | M on
clustered variants). On that path B's regression is the spline alone (a tree per indicator and permutation would
cost minutes); A's keeps the tree, which is what the product needs (its bias is the product of the two errors).
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
    """Subtract each stratum's mean from every column (one sparse product for the sums, whatever the strata)."""
    from scipy.sparse import csr_matrix

    n = codes.size
    n_strata = int(codes.max()) + 1 if n else 1
    member = csr_matrix((np.ones(n), (codes, np.arange(n))), shape=(n_strata, n))
    counts = np.bincount(codes, minlength=n_strata)[:, None]
    return matrix - (np.asarray(member @ matrix) / np.maximum(counts, 1))[codes]


class _LinearResidualiser:
    """Strata means and the spline fit removed from any matrix of columns, with the strata's membership and the
    spline's projection computed once (the permutation path residualises a permuted B hundreds of times)."""

    def __init__(self, codes: np.ndarray, basis: np.ndarray):
        from scipy.sparse import csr_matrix

        n = codes.size
        self.codes = codes
        n_strata = int(codes.max()) + 1 if n else 1
        self.member = csr_matrix((np.ones(n), (codes, np.arange(n))), shape=(n_strata, n))
        self.counts = np.maximum(np.bincount(codes, minlength=n_strata), 1)[:, None]
        self.basis = self._within(basis) if basis.shape[1] else basis
        self.pinv = np.linalg.pinv(self.basis) if basis.shape[1] else None

    def _within(self, matrix: np.ndarray) -> np.ndarray:
        return matrix - (np.asarray(self.member @ matrix) / self.counts)[self.codes]

    def __call__(self, values: np.ndarray) -> np.ndarray:
        v = self._within(values)
        return v if self.pinv is None else v - self.basis @ (self.pinv @ v)


def _symmetric_pinv(gram: np.ndarray) -> np.ndarray:
    """Pseudo-inverse of a symmetric positive semi-definite matrix (eigh: no SVD convergence failures)."""
    values, vectors = np.linalg.eigh(gram)
    keep = values > 1e-10 * max(values.max(initial=0.0), 1e-300)
    return (vectors[:, keep] / values[keep]) @ vectors[:, keep].T


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


CROSS_FIT_FOLDS = 5
TREE_LEAVES = 8


def residualise_adaptive(values: np.ndarray, codes: np.ndarray, basis: np.ndarray, continuous: np.ndarray,
                         cluster_codes: np.ndarray, seed: int = 0) -> np.ndarray:
    """Cross-fitted residuals: strata means, the additive spline, then a regression tree (``TREE_LEAVES`` leaves) on
    the continuous variables fitted to the spline's residuals; each fold of clusters is predicted from the others.
    (Keeping the tree only where it lowered the out-of-fold error left the step confounder at a level of 0.107.)"""
    if continuous.shape[1] == 0:
        return residualise(values, codes, basis)
    from sklearn.tree import DecisionTreeRegressor

    from causaliqa.stats.streams import stream

    v, b = _within(values, codes), _within(basis, codes)
    n_clusters = int(cluster_codes.max()) + 1
    k = min(CROSS_FIT_FOLDS, n_clusters)
    fold = (stream(seed, "cross_fitting").permutation(n_clusters) % k)[cluster_codes]
    out = np.empty_like(v)
    for f in range(k):
        train, test = fold != f, fold == f
        coef, *_ = np.linalg.lstsq(b[train], v[train], rcond=None)
        spline_resid = v[train] - b[train] @ coef
        out[test] = v[test] - b[test] @ coef
        leaf = max(10, int(train.sum()) // 40)
        for j in range(v.shape[1]):
            tree = DecisionTreeRegressor(max_leaf_nodes=TREE_LEAVES, min_samples_leaf=leaf, random_state=0)
            out[test, j] -= tree.fit(continuous[train], spline_resid[:, j]).predict(continuous[test])
    return out


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
             b_constant_in_clusters: bool = False, seed: int = 0, n_perm: int | None = None) -> GCMResult:
    """``a`` (n, da) and ``b`` (n, db) numeric columns; ``strata`` codes and ``continuous`` (n, k) conditioning variables."""
    n = len(a)
    cluster_codes = np.arange(n) if clusters is None else np.unique(clusters, return_inverse=True)[1]
    n_clusters = int(cluster_codes.max() + 1) if n else 0
    basis = spline_basis(continuous)
    ra = residualise_adaptive(a, strata, basis, continuous, cluster_codes, seed)
    permutation_path = a.shape[1] * b.shape[1] > PERMUTATION_DF
    rb = residualise(b, strata, basis) if permutation_path else residualise_adaptive(b, strata, basis, continuous, cluster_codes, seed)
    if permutation_path:  # calibrated by permutation whatever the rank: skip the d x d covariance
        df = min(_rank(ra), n_clusters) * min(_rank(rb), n_clusters)  # (d = 6,000 for image id x label took a minute per test)
        t = 0.0 if df else float("nan")
    else:
        t, df = _statistic(ra, rb, cluster_codes, n_clusters)
    if df == 0 or not np.isfinite(t):
        return GCMResult(float("nan"), 0, float("nan"), "chi2", n_clusters)
    if df <= PERMUTATION_DF and df < n_clusters / 5:
        # Hotelling's T^2 -> F(d, C - d): the small-sample form of a Wald statistic with a covariance estimated
        # from C cluster sums (the chi-square limit is liberal at 80 clusters and 9 dimensions: 0.116 at 0.05)
        units = n_clusters
        if clusters is None:  # rows are the units: the fitted regressions used some of them
            fitted = int(strata.max()) + 1 + basis.shape[1] + (TREE_LEAVES if continuous.shape[1] else 0)
            units = max(n_clusters - fitted, df + 2)
            t = t * units / n_clusters
        f = t * (units - df) / (df * (units - 1))
        return GCMResult(t, df, float(stats.f.sf(f, df, units - df)), "F", n_clusters)
    # permutation: tr(P_A P_B), the sum of squared canonical correlations of the two residual spans (invariant to
    # how B is coded), with B residualised again after every permutation
    weight_a = _symmetric_pinv(ra.T @ ra)
    linear = _LinearResidualiser(strata, basis)

    def invariant(rb_perm: np.ndarray) -> float:
        cross = ra.T @ rb_perm
        return float(np.sum((weight_a @ cross) * (cross @ _symmetric_pinv(rb_perm.T @ rb_perm))))

    observed = invariant(rb if permutation_path else residualise(b, strata, basis))  # as every permuted B is
    from causaliqa.stats.streams import stream

    rng = stream(seed, "ci_permutations")
    n_perm = N_PERM if n_perm is None else n_perm
    exceed = 0
    for _ in range(n_perm):
        perm = _permutation(strata, cluster_codes if b_constant_in_clusters else None, rng)
        exceed += invariant(linear(b[perm])) >= observed - 1e-12
    return GCMResult(observed, df, (1 + exceed) / (1 + n_perm), "permutation", n_clusters)


def _permutation(strata: np.ndarray, clusters: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """Row order that shuffles B within strata; whole clusters move together when B is constant within them (within
    the clusters' strata when each cluster lies in one stratum, across all clusters otherwise)."""
    n = strata.size
    order = np.arange(n)
    if clusters is None:
        for s in np.unique(strata):
            rows = np.flatnonzero(strata == s)
            order[rows] = rng.permutation(rows)
        return order
    # cluster-level: give each cluster the B of another cluster (of the same stratum when strata are cluster-level)
    first = np.unique(clusters, return_index=True)[1]
    cluster_stratum = strata[first]
    if np.any(strata != cluster_stratum[clusters]):  # strata vary within clusters: no cluster-level stratum exists
        cluster_stratum = np.zeros_like(cluster_stratum)
    target = np.arange(first.size)
    for s in np.unique(cluster_stratum):
        members = np.flatnonzero(cluster_stratum == s)
        target[members] = rng.permutation(members)
    return first[target][clusters]
