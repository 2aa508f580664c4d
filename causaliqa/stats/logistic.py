"""Logistic regression of M on Q for many groups at once: batched Newton/IRLS in numpy.

Each group g has rows X[g] (intercept + features) with a row mask; all groups take Newton steps
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

    @property
    def usable(self) -> np.ndarray:
        return self.converged & ~self.one_class & ~self.separated


def fit_logit_batched(X: np.ndarray, y: np.ndarray, mask: np.ndarray | None = None, max_iter: int = 50, tol: float = 1e-10) -> BatchedLogit:
    """Maximum-likelihood logistic fit per group; X (G, n, p), y (G, n) in {0,1}, mask (G, n) bool."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    G, n, p = X.shape
    w_rows = np.ones((G, n)) if mask is None else np.asarray(mask, dtype=np.float64)
    positives = (y * w_rows).sum(axis=1)
    count = w_rows.sum(axis=1)
    one_class = (positives == 0) | (positives == count)
    beta = np.zeros((G, p))
    active = ~one_class
    converged = np.zeros(G, dtype=bool)
    ridge = 1e-12 * np.eye(p)
    it = 0
    for it in range(1, max_iter + 1):
        if not active.any():
            break
        Xa, ya, wa, ba = X[active], y[active], w_rows[active], beta[active]
        eta = np.einsum("gnp,gp->gn", Xa, ba)
        mu = 1.0 / (1.0 + np.exp(-eta))
        weight = wa * mu * (1 - mu)
        grad = np.einsum("gnp,gn->gp", Xa, wa * (ya - mu))
        hess = np.einsum("gnp,gn,gnq->gpq", Xa, weight, Xa) + ridge
        try:
            step = np.linalg.solve(hess, grad[..., None])[..., 0]
        except np.linalg.LinAlgError:  # a singular group (e.g. constant Q): pseudo-inverse step
            step = np.einsum("gpq,gq->gp", np.linalg.pinv(hess), grad)
        beta[active] = ba + step
        done = np.abs(step).max(axis=1) < tol * (1 + np.abs(ba).max(axis=1))
        eta_new = np.abs(np.einsum("gnp,gp->gn", Xa, beta[active]) * wa).max(axis=1)
        runaway = eta_new > SEPARATION_LIMIT
        idx = np.flatnonzero(active)
        converged[idx[done & ~runaway]] = True
        active[idx[done | runaway]] = False
    eta_final = np.abs(np.einsum("gnp,gp->gn", X, beta) * w_rows).max(axis=1)
    separated = ~one_class & (eta_final > SEPARATION_LIMIT)
    coef = beta.copy()
    coef[one_class | separated] = np.nan
    return BatchedLogit(coef, converged & ~separated, one_class, separated, it)


def predict_proba(X: np.ndarray, coef: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.einsum("gnp,gp->gn", X, coef)))
