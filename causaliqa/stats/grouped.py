"""Predictability within groups (paper App. G): one logistic model per label, or per image id, k-fold CV inside.

Conventions (stated in every report):

* Folds: within each group, k folds stratified by M. Per label the folds are dealt over *image ids*, never over
  rows: all variants of an image sit in one fold (otherwise an image's other variants in the training part leak its
  content into the test part: with Q and M independent but both carrying an image effect, mAUC|label was 0.573
  instead of 0.5). A label needs at least 2 images; with fewer than k it gets as many folds as it has images. Per
  image id the folds are over the image's variants (the rows differ only by corruption).
* A fold is scored when its test part holds both classes and its training part does too. A separated training fold
  (the MLE does not exist) still has a direction, and AUC needs only the sign of the slope, so it is kept for AUC
  (scored on the linear predictor, so saturated probabilities cannot tie) and left out of CE.
* mAUC is the mean over scored folds; its CI is the delete-one-group jackknife (t with G - 1 degrees of freedom):
  each replicate leaves one group and its folds out (measured coverage 0.94 at 40 labels; the group
  bootstrap's percentile interval, used before, is narrower with few groups). A mean over fewer than
  :data:`MIN_GROUPS` groups is not estimable: the report says n/a and how many groups it would need.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from causaliqa.serialize import Serializable
from causaliqa.stats.logistic import fit_logit_batched
from causaliqa.stats.predictability import _design, id_codes, jackknife_interval
from causaliqa.stats.streams import stream

MIN_GROUPS = 10  # fewer groups than this: a mean over groups and its CI are not estimable (n/a)


@dataclass(frozen=True)
class GroupedPredictability(Serializable):
    """One logistic model per group (label or image id), k folds stratified by M; mean fold AUC and CE.

    ``auc_ci`` is the delete-one-group jackknife interval (a group's folds leave together). Exclusions are counted by reason:
    ``folds_test_one_class`` (AUC undefined), ``folds_train_one_class`` (no slope), ``groups_too_few_units``
    (a label with one image: no image left to train on). ``folds_separated`` are kept for AUC (their direction is
    known) and left out of CE only. ``unit``: what the folds keep together (``image_id`` per label; ``row`` per image).
    """

    json_properties = ("estimable",)

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
    unit: str = "row"
    groups_too_few_units: int = 0

    @property
    def estimable(self) -> bool:
        return self.groups_used >= MIN_GROUPS


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
    """Fit every (group, fold) of a chunk at once; fold AUC (on the linear predictor), CE and flags."""
    G, n_max = Q.shape
    X = np.repeat(_design(Q)[:, None], k, axis=1).reshape(G * k, n_max, 2)
    Y = np.repeat(M[:, None], k, axis=1).reshape(G * k, n_max)
    test = (fold[:, None, :] == np.arange(k)[None, :, None]).reshape(G * k, n_max)
    train = np.repeat(present[:, None], k, axis=1).reshape(G * k, n_max) & ~test
    fit = fit_logit_batched(X, Y, train)
    direction = np.where(np.isfinite(fit.coef), fit.coef, np.nan_to_num(fit.last))
    aucs = fold_auc(Y, np.einsum("gnp,gp->gn", X, np.nan_to_num(direction)), test)  # separated fits: no saturation ties
    eta = np.einsum("gnp,gp->gn", X, np.nan_to_num(fit.coef))
    Pc = np.clip(1.0 / (1.0 + np.exp(-eta)), 1e-15, 1 - 1e-15)
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


def grouped_stratified_folds(m: np.ndarray, codes: np.ndarray, units: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Fold of every row with all rows of a unit (image id) in one fold, stratified by M within each group (label):
    a group's units, ordered by their share of M = 1 (ties at random), are dealt round min(k, units in the group)
    folds from a random start. The aim of sklearn's ``StratifiedGroupKFold``, per group in one vectorised pass
    (sklearn took 35 ms per label, 35 s per M column at the paper's 1000 labels); tests compare the two."""
    unit_codes = id_codes(units)[1]
    n_units = int(unit_codes.max()) + 1 if unit_codes.size else 0
    first = np.full(n_units, -1, dtype=np.int64)
    first[unit_codes[::-1]] = np.arange(unit_codes.size)[::-1]
    unit_group = np.asarray(codes, dtype=np.int64)[first]
    share = np.bincount(unit_codes, weights=np.asarray(m, dtype=np.float64) > 0, minlength=n_units) / np.bincount(unit_codes, minlength=n_units)
    order = np.lexsort((rng.random(n_units), share, unit_group))  # by group, then share, ties at random
    n_groups = int(unit_group.max()) + 1 if n_units else 0
    per_group = np.bincount(unit_group, minlength=n_groups)
    folds_g = np.minimum(k, np.maximum(per_group, 1))
    position = np.empty(n_units, dtype=np.int64)
    position[order] = np.arange(n_units) - np.repeat(np.cumsum(per_group) - per_group, per_group)
    start = (rng.random(n_groups) * folds_g).astype(np.int64)
    unit_fold = (start[unit_group] + position) % folds_g[unit_group]
    return unit_fold[unit_codes]


def group_folds(m, groups, k: int = 5, seed: int = 0, units=None) -> np.ndarray:
    """The folds :func:`grouped_predictability` uses for these groups and this M (any Q): computed once, shared.
    ``units`` (image ids): rows of a unit stay in one fold (per-label CV)."""
    rng = stream(seed, "folds")
    m, codes = np.asarray(m, dtype=np.float64), id_codes(groups)[1]
    return stratified_folds(m, codes, k, rng) if units is None else grouped_stratified_folds(m, codes, np.asarray(units), k, rng)


def grouped_predictability(q, m, groups, by: str = "group", k: int = 5, seed: int = 0, max_cells: int = 2_000_000,
                           folds: np.ndarray | None = None, units=None) -> GroupedPredictability:
    """Fit all groups x folds at once with batched IRLS; folds stratified by M (grouped by ``units`` when given);
    exclusions counted by reason.

    Folds come from the seed's ``folds`` stream (``folds`` passes the same ones precomputed by :func:`group_folds`),
    so sharing folds across Q columns changes nothing.
    """
    q = np.asarray(q, dtype=np.float64)
    m = np.asarray(m, dtype=np.float64)
    names, codes = id_codes(groups)
    G = names.size
    too_few = np.zeros(G, dtype=bool)
    if units is not None:
        unit_codes = id_codes(units)[1]
        distinct = np.unique(np.stack([codes, unit_codes]), axis=1)[0]
        too_few = np.bincount(distinct, minlength=G) < 2
    order = np.argsort(codes, kind="stable")
    counts = np.bincount(codes, minlength=G)
    n_max = counts.max()
    starts = np.cumsum(counts) - counts
    pos_in_group = np.arange(order.size) - np.repeat(starts, counts)
    Q = np.zeros((G, n_max))
    M = np.zeros((G, n_max))
    present = np.zeros((G, n_max), dtype=bool)
    Q[codes[order], pos_in_group] = q[order]
    M[codes[order], pos_in_group] = m[order]
    present[codes[order], pos_in_group] = ~too_few[codes[order]]
    # standardise within group so one IRLS scale fits all
    mean = np.where(present, Q, 0).sum(1, keepdims=True) / np.maximum(counts[:, None], 1)
    sd = np.sqrt(np.where(present, (Q - mean) ** 2, 0).sum(1, keepdims=True) / np.maximum(counts[:, None], 1))
    Q = np.where(present, (Q - mean) / np.where(sd > 0, sd, 1.0), 0.0)
    if folds is None:
        folds = group_folds(m, codes, k, seed, units)
    fold = np.full((G, n_max), -1)
    fold[codes[order], pos_in_group] = np.where(too_few[codes[order]], -1, folds[order])
    chunk = max(1, max_cells // (k * n_max))
    parts = []
    for start in range(0, G, chunk):  # bounded memory: chunk x k fits at a time
        part = slice(start, start + chunk)
        parts.append(_cv_chunk(Q[part], M[part], present[part], fold[part], k))
    aucs, ce, used, ce_used, has_test, test_one, train_one, separated = (np.concatenate(x) for x in zip(*parts))
    auc_g = np.where(used, aucs, 0.0).reshape(G, k).sum(1)
    used_g = used.reshape(G, k).sum(1)
    total, n_total = auc_g.sum(), used_g.sum()
    with np.errstate(invalid="ignore", divide="ignore"):  # delete-one-group jackknife of the mean over folds
        replicates = ((total - auc_g) / (n_total - used_g))[used_g > 0]

    def mean_sd(values, mask):
        return (float(np.mean(values[mask])), float(np.std(values[mask]))) if mask.any() else (float("nan"), float("nan"))

    (m_auc, s_auc), (m_ce, s_ce) = mean_sd(aucs, used), mean_sd(ce, ce_used)
    return GroupedPredictability(
        by, m_auc, s_auc, m_ce, s_ce, int(G), k, int(used.sum()), int((test_one | train_one).sum()), int(separated.sum()),
        int(has_test.sum()), int(test_one.sum()), int(train_one.sum()), int(ce_used.sum()), int((used_g > 0).sum()),
        jackknife_interval(float(total / n_total) if n_total else float("nan"), replicates), "row" if units is None else "image_id", int(too_few.sum()),
    )
