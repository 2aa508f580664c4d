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
from causaliqa.stats.metrics import id_resample_counts, resampled_auc_ce


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


def id_codes(values) -> tuple[np.ndarray, np.ndarray]:
    """(sorted unique values, code of each value): ``np.unique(values, return_inverse=True)``, fast for strings and
    free for codes that are already dense (0..G-1, each used)."""
    values = np.asarray(values)
    if values.dtype.kind in "iu" and values.size and values.min() == 0 and np.all(np.bincount(values) > 0):
        return np.arange(int(values.max()) + 1), values.astype(np.int64, copy=False)
    import pandas as pd

    codes, names = pd.factorize(values, sort=True)
    return np.asarray(names), codes.astype(np.int64)


@dataclass(frozen=True)
class SplitPlan:
    """The point-wise procedure's random draws for one set of image ids, shared by every (M, Q) pair on those ids:
    per split the held-out rows, their ids' local codes and the row weights of each resample (row 0: the held-out
    set itself, all ones; rows 1..: how often each id was drawn). The draws are taken in the order of the
    reference loop (split, then its resamples), so a plan built once gives every pair exactly what it would have
    drawn alone."""

    n_ids: int
    seed: int
    per_split: int
    test: tuple[np.ndarray, ...]
    local: tuple[np.ndarray, ...]
    weights: tuple[np.ndarray, ...]


def split_plan(codes: np.ndarray, seed: int = 0, test_fraction: float = 0.2, n_boot: int = 1000, splits: int = 10) -> SplitPlan:
    """Draw ``splits`` 80/20 splits of the ids in ``codes`` (dense 0..n-1) and ``n_boot / splits`` id resamples each."""
    n_ids = int(codes.max()) + 1 if codes.size else 0
    rng = np.random.default_rng(seed)
    splits = max(1, min(splits, n_ids))
    per_split = max(1, n_boot // splits)
    test, local, weights = [], [], []
    for _ in range(splits):
        chosen = np.zeros(n_ids, dtype=bool)
        chosen[_split_ids(n_ids, test_fraction, rng)] = True
        is_test = chosen[codes]
        _, loc = np.unique(codes[is_test], return_inverse=True)
        test.append(is_test)
        local.append(loc)
        counts = id_resample_counts(int(loc.max()) + 1, per_split, rng)
        weights.append(np.asfortranarray(np.concatenate([np.ones((1, counts.shape[1])), counts])))  # resamples x ids
    return SplitPlan(n_ids, seed, per_split, tuple(test), tuple(local), tuple(weights))


def pointwise_predictability(q, m, image_ids, seed: int = 0, test_fraction: float = 0.2, n_boot: int = 1000,
                             splits: int = 10, plan: SplitPlan | None = None, q_orders: list | None = None) -> PointwisePredictability:
    """The paper's 80/20 split by image id, repeated ``splits`` times (see the module docstring).

    ``plan`` (from :func:`split_plan` on the same ids, seed and sizes) skips drawing; the result is the same.
    ``q_orders`` (a list, filled on first use) holds each split's held-out rows sorted by Q: every M column of
    this Q reuses it, as the fitted P(M | Q) is monotone in Q (reversed when the slope is negative).
    """
    q = _standardise(np.asarray(q, dtype=np.float64))
    m = np.asarray(m, dtype=np.float64)
    if plan is None:
        plan = split_plan(id_codes(image_ids)[1], seed, test_fraction, n_boot, splits)
    aucs, ces, coefs, boot_auc, boot_ce = _held_out_splits(q, m, plan, [] if q_orders is None else q_orders)
    aucs = np.array(aucs)
    finite = aucs[np.isfinite(aucs)]
    coef = np.mean(coefs, axis=0)
    n_test = int(plan.test[0].sum())
    return PointwisePredictability(
        float(np.mean(finite)) if finite.size else float("nan"), _ci95(boot_auc.ravel()),
        float(np.nanmean(ces)), _ci95(boot_ce.ravel()), (float(coef[0]), float(coef[1])), q.size - n_test, n_test,
        plan.per_split * len(plan.test), len(plan.test), float(np.std(finite)) if finite.size else float("nan"),
        (float(finite.min()), float(finite.max())) if finite.size else (float("nan"), float("nan")))


def _held_out_splits(q: np.ndarray, m: np.ndarray, plan: SplitPlan, q_orders: list):
    """Per split: held-out AUC and CE, the fitted coefficients, and each resample's AUC and CE (splits x resamples)."""
    aucs, ces, coefs, boot_auc, boot_ce = [], [], [], [], []
    for split, (is_test, local, weights) in enumerate(zip(plan.test, plan.local, plan.weights)):
        fit = fit_logit_batched(_design(q[~is_test])[None], m[~is_test][None])
        coef = np.where(np.isfinite(fit.coef[0]), fit.coef[0], fit.last[0])  # separated: the separating direction
        q_test = q[is_test]
        p_test = predict_proba(_design(q_test)[None], coef[None])[0]
        if len(q_orders) <= split:
            q_orders.append(np.argsort(q_test, kind="stable"))
        order = q_orders[split] if coef[1] >= 0 else q_orders[split][::-1]  # rounding keeps p monotone: same tie groups
        a, c = resampled_auc_ce(m[is_test], p_test, local, weights, order=order)  # row 0: the held-out set itself
        aucs.append(a[0])
        ces.append(c[0])
        coefs.append(coef)
        boot_auc.append(a[1:])
        boot_ce.append(c[1:])
    return np.array(aucs), np.array(ces), np.array(coefs), np.array(boot_auc), np.array(boot_ce)


def held_out_resampled(q: np.ndarray, m: np.ndarray, plan: SplitPlan) -> tuple[np.ndarray, np.ndarray]:
    """Each split's held-out AUC (splits,) and its resamples' AUCs (splits x resamples), on ``plan``'s draws."""
    aucs, _, _, boot, _ = _held_out_splits(np.asarray(q, dtype=np.float64), np.asarray(m, dtype=np.float64), plan, [])
    return aucs, boot


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
    are dealt round the k folds from a random start, so each fold gets its share of each class. One sort for all groups
    (a stable sort by random key, then a stable sort by (group, class): the order ``np.lexsort`` gives, faster)."""
    n_groups = int(codes.max()) + 1 if codes.size else 0
    by_random = np.argsort(rng.random(codes.size), kind="stable")
    key = np.asarray(codes, dtype=np.int64) * 2 + (np.asarray(m) > 0)
    order = by_random[np.argsort(key[by_random], kind="stable")]
    counts = np.bincount(codes, minlength=n_groups)
    position = np.arange(codes.size) - np.repeat(np.cumsum(counts) - counts, counts)
    fold = np.empty(codes.size, dtype=np.int64)
    fold[order] = (rng.integers(0, k, n_groups)[codes[order]] + position) % k
    return fold


def group_folds(m, groups, k: int = 5, seed: int = 0) -> np.ndarray:
    """The folds :func:`grouped_predictability` uses for these groups and this M (any Q): computed once, shared."""
    return stratified_folds(np.asarray(m, dtype=np.float64), id_codes(groups)[1], k, np.random.default_rng(seed))


def grouped_predictability(q, m, groups, by: str = "group", k: int = 5, seed: int = 0, max_cells: int = 2_000_000,
                           n_boot: int = 1000, folds: np.ndarray | None = None) -> GroupedPredictability:
    """Fit all groups x folds at once with batched IRLS; folds stratified by M; exclusions counted by reason.

    Folds come from ``seed`` (``folds`` passes the same ones precomputed by :func:`group_folds`); the group
    bootstrap draws from the seed's second stream, so sharing folds across Q columns changes nothing.
    """
    q = np.asarray(q, dtype=np.float64)
    m = np.asarray(m, dtype=np.float64)
    names, codes = id_codes(groups)
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
    if folds is None:
        folds = stratified_folds(m, codes, k, np.random.default_rng(seed))
    rng = np.random.default_rng([seed, 1])
    fold = np.full((G, n_max), -1)
    fold[codes[order], pos_in_group] = folds[order]
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


def permutation_null(q, m, image_ids, seed: int = 0, n_perm: int = 200, splits: int = 10, n_boot: int = 1000,
                     plan: SplitPlan | None = None) -> NullBand:
    """The point-wise AUC (mean over the analysis's own splits) with M permuted across image ids, ``n_perm`` times.

    Vectorised over permutations: a held-out AUC needs only the direction of the fitted slope, and for a logistic
    fit with an intercept the slope's sign is the sign of the score sum((m - mean m) q) on the training rows (the
    profile likelihood is concave), so each split is one matrix product for the directions and one for the rank
    sums. Equals running :func:`pointwise_predictability` on each permuted M (tested).
    """
    q = _standardise(np.asarray(q, dtype=np.float64))
    m = np.asarray(m, dtype=np.float64)
    _, codes = id_codes(image_ids)
    plan = plan or split_plan(codes, seed, 0.2, n_boot, splits)
    rng = np.random.default_rng(seed + 7919)
    M = np.stack([_permute_by_id(m, codes, rng.permutation(plan.n_ids)) for _ in range(n_perm)]) if n_perm else np.zeros((0, m.size))
    per_split = np.stack([held_out_aucs_by_sign(q, M, is_test) for is_test in plan.test], 1)
    with np.errstate(invalid="ignore"):
        values = np.nanmean(np.where(np.isfinite(per_split), per_split, np.nan), 1)
    lo, hi = _ci95(values)
    return NullBand(lo, hi, float(np.nanmean(values)), n_perm)


def held_out_aucs_by_sign(Q: np.ndarray, M: np.ndarray, is_test: np.ndarray) -> np.ndarray:
    """Held-out AUC of the logistic fit of M on Q over the training rows, for every row of Q and M (each (n,) or
    (P, n), broadcast): the slope's sign is the sign of the score sum((q - mean q) m) on the training rows (the
    profile likelihood is concave), and the AUC is then the test rows' rank sum of Q, flipped for a negative slope;
    0.5 where the fit has no slope (one class, or a zero score). NaN where the test rows hold one class."""
    from scipy.stats import rankdata

    Q, M = np.atleast_2d(Q), np.atleast_2d(M)
    q_train, m_train, m_test = Q[:, ~is_test], M[:, ~is_test], M[:, is_test]
    score = ((q_train - q_train.mean(1, keepdims=True)) * m_train).sum(1)
    train_pos = m_train.sum(1)
    one_class = (train_pos == 0) | (train_pos == q_train.shape[1])
    n_pos = m_test.sum(1)
    n_neg = m_test.shape[1] - n_pos
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = ((rankdata(Q[:, is_test], axis=1) * m_test).sum(1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    auc = np.where(score > 0, auc, np.where(score < 0, 1 - auc, 0.5))
    auc = np.where(one_class, 0.5, auc)
    return np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)


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
