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


def _bootstrap_over_ids(codes: np.ndarray, n_boot: int, rng: np.random.Generator, statistic) -> np.ndarray:
    """Resample image ids with replacement (all rows of an id move together); ``statistic(rows)`` -> tuple per resample."""
    ids, local = np.unique(codes, return_inverse=True)
    order = np.argsort(local, kind="stable")
    counts = np.bincount(local, minlength=ids.size)
    starts = np.cumsum(counts) - counts
    out = []
    for _ in range(n_boot):
        pick = rng.integers(0, ids.size, ids.size)
        out.append(statistic(np.concatenate([order[starts[i]:starts[i] + counts[i]] for i in pick])))
    return np.array(out, dtype=np.float64).T


def _ci95(values: np.ndarray) -> tuple[float, float]:
    if not np.isfinite(values).any():
        return (float("nan"), float("nan"))
    return tuple(float(x) for x in np.nanquantile(values, [0.025, 0.975]))


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
    aucs, ces = _bootstrap_over_ids(codes[is_test], n_boot, rng, lambda rows: (auc_score(m_test[rows], p_test[rows]),
                                                                              cross_entropy(m_test[rows], p_test[rows])))
    return PointwisePredictability(auc, _ci95(aucs), ce, _ci95(ces), (float(coef[0]), float(coef[1])), int((~is_test).sum()), int(is_test.sum()), n_boot)


def fold_auc(y: np.ndarray, s: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """AUC per row of padded (F, n) arrays over the masked entries (ties count half); NaN where one class.

    Rank-based (Mann-Whitney), O(F n log n) time and O(F n) memory: entries outside the mask are set
    to +inf so they rank above every real entry and leave the real entries' average ranks unchanged.
    """
    from scipy.stats import rankdata

    ranks = rankdata(np.where(mask, s, np.inf), axis=1)
    pos = (y == 1) & mask
    n_pos = pos.sum(1)
    n_neg = ((y == 0) & mask).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (np.where(pos, ranks, 0).sum(1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)


def _cv_chunk(Q, M, present, fold, k):
    """Fit every (group, fold) of a chunk at once; fold AUC, CE and flags per fit."""
    G, n_max = Q.shape
    X = np.repeat(_design(Q)[:, None], k, axis=1).reshape(G * k, n_max, 2)
    Y = np.repeat(M[:, None], k, axis=1).reshape(G * k, n_max)
    test = (fold[:, None, :] == np.arange(k)[None, :, None]).reshape(G * k, n_max)
    train = np.repeat(present[:, None], k, axis=1).reshape(G * k, n_max) & ~test
    fit = fit_logit_batched(X, Y, train)
    P = predict_proba(X, np.nan_to_num(fit.coef))
    aucs = fold_auc(Y, P, test)
    Pc = np.clip(P, 1e-15, 1 - 1e-15)
    ce = -(test * (Y * np.log(Pc) + (1 - Y) * np.log1p(-Pc))).sum(1) / np.maximum(test.sum(1), 1)
    used = fit.usable & ~np.isnan(aucs) & (test.sum(1) > 0)
    return aucs, ce, used, fit.one_class, fit.separated


def grouped_predictability(q, m, groups, by: str = "group", k: int = 5, seed: int = 0, max_cells: int = 2_000_000) -> GroupedPredictability:
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
    chunk = max(1, max_cells // (k * n_max))
    aucs, ce, used, one_class, separated = [], [], [], [], []
    for start in range(0, G, chunk):  # bounded memory: chunk x k fits at a time
        part = slice(start, start + chunk)
        a, c, u, o, sep = _cv_chunk(Q[part], M[part], present[part], fold[part], k)
        aucs.append(a), ce.append(c), used.append(u), one_class.append(o), separated.append(sep)
    aucs, ce, used = np.concatenate(aucs), np.concatenate(ce), np.concatenate(used)
    one_class, separated = np.concatenate(one_class), np.concatenate(separated)
    return GroupedPredictability(
        by, float(np.mean(aucs[used])) if used.any() else float("nan"), float(np.std(aucs[used])) if used.any() else float("nan"),
        float(np.mean(ce[used])) if used.any() else float("nan"), float(np.std(ce[used])) if used.any() else float("nan"),
        int(G), k, int(used.sum()), int(one_class.sum()), int(separated.sum()),
    )


@dataclass(frozen=True)
class CrossValidatedAUC:
    """AUC of out-of-fold P(M | Q) over every row (k folds by image id), bootstrap CI over ids."""

    auc: float
    auc_ci: tuple[float, float]
    n: int
    k: int

    def to_dict(self) -> dict:
        return asdict(self)


def cross_validated_auc(q, m, image_ids, k: int = 5, seed: int = 0, n_boot: int = 1000) -> CrossValidatedAUC:
    """Every row gets a prediction from a model that did not see its image id; the k fits run batched."""
    q = _standardise(np.asarray(q, dtype=np.float64))
    m = np.asarray(m, dtype=np.float64)
    ids, codes = np.unique(np.asarray(image_ids), return_inverse=True)
    rng = np.random.default_rng(seed)
    k = max(2, min(k, ids.size))
    fold_of_id = rng.permutation(ids.size) % k
    fold = fold_of_id[codes]
    X = np.broadcast_to(_design(q), (k, q.size, 2))
    train = fold[None, :] != np.arange(k)[:, None]
    fit = fit_logit_batched(X, np.broadcast_to(m, (k, m.size)), train)
    p = predict_proba(X, np.nan_to_num(fit.coef))[fold, np.arange(q.size)]
    auc = auc_score(m, p)
    boots = _bootstrap_over_ids(codes, n_boot, rng, lambda rows: (auc_score(m[rows], p[rows]),))[0]
    return CrossValidatedAUC(float(auc), _ci95(boots), int(q.size), int(k))
