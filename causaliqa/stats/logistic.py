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
    """Newton/IRLS for logit(P) = b0 + b1 z per group; the same iteration as the general path, in closed form.

    ``w`` is the row mask as 0/1 weights, or None when every row counts (no multiplications spent on it).
    Separation is detected from the linear predictor the iteration computes anyway.
    """
    from scipy.special import expit

    G = z.shape[0]
    beta = np.zeros((G, 2))
    active = ~one_class
    converged = np.zeros(G, dtype=bool)
    runaway_any = np.zeros(G, dtype=bool)
    it = 0
    for it in range(1, max_iter + 1):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        if idx.size == G:  # every group active: views, not copies (a pooled fit on millions of rows)
            za, ya, wa, ba = z, y, w, beta.copy()
        else:
            za, ya, wa, ba = z[idx], y[idx], (w[idx] if w is not None else None), beta[idx]
        eta = za * ba[:, 1:]
        eta += ba[:, :1]
        runaway = (np.abs(eta) if wa is None else np.abs(eta) * wa).max(1) > SEPARATION_LIMIT
        mu = expit(eta, out=eta)
        r = ya - mu
        W = mu * (1 - mu)
        if wa is not None:
            r *= wa
            W *= wa
        g0, g1 = r.sum(1), np.einsum("gn,gn->g", r, za)
        Wz = W * za
        h00, h01, h11 = W.sum(1) + 1e-12, Wz.sum(1), np.einsum("gn,gn->g", Wz, za) + 1e-12
        det = h00 * h11 - h01 * h01
        ok = det > 0
        det = np.where(ok, det, 1.0)
        step = np.stack([(h11 * g0 - h01 * g1) / det, (h00 * g1 - h01 * g0) / det], 1)
        step = np.where(ok[:, None], step, np.stack([g0 / h00, np.zeros_like(g0)], 1))  # constant z: intercept only
        beta[idx] = np.where(runaway[:, None], ba, ba + step)
        done = np.abs(step).max(1) < tol * (1 + np.abs(ba).max(1))
        converged[idx[done & ~runaway]] = True
        runaway_any[idx[runaway]] = True
        active[idx[done | runaway]] = False
    separated = ~one_class & runaway_any
    coef = beta.copy()
    coef[one_class | separated] = np.nan
    return BatchedLogit(coef, converged & ~separated, one_class, separated, it, beta)
