"""Predictability of M from Q: repeated 80/20 splits by image id, and k-fold CV within groups (labels, image ids).

Conventions (stated in every report):

* Point-wise (paper §4.2): logistic P(M | Q) fitted on 80 % of the image ids, AUC and cross-entropy on the
  other 20 %; repeated over ``splits`` random splits (default 10). The AUC is the mean over splits, its spread
  (sd, min-max) is reported, and the 95 % CI is the percentile interval of a test-id bootstrap pooled over the
  splits (``n_boot / splits`` resamples each), so it covers both the split and the sampling variability.
* Per group (App. G): within each group (label or image id) k folds stratified by M; a fold is scored when its
  test part holds both classes and its training part does too. A separated training fold (the MLE does not
  exist) still has a direction, and AUC needs only the sign of the slope, so it is kept for AUC (not for CE).
  Every excluded fold is counted by reason. mAUC is the mean over scored folds; its CI resamples groups.
* Held-out AUCs (a model fitted on other ids) are unbiased under no association; pooled out-of-fold
  predictions are not (they are biased below 0.5), so they are not used.

Q is standardised before fitting (AUC is unaffected; coefficients are per standard deviation of Q).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from causaliqa.serialize import Serializable
from causaliqa.stats.logistic import fit_logit_batched, predict_proba
from causaliqa.stats.metrics import auc_score, bootstrap_auc_ce, cross_entropy


@dataclass(frozen=True)
class PointwisePredictability(Serializable):
    """Logistic P(M | Q): ``splits`` random 80/20 splits by image id; AUC and CE on the held-out ids."""

    auc: float
    auc_ci: tuple[float, float]
    cross_entropy: float
    cross_entropy_ci: tuple[float, float]
    coef: tuple[float, float]
    n_train: int
    n_test: int
    n_boot: int
    splits: int = 1
    auc_sd: float = 0.0
    auc_range: tuple[float, float] = (float("nan"), float("nan"))


@dataclass(frozen=True)
class GroupedPredictability(Serializable):
    """One logistic model per group (label or image id), k folds stratified by M; mean fold AUC and CE.

    ``auc_ci`` resamples groups (their folds move together). Exclusions are counted by reason:
    ``folds_test_one_class`` (AUC undefined), ``folds_train_one_class`` (no slope). ``folds_separated``
    are kept for AUC (their direction is known) and left out of CE only.
    """

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
    folds_total: int = 0
    folds_test_one_class: int = 0
    folds_train_one_class: int = 0
    folds_ce_used: int = 0
    groups_used: int = 0
    auc_ci: tuple[float, float] = (float("nan"), float("nan"))


def _design(q: np.ndarray) -> np.ndarray:
    return np.stack([np.ones_like(q), q], axis=-1)


def _standardise(q: np.ndarray) -> np.ndarray:
    sd = q.std()
    return (q - q.mean()) / (sd if sd > 0 else 1.0)


def _ci95(values: np.ndarray) -> tuple[float, float]:
    if not np.isfinite(values).any():
        return (float("nan"), float("nan"))
    return tuple(float(x) for x in np.nanquantile(values, [0.025, 0.975]))


def _split_ids(n_ids: int, test_fraction: float, rng: np.random.Generator) -> np.ndarray:
    return rng.permutation(n_ids)[: max(1, round(test_fraction * n_ids))]


def pointwise_predictability(q, m, image_ids, seed: int = 0, test_fraction: float = 0.2, n_boot: int = 1000,
                             splits: int = 10) -> PointwisePredictability:
    """The paper's 80/20 split by image id, repeated ``splits`` times (see the module docstring)."""
    q = _standardise(np.asarray(q, dtype=np.float64))
    m = np.asarray(m, dtype=np.float64)
    ids, codes = np.unique(np.asarray(image_ids), return_inverse=True)
    rng = np.random.default_rng(seed)
    splits = max(1, min(splits, ids.size))
    per_split = max(1, n_boot // splits)
    aucs, ces, coefs, boot_auc, boot_ce, sizes = [], [], [], [], [], None
    for _ in range(splits):
        is_test = np.isin(codes, _split_ids(ids.size, test_fraction, rng))
        fit = fit_logit_batched(_design(q[~is_test])[None], m[~is_test][None])
        coef = np.where(np.isfinite(fit.coef[0]), fit.coef[0], fit.last[0])  # separated: the separating direction
        p_test = predict_proba(_design(q[is_test])[None], coef[None])[0]
        m_test = m[is_test]
        aucs.append(auc_score(m_test, p_test))
        ces.append(cross_entropy(m_test, p_test))
        coefs.append(coef)
        sizes = sizes or (int((~is_test).sum()), int(is_test.sum()))
        a, c = bootstrap_auc_ce(m_test, p_test, codes[is_test], per_split, rng)
        boot_auc.append(a)
        boot_ce.append(c)
    aucs = np.array(aucs)
    finite = aucs[np.isfinite(aucs)]
    coef = np.mean(coefs, axis=0)
    return PointwisePredictability(
        float(np.mean(finite)) if finite.size else float("nan"), _ci95(np.concatenate(boot_auc)),
        float(np.nanmean(ces)), _ci95(np.concatenate(boot_ce)), (float(coef[0]), float(coef[1])), sizes[0], sizes[1],
        per_split * splits, splits, float(np.std(finite)) if finite.size else float("nan"),
        (float(finite.min()), float(finite.max())) if finite.size else (float("nan"), float("nan")))


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
    """Fit every (group, fold) of a chunk at once; fold AUC (separated fits by their direction), CE and flags."""
    G, n_max = Q.shape
    X = np.repeat(_design(Q)[:, None], k, axis=1).reshape(G * k, n_max, 2)
    Y = np.repeat(M[:, None], k, axis=1).reshape(G * k, n_max)
    test = (fold[:, None, :] == np.arange(k)[None, :, None]).reshape(G * k, n_max)
    train = np.repeat(present[:, None], k, axis=1).reshape(G * k, n_max) & ~test
    fit = fit_logit_batched(X, Y, train)
    direction = np.where(np.isfinite(fit.coef), fit.coef, np.nan_to_num(fit.last))
    aucs = fold_auc(Y, predict_proba(X, np.nan_to_num(direction)), test)
    Pc = np.clip(predict_proba(X, np.nan_to_num(fit.coef)), 1e-15, 1 - 1e-15)
    ce = -(test * (Y * np.log(Pc) + (1 - Y) * np.log1p(-Pc))).sum(1) / np.maximum(test.sum(1), 1)
    has_test = test.sum(1) > 0
    test_one_class = has_test & np.isnan(aucs)
    train_one_class = fit.one_class & has_test & ~test_one_class
    used = has_test & ~test_one_class & ~fit.one_class
    ce_used = used & ~fit.separated
    return aucs, ce, used, ce_used, has_test, test_one_class, train_one_class, fit.separated & used


def stratified_folds(m: np.ndarray, codes: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Fold of every row, stratified by M within each group: a group's rows, ordered by class and then at random,
    are dealt round the k folds from a random start, so each fold gets its share of each class. One sort for all groups."""
    n_groups = int(codes.max()) + 1 if codes.size else 0
    order = np.lexsort((rng.random(codes.size), m, codes))
    counts = np.bincount(codes, minlength=n_groups)
    position = np.arange(codes.size) - np.repeat(np.cumsum(counts) - counts, counts)
    fold = np.empty(codes.size, dtype=np.int64)
    fold[order] = (rng.integers(0, k, n_groups)[codes[order]] + position) % k
    return fold


def grouped_predictability(q, m, groups, by: str = "group", k: int = 5, seed: int = 0, max_cells: int = 2_000_000,
                           n_boot: int = 1000) -> GroupedPredictability:
    """Fit all groups x folds at once with batched IRLS; folds stratified by M; exclusions counted by reason."""
    q = np.asarray(q, dtype=np.float64)
    m = np.asarray(m, dtype=np.float64)
    names, codes = np.unique(np.asarray(groups), return_inverse=True)
    order = np.argsort(codes, kind="stable")
    counts = np.bincount(codes, minlength=names.size)
    n_max = counts.max()
    G = names.size
    starts = np.cumsum(counts) - counts
    pos_in_group = np.arange(order.size) - np.repeat(starts, counts)
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
    fold[codes[order], pos_in_group] = stratified_folds(m, codes, k, rng)[order]
    chunk = max(1, max_cells // (k * n_max))
    parts = []
    for start in range(0, G, chunk):  # bounded memory: chunk x k fits at a time
        part = slice(start, start + chunk)
        parts.append(_cv_chunk(Q[part], M[part], present[part], fold[part], k))
    aucs, ce, used, ce_used, has_test, test_one, train_one, separated = (np.concatenate(x) for x in zip(*parts))
    auc_g = np.where(used, aucs, 0.0).reshape(G, k).sum(1)
    used_g = used.reshape(G, k).sum(1)
    boots = []
    for start in range(0, n_boot, 50):  # groups resampled with their folds (50 resamples at a time): CI of the mean
        pick = rng.integers(0, G, (min(50, n_boot - start), G))
        n_used = used_g[pick].sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            boots.extend(np.where(n_used > 0, auc_g[pick].sum(1) / n_used, np.nan))

    def mean_sd(values, mask):
        return (float(np.mean(values[mask])), float(np.std(values[mask]))) if mask.any() else (float("nan"), float("nan"))

    (m_auc, s_auc), (m_ce, s_ce) = mean_sd(aucs, used), mean_sd(ce, ce_used)
    return GroupedPredictability(
        by, m_auc, s_auc, m_ce, s_ce, int(G), k, int(used.sum()), int((test_one | train_one).sum()), int(separated.sum()),
        int(has_test.sum()), int(test_one.sum()), int(train_one.sum()), int(ce_used.sum()), int((used_g > 0).sum()),
        _ci95(np.array(boots)),
    )


@dataclass(frozen=True)
class NullBand(Serializable):
    """The AUC's distribution when M is permuted across image ids: where 'no association' lands on this design."""

    low: float
    high: float
    mean: float
    n_perm: int


def permutation_null(q, m, image_ids, seed: int = 0, n_perm: int = 200, splits: int = 10) -> NullBand:
    """AUC of the point-wise procedure with M's values permuted across image ids (each id keeps its rows' pattern)."""
    q = np.asarray(q, dtype=np.float64)
    m = np.asarray(m, dtype=np.float64)
    ids, codes = np.unique(np.asarray(image_ids), return_inverse=True)
    rng = np.random.default_rng(seed + 7919)
    values = []
    for i in range(n_perm):
        perm = rng.permutation(ids.size)
        m_perm = _permute_by_id(m, codes, perm)
        values.append(pointwise_predictability(q, m_perm, codes, seed=seed + i + 1, n_boot=splits, splits=splits).auc)
    values = np.array(values)
    lo, hi = _ci95(values)
    return NullBand(lo, hi, float(np.nanmean(values)), n_perm)


def _permute_by_id(m: np.ndarray, codes: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """Give image id i the M values of id perm[i] (ids with one row each, as in a mixture: a plain permutation)."""
    counts = np.bincount(codes)
    if np.all(counts == 1):
        return m[np.argsort(codes)][perm][codes]
    out = m.copy()
    for i, j in enumerate(perm):  # ids of unequal sizes: cycle j's values over i's rows
        src = m[codes == j]
        dst = np.flatnonzero(codes == i)
        out[dst] = np.resize(src, dst.size)
    return out
