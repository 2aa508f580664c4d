"""Logistic regression of M on Q for many groups at once: batched Newton/IRLS in numpy.

Each group g has rows (intercept, z) with a row mask; all groups take Newton steps
together. Groups with one class, or whose fit runs away (perfect or quasi-perfect separation), are
flagged instead of diverging.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SEPARATION_LIMIT = 25.0  # |linear predictor| beyond this on a fitted row means the MLE does not exist


@dataclass(frozen=True)
class BatchedLogit:
    coef: np.ndarray  # (G, p), NaN where not estimable
    converged: np.ndarray  # (G,) bool
    one_class: np.ndarray  # (G,) bool
    separated: np.ndarray  # (G,) bool
    iterations: int
    last: np.ndarray | None = None  # (G, p) the last finite iterate: for a separated fit, it points the separating way

    @property
    def usable(self) -> np.ndarray:
        return self.converged & ~self.one_class & ~self.separated


def fit_logit_batched(X: np.ndarray, y: np.ndarray, mask: np.ndarray | None = None, max_iter: int = 50, tol: float = 1e-10) -> BatchedLogit:
    """Maximum-likelihood logit(P) = b0 + b1 z per group: X (G, n, 2) whose first column is ones, y (G, n) in {0, 1},
    mask (G, n) bool. The 2 x 2 Newton step is solved in closed form on (G, n) arrays (the paper's P(M | Q))."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    G, n, p = X.shape
    if p != 2 or not np.all(X[..., 0] == 1.0):
        raise ValueError("fit_logit_batched fits an intercept and one slope: X must be (G, n, 2) with a first column of ones")
    w = None if mask is None else np.asarray(mask, dtype=np.float64)
    positives = y.sum(1) if w is None else (y * w).sum(1)
    count = np.full(G, float(n)) if w is None else w.sum(1)
    one_class = (positives == 0) | (positives == count)
    return _fit_intercept_slope(np.ascontiguousarray(X[..., 1]), y, w, one_class, max_iter, tol)


def predict_proba(X: np.ndarray, coef: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.einsum("gnp,gp->gn", X, coef)))


def _fit_intercept_slope(z: np.ndarray, y: np.ndarray, w: np.ndarray | None, one_class: np.ndarray, max_iter: int, tol: float) -> BatchedLogit:
    """Newton/IRLS for logit(P) = b0 + b1 z per group, compiled (:func:`causaliqa.stats._kernels.logit_irls`): one
    pass over a group's rows per iteration, groups in parallel; ``w`` is the row mask as 0/1 weights, or None.
    Separation is detected from the linear predictor the iteration computes anyway."""
    from numba import get_num_threads

    from causaliqa.stats._kernels import logit_irls, logit_irls_one

    z, y = np.ascontiguousarray(z), np.ascontiguousarray(y, dtype=np.float64)
    one_class = np.asarray(one_class, dtype=np.bool_)
    if z.shape[0] < get_num_threads() and z.shape[1] >= 100_000:  # few long groups: parallel within each group
        beta = np.zeros((z.shape[0], 2))
        converged, runaway = np.zeros(z.shape[0], dtype=bool), np.zeros(z.shape[0], dtype=bool)
        iterations = np.zeros(z.shape[0], dtype=np.int64)
        for g in np.flatnonzero(~one_class):
            weights = np.zeros(0) if w is None else np.ascontiguousarray(w[g], dtype=np.float64)
            beta[g, 0], beta[g, 1], converged[g], runaway[g], iterations[g] = logit_irls_one(
                z[g], y[g], weights, max_iter, tol, SEPARATION_LIMIT, 4 * get_num_threads())
    else:
        weights = np.zeros((1, 0)) if w is None else np.ascontiguousarray(w, dtype=np.float64)
        beta, converged, runaway, iterations = logit_irls(z, y, weights, one_class, max_iter, tol, SEPARATION_LIMIT)
    separated = ~one_class & runaway
    coef = beta.copy()
    coef[one_class | separated] = np.nan
    return BatchedLogit(coef, converged & ~separated, one_class, separated, int(iterations.max(initial=0)), beta)
