"""Predictability of M from Q: pooled 80/20 split by image id, and k-fold CV within groups (labels, image ids).

Q is standardised before fitting (AUC is unaffected; coefficients are per standard deviation of Q).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from causaliqa.stats.logistic import fit_logit_batched, predict_proba
from causaliqa.stats.metrics import auc_score, cross_entropy


@dataclass(frozen=True)
class PointwisePredictability:
    """Logistic P(M | Q) trained on 80 % of image ids, AUC and cross-entropy on the rest, bootstrap CIs over test ids."""

    auc: float
    auc_ci: tuple[float, float]
    cross_entropy: float
    cross_entropy_ci: tuple[float, float]
    coef: tuple[float, float]
    n_train: int
    n_test: int
    n_boot: int

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class GroupedPredictability:
    """One logistic model per group (label or image id), k-fold CV; mean and sd of fold AUC and CE."""

    by: str
    mean_auc: float
    std_auc: float
    mean_cross_entropy: float
    std_cross_entropy: float
    n_groups: int
    n_folds: int
    folds_used: int
    folds_one_class: int
    folds_separated: int

    def to_dict(self) -> dict:
        return asdict(self)


def _design(q: np.ndarray) -> np.ndarray:
    return np.stack([np.ones_like(q), q], axis=-1)


def _standardise(q: np.ndarray) -> np.ndarray:
    sd = q.std()
    return (q - q.mean()) / (sd if sd > 0 else 1.0)


def pointwise_predictability(q, m, image_ids, seed: int = 0, test_fraction: float = 0.2, n_boot: int = 1000) -> PointwisePredictability:
    q = _standardise(np.asarray(q, dtype=np.float64))
    m = np.asarray(m, dtype=np.float64)
    ids, codes = np.unique(np.asarray(image_ids), return_inverse=True)
    rng = np.random.default_rng(seed)
    test_ids = rng.permutation(ids.size)[: max(1, round(test_fraction * ids.size))]
    is_test = np.isin(codes, test_ids)
    fit = fit_logit_batched(_design(q[~is_test])[None], m[~is_test][None])
    coef = fit.coef[0]
    p_test = predict_proba(_design(q[is_test])[None], coef[None])[0]
    m_test = m[is_test]
    auc, ce = auc_score(m_test, p_test), cross_entropy(m_test, p_test)
    # bootstrap over test image ids (all variants of an id move together)
    test_codes = codes[is_test]
    uniq, local = np.unique(test_codes, return_inverse=True)
    order = np.argsort(local, kind="stable")
    starts = np.searchsorted(local[order], np.arange(uniq.size))
    ends = np.append(starts[1:], order.size)
    aucs, ces = np.empty(n_boot), np.empty(n_boot)
    for b in range(n_boot):
        pick = rng.integers(0, uniq.size, uniq.size)
        rows = np.concatenate([order[starts[i]:ends[i]] for i in pick])
        aucs[b] = auc_score(m_test[rows], p_test[rows])
        ces[b] = cross_entropy(m_test[rows], p_test[rows])
    ci = lambda v: tuple(float(x) for x in np.nanquantile(v, [0.025, 0.975]))  # noqa: E731
    return PointwisePredictability(auc, ci(aucs), ce, ci(ces), (float(coef[0]), float(coef[1])), int((~is_test).sum()), int(is_test.sum()), n_boot)


def fold_auc(y: np.ndarray, s: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """AUC per row of padded (F, n) arrays; NaN where the fold's test rows hold one class."""
    pos = (y == 1) & mask
    neg = (y == 0) & mask
    greater = (s[:, :, None] > s[:, None, :]).astype(np.float64) + 0.5 * (s[:, :, None] == s[:, None, :])
    pairs = pos[:, :, None] & neg[:, None, :]
    n_pairs = pairs.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_pairs > 0, (greater * pairs).sum(axis=(1, 2)) / n_pairs, np.nan)


def grouped_predictability(q, m, groups, by: str = "group", k: int = 5, seed: int = 0) -> GroupedPredictability:
    """Fit all groups x folds at once with batched IRLS; flag one-class and separated folds."""
    q = np.asarray(q, dtype=np.float64)
    m = np.asarray(m, dtype=np.float64)
    names, codes = np.unique(np.asarray(groups), return_inverse=True)
    order = np.argsort(codes, kind="stable")
    counts = np.bincount(codes, minlength=names.size)
    n_max = counts.max()
    G = names.size
    pos_in_group = np.arange(order.size) - np.repeat(np.cumsum(counts) - counts, counts)
    Q = np.zeros((G, n_max))
    M = np.zeros((G, n_max))
    present = np.zeros((G, n_max), dtype=bool)
    Q[codes[order], pos_in_group] = q[order]
    M[codes[order], pos_in_group] = m[order]
    present[codes[order], pos_in_group] = True
    # standardise within group so one IRLS scale fits all
    mean = np.where(present, Q, 0).sum(1, keepdims=True) / counts[:, None]
    sd = np.sqrt(np.where(present, (Q - mean) ** 2, 0).sum(1, keepdims=True) / counts[:, None])
    Q = np.where(present, (Q - mean) / np.where(sd > 0, sd, 1.0), 0.0)
    rng = np.random.default_rng(seed)
    fold = np.full((G, n_max), -1)
    for g in range(G):  # rows of a group dealt to folds in a random order
        fold[g, : counts[g]] = rng.permutation(counts[g]) % k
    X = np.repeat(_design(Q)[:, None], k, axis=1).reshape(G * k, n_max, 2)
    Y = np.repeat(M[:, None], k, axis=1).reshape(G * k, n_max)
    test = (fold[:, None, :] == np.arange(k)[None, :, None]).reshape(G * k, n_max)
    train = np.repeat(present[:, None], k, axis=1).reshape(G * k, n_max) & ~test
    fit = fit_logit_batched(X, Y, train)
    P = predict_proba(X, np.nan_to_num(fit.coef))
    aucs = fold_auc(Y, P, test)
    eps = 1e-15
    Pc = np.clip(P, eps, 1 - eps)
    ce = -(test * (Y * np.log(Pc) + (1 - Y) * np.log1p(-Pc))).sum(1) / np.maximum(test.sum(1), 1)
    used = fit.usable & ~np.isnan(aucs) & (test.sum(1) > 0)
    return GroupedPredictability(
        by, float(np.mean(aucs[used])) if used.any() else float("nan"), float(np.std(aucs[used])) if used.any() else float("nan"),
        float(np.mean(ce[used])) if used.any() else float("nan"), float(np.std(ce[used])) if used.any() else float("nan"),
        int(G), k, int(used.sum()), int(fit.one_class.sum()), int(fit.separated.sum()),
    )
