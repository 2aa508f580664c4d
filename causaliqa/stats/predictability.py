"""Point-wise predictability of M from Q (paper §4.2): repeated 80/20 splits by image id, held-out AUC and CE.

Conventions (stated in every report):

* Splits: logistic P(M | Q) fitted on 80 % of the image ids (every variant of an image on one side), AUC and
  cross-entropy on the other 20 %. The ``splits`` splits are rounds of a 5-fold partition of the ids, so with 10
  splits every image is held out exactly twice (random 80/20 draws held some images out more often than others,
  which added Monte Carlo noise to the mean). The estimate is the mean over splits; their range is reported apart.
* AUC pairs: the held-out AUC counts pairs of variants of *different* images (a pair of two variants of one image
  says how Q orders the corruptions of that image, which App. G's per-image analysis measures). At the paper's
  size this changes nothing (1 pair in 10,000 is within an image); on small sets it removes a bias towards the
  within-image AUC. With one Q the fitted model orders the held-out rows by Q (or by -Q when the slope is
  negative), so the AUC is that of the linear predictor: saturated probabilities of a separated fit cannot tie.
* Interval: a delete-a-group jackknife of the whole analysis over image ids: the ids are dealt into
  ``JACKKNIFE_GROUPS`` groups (every id its own group when there are fewer), each replicate leaves one group out
  (all variants of its images) and redoes every split's fitted direction and held-out AUC; the 95 % CI is the
  estimate +- t_{G-1} times the jackknife standard error, clipped to [0, 1]. Measured by simulation (80 images x 16
  variants, 400 data sets; tests/test_calibration.py): coverage 0.95, where the image-id cluster bootstrap of the
  split mean covered 0.92 (its standard error was 7 % short: the held-out AUC is a ratio of pair counts within
  16-image test sets) and pooling each split's own bootstrap, as before, covered 1.00 at 2.4x the needed width.
  The CE's replicates keep each split's fitted coefficients (the fit of two coefficients varies far less than the
  held-out set).
* Random streams: splits, jackknife groups and permutations each have their own (:mod:`causaliqa.stats.streams`),
  so changing one count changes no point estimate.
* Held-out AUCs (a model fitted on other ids) are unbiased under no association; pooled out-of-fold
  predictions are not (they are biased below 0.5), so they are not used.

Q is standardised before fitting (AUC is unaffected; coefficients are per standard deviation of Q).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from causaliqa.serialize import Serializable
from causaliqa.stats.logistic import fit_logit_batched, predict_proba
from causaliqa.stats.metrics import resampled_cross_entropy, resampled_mann_whitney, within_id_pairs
from causaliqa.stats.streams import stream


@dataclass(frozen=True)
class PointwisePredictability(Serializable):
    """Logistic P(M | Q): ``splits`` 80/20 splits by image id; AUC (pairs of different images) and CE held out.

    ``n_replicates``: jackknife replicates behind the intervals. ``auc_resamples`` (not serialised) holds each
    replicate's mean over splits: pairs analysed on the same rows share their replicates, so differences between
    them are paired (:func:`jackknife_interval` of the differences)."""

    json_exclude = ("auc_resamples",)

    auc: float
    auc_ci: tuple[float, float]
    cross_entropy: float
    cross_entropy_ci: tuple[float, float]
    coef: tuple[float, float]
    n_train: int
    n_test: int
    n_replicates: int
    splits: int = 1
    auc_sd: float = 0.0
    auc_range: tuple[float, float] = (float("nan"), float("nan"))
    n_images: int = 0
    auc_resamples: np.ndarray = field(default=None, repr=False, compare=False)


def _design(q: np.ndarray) -> np.ndarray:
    return np.stack([np.ones_like(q), q], axis=-1)


def _standardise(q: np.ndarray) -> np.ndarray:
    sd = q.std()
    return (q - q.mean()) / (sd if sd > 0 else 1.0)


def nanmean_rows(values: np.ndarray) -> np.ndarray:
    """Column means over the finite entries of a (splits x resamples) array; NaN where a column has none."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return np.zeros(values.shape[1] if values.ndim == 2 else 0)
    finite = np.isfinite(values)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(finite, values, 0).sum(0) / finite.sum(0)


def bootstrap_interval(values: np.ndarray, n_units: int | None = None, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of bootstrap resamples; with ``n_units`` (the number of resampled units: image ids, groups)
    the *expanded* percentile interval (Hesterberg 2015): the quantiles at Phi(+-z') with z' = sqrt(n / (n - 1))
    t_{n-1}, which corrects the percentile interval's narrowness with few units (measured: 0.925 -> 0.939 coverage
    at 80 images, 0.918 -> 0.938 at 30; tests/test_calibration.py)."""
    from scipy import stats

    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    if not finite.size:
        return (float("nan"), float("nan"))
    tail = (1 - level) / 2
    if n_units is not None and n_units > 2:
        z = np.sqrt(n_units / (n_units - 1)) * stats.t.ppf(1 - tail, n_units - 1)
        tail = float(stats.norm.sf(z))
    return tuple(float(x) for x in np.quantile(finite, [tail, 1 - tail]))


JACKKNIFE_GROUPS = 100


def jackknife_interval(estimate: float, replicates: np.ndarray, level: float = 0.95,
                       bounds: tuple[float, float] = (0.0, 1.0)) -> tuple[float, float]:
    """``estimate`` +- t_{G-1} x the delete-a-group jackknife standard error of its ``replicates`` (G of them, each
    leaving one group out), clipped to ``bounds``; NaN when fewer than 2 replicates are finite."""
    from scipy import stats

    reps = np.asarray(replicates, dtype=np.float64)
    reps = reps[np.isfinite(reps)]
    g = reps.size
    if g < 2 or not np.isfinite(estimate):
        return (float("nan"), float("nan"))
    se = float(np.sqrt((g - 1) / g * np.sum((reps - reps.mean()) ** 2)))
    half = float(stats.t.ppf(0.5 + level / 2, g - 1)) * se
    return (float(max(bounds[0], estimate - half)), float(min(bounds[1], estimate + half)))


def jackknife_weights(n_ids: int, groups: int, rng: np.random.Generator) -> np.ndarray:
    """(ids x G) float32 weights: replicate g gives weight 0 to the ids of group g, 1 to the rest."""
    g = max(1, min(n_ids, groups))
    group = rng.permutation(n_ids) % g
    weights = np.ones((n_ids, g), dtype=np.float32)
    weights[np.arange(n_ids), group] = 0.0
    return weights


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
    the row codes, each split's held-out rows (mask), held-out ids and each held-out row's position among them, and
    the jackknife's id weights (ids x replicates, float32 0/1; :func:`jackknife_weights`). Splits and jackknife
    groups come from their own streams."""

    n_ids: int
    seed: int
    codes: np.ndarray
    test: tuple[np.ndarray, ...]
    test_ids: tuple[np.ndarray, ...]
    local: tuple[np.ndarray, ...]
    counts_t: np.ndarray

    @property
    def n_replicates(self) -> int:
        return int(self.counts_t.shape[1])


def balanced_splits(n_ids: int, splits: int, test_fraction: float, rng: np.random.Generator) -> list[np.ndarray]:
    """``splits`` held-out id masks: rounds of a k-fold partition (k = 1 / test_fraction), each round a new shuffle."""
    k = max(2, min(n_ids, round(1 / test_fraction))) if n_ids > 1 else 1
    out: list[np.ndarray] = []
    while len(out) < splits:
        order = rng.permutation(n_ids)
        for f in range(k):
            held = np.zeros(n_ids, dtype=bool)
            held[order[f::k]] = True
            out.append(held)
    return out[:splits]


def split_plan(codes: np.ndarray, seed: int = 0, test_fraction: float = 0.2, groups: int = JACKKNIFE_GROUPS,
               splits: int = 10) -> SplitPlan:
    """Draw ``splits`` 80/20 splits of the ids in ``codes`` (dense 0..n-1) and deal the ids into ``groups``
    jackknife groups."""
    codes = np.asarray(codes, dtype=np.int64)
    n_ids = int(codes.max()) + 1 if codes.size else 0
    test, test_ids, local = [], [], []
    for held in balanced_splits(n_ids, max(1, splits), test_fraction, stream(seed, "splits")):
        is_test = held[codes]
        ids = np.flatnonzero(held)
        position = np.full(n_ids, -1, dtype=np.int64)
        position[ids] = np.arange(ids.size)
        test.append(is_test)
        test_ids.append(ids)
        local.append(position[codes[is_test]])
    return SplitPlan(n_ids, seed, codes, tuple(test), tuple(test_ids), tuple(local),
                     jackknife_weights(n_ids, groups, stream(seed, "jackknife")))


def pointwise_predictability(q, m, image_ids, seed: int = 0, test_fraction: float = 0.2, splits: int = 10,
                             plan: SplitPlan | None = None, q_orders: list | None = None) -> PointwisePredictability:
    """The paper's 80/20 split by image id, repeated ``splits`` times (see the module docstring).

    ``plan`` (from :func:`split_plan` on the same ids, seed and sizes) skips drawing; the result is the same.
    ``q_orders`` (a list, filled on first use) holds each split's held-out rows sorted by Q: every M column of
    this Q reuses it.
    """
    q = _standardise(np.asarray(q, dtype=np.float64))
    m = np.asarray(m, dtype=np.float64)
    if plan is None:
        plan = split_plan(id_codes(image_ids)[1], seed, test_fraction, JACKKNIFE_GROUPS, splits)
    run = held_out_splits(q, m, plan, [] if q_orders is None else q_orders)
    finite = run.auc[np.isfinite(run.auc)]
    boot_auc, boot_ce = nanmean_rows(run.auc_boot), nanmean_rows(run.ce_boot)
    coef = np.mean(run.coef, axis=0)
    n_test = int(plan.test[0].sum())
    auc = float(np.mean(finite)) if finite.size else float("nan")
    ce = float(np.nanmean(run.ce)) if np.isfinite(run.ce).any() else float("nan")
    return PointwisePredictability(
        auc, jackknife_interval(auc, boot_auc), ce, jackknife_interval(ce, boot_ce, bounds=(0.0, np.inf)),
        (float(coef[0]), float(coef[1])), q.size - n_test, n_test, plan.n_replicates, len(plan.test),
        float(np.std(finite)) if finite.size else float("nan"),
        (float(finite.min()), float(finite.max())) if finite.size else (float("nan"), float("nan")), plan.n_ids, boot_auc)


@dataclass(frozen=True)
class HeldOut:
    """Per split (rows) the held-out AUC and CE on the data (``auc``, ``ce``) and on each resample (``*_boot``:
    splits x resamples), and the fitted coefficients."""

    auc: np.ndarray
    ce: np.ndarray
    coef: np.ndarray
    auc_boot: np.ndarray
    ce_boot: np.ndarray


def _resampled_signs(z: np.ndarray, m: np.ndarray, plan: SplitPlan, train: np.ndarray) -> tuple[float, np.ndarray]:
    """The sign of the logistic slope fitted on the training rows, on the data and on every resample: the sign of
    the score sum w (z - mean_w z) m, which for a fit with an intercept is the slope's sign (concave profile
    likelihood). Per-id sums make each resample one matrix product."""
    n = plan.n_ids
    ids = plan.codes[train]
    sums = np.stack([np.bincount(ids, weights=v, minlength=n) for v in (z[train] * m[train], z[train], m[train])]
                    + [np.bincount(ids, minlength=n).astype(np.float64)])
    point = sums.sum(1)
    weighted = sums @ plan.counts_t  # 4 x resamples (float32 counts promoted)
    with np.errstate(invalid="ignore", divide="ignore"):
        data = point[0] - point[1] * point[2] / point[3]
        boot = weighted[0] - weighted[1] * weighted[2] / weighted[3]
    return float(np.sign(data)), np.sign(np.nan_to_num(boot))


def held_out_splits(z: np.ndarray, m: np.ndarray, plan: SplitPlan, q_orders: list | None = None) -> HeldOut:
    """Every split of ``plan`` on standardised ``z``: the fit, its held-out AUC (pairs of different images, the fitted
    direction) and CE, and the same on every resample (see the module docstring)."""
    q_orders = [] if q_orders is None else q_orders
    aucs, ces, coefs, boot_auc, boot_ce = [], [], [], [], []
    for split, (is_test, ids, local) in enumerate(zip(plan.test, plan.test_ids, plan.local)):
        train = ~is_test
        fit = fit_logit_batched(_design(z[train])[None], m[train][None])
        coef = np.where(np.isfinite(fit.coef[0]), fit.coef[0], fit.last[0])  # separated: the separating direction
        sign, signs = _resampled_signs(z, m, plan, train)
        z_test, m_test = z[is_test], m[is_test]
        if len(q_orders) <= split:
            q_orders.append(np.argsort(z_test, kind="stable"))
        weights = np.empty((ids.size, plan.n_replicates + 1), dtype=np.float32)  # column 0: the held-out set itself
        weights[:, 0] = 1.0
        weights[:, 1:] = plan.counts_t[ids]
        num, pos, neg = resampled_mann_whitney(m_test, z_test, local, weights, order=q_orders[split])
        within, pairs = within_id_pairs(m_test, z_test, local, ids.size)
        squared = weights.astype(np.float64) ** 2  # an id drawn c times brings c^2 copies of its own pairs
        between = pos * neg - pairs @ squared
        with np.errstate(invalid="ignore", divide="ignore"):
            auc = np.where(between > 0, (num - within @ squared) / between, np.nan)
        auc = np.where(np.r_[sign, signs] > 0, auc, np.where(np.r_[sign, signs] < 0, 1 - auc, np.where(np.isnan(auc), auc, 0.5)))
        ce = resampled_cross_entropy(m_test, predict_proba(_design(z_test)[None], coef[None])[0], local, weights)
        aucs.append(auc[0])
        ces.append(ce[0])
        coefs.append(coef)
        boot_auc.append(auc[1:])
        boot_ce.append(ce[1:])
    return HeldOut(np.array(aucs), np.array(ces), np.array(coefs), np.array(boot_auc), np.array(boot_ce))


def held_out_resampled(q: np.ndarray, m: np.ndarray, plan: SplitPlan) -> tuple[np.ndarray, np.ndarray]:
    """Each split's held-out AUC (splits,) and each resample's mean over splits (resamples,), on ``plan``'s draws."""
    run = held_out_splits(np.asarray(q, dtype=np.float64), np.asarray(m, dtype=np.float64), plan)
    return run.auc, nanmean_rows(run.auc_boot)


@dataclass(frozen=True)
class NullBand(Serializable):
    """Where the AUC lands when M is permuted across image ids (no association), on the analysis's own splits.

    ``low``/``high`` are order statistics of the ``n_perm`` permuted values, the k-th smallest and k-th largest with
    k = floor(0.025 (n_perm + 1)): under no association an observed AUC falls outside with probability
    2k / (n_perm + 1) <= 0.05, exactly (the observed and permuted values are exchangeable)."""

    json_exclude = ("values",)

    low: float
    high: float
    mean: float
    n_perm: int
    values: np.ndarray = field(default=None, repr=False, compare=False)

    def contains(self, auc: float) -> bool:
        return bool(self.low <= auc <= self.high)


def band_from_values(values: np.ndarray) -> NullBand:
    """The exchangeability band of permuted statistics (see :class:`NullBand`)."""
    finite = np.sort(values[np.isfinite(values)])
    k = int(np.floor(0.025 * (finite.size + 1)))
    if k < 1:
        return NullBand(float("nan"), float("nan"), float(np.mean(finite)) if finite.size else float("nan"), int(values.size), values)
    return NullBand(float(finite[k - 1]), float(finite[finite.size - k]), float(finite.mean()), int(values.size), values)


def id_permutations(n_ids: int, n_perm: int, seed: int) -> np.ndarray:
    """(n_perm, n_ids) permutations of the image ids, from their own stream (shared by every mixture on these ids)."""
    rng = stream(seed, "null_permutations")
    return np.stack([rng.permutation(n_ids) for _ in range(n_perm)]) if n_perm else np.zeros((0, n_ids), dtype=np.int64)


def permutation_null(q, m, image_ids, seed: int = 0, n_perm: int = 200, splits: int = 10,
                     plan: SplitPlan | None = None, permutations: np.ndarray | None = None) -> NullBand:
    """The point-wise AUC (mean over the analysis's own splits) with M permuted across image ids, ``n_perm`` times.

    Vectorised over permutations: a held-out AUC needs only the direction of the fitted slope, and for a logistic
    fit with an intercept the slope's sign is the sign of the score sum((m - mean m) q) on the training rows (the
    profile likelihood is concave), so each split is one matrix product for the directions and one for the rank
    sums. Equals running :func:`pointwise_predictability` on each permuted M (tested). ``permutations`` (from
    :func:`id_permutations`) lets several mixtures on the same ids share them.
    """
    q = _standardise(np.asarray(q, dtype=np.float64))
    m = np.asarray(m, dtype=np.float64)
    _, codes = id_codes(image_ids)
    plan = plan or split_plan(codes, seed, 0.2, JACKKNIFE_GROUPS, splits)
    perms = id_permutations(plan.n_ids, n_perm, seed) if permutations is None else permutations
    one_row_each = bool(np.all(np.bincount(codes) == 1))
    if one_row_each:  # a mixture: one gather for every permutation
        M = m[np.argsort(codes)][perms][:, codes] if len(perms) else np.zeros((0, m.size))
    else:
        M = np.stack([_permute_by_id(m, codes, p) for p in perms]) if len(perms) else np.zeros((0, m.size))
    per_split = []
    for is_test, local, ids in zip(plan.test, plan.local, plan.test_ids):
        if one_row_each or not len(M):  # no two held-out rows of one image: nothing to leave out
            per_split.append(held_out_aucs_by_sign(q, M, is_test))
            continue
        pairs = np.array([within_id_pairs(row[is_test], q[is_test], local, ids.size) for row in M])  # P x 2 x ids
        per_split.append(held_out_aucs_by_sign(q, M, is_test, pairs[:, 0].sum(1), pairs[:, 1].sum(1)))
    per_split = np.stack(per_split, 1)
    values = nanmean_rows(per_split.T) if len(M) else np.zeros(0)
    return band_from_values(values)


def held_out_aucs_by_sign(Q: np.ndarray, M: np.ndarray, is_test: np.ndarray, within=None, within_pairs=0.0) -> np.ndarray:
    """Held-out AUC of the logistic fit of M on Q over the training rows, for every row of Q and M (each (n,) or
    (P, n), broadcast): the slope's sign is the sign of the score sum((q - mean q) m) on the training rows (the
    profile likelihood is concave), and the AUC is then the test rows' rank sum of Q, flipped for a negative slope;
    0.5 where the fit has no slope (one class, or a zero score). NaN where the test rows hold one class.
    ``within`` (per row of Q) and ``within_pairs``: the held-out pairs of two variants of one image and their
    Mann-Whitney count, left out as the point-wise AUC leaves them out (zero when every image has one row)."""
    from scipy.stats import rankdata

    Q, M = np.atleast_2d(Q), np.atleast_2d(M)
    q_train, m_train, m_test = Q[:, ~is_test], M[:, ~is_test], M[:, is_test]
    centred = q_train - q_train.mean(1, keepdims=True)
    ranks = rankdata(Q[:, is_test], axis=1)
    if Q.shape[0] == 1:  # one Q, many M (a permutation null): two matrix-vector products
        score, rank_sum = m_train @ centred[0], m_test @ ranks[0]
    else:
        score, rank_sum = (centred * m_train).sum(1), (ranks * m_test).sum(1)
    train_pos = m_train.sum(1)
    one_class = (train_pos == 0) | (train_pos == q_train.shape[1])
    n_pos = m_test.sum(1)
    n_neg = m_test.shape[1] - n_pos
    num = rank_sum - n_pos * (n_pos + 1) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (num - (0.0 if within is None else within)) / (n_pos * n_neg - within_pairs)
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
