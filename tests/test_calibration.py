"""Level, power and interval coverage of the statistics on this design, by simulation.

Each test replays a clustered design (variants of images; labels of images) a few hundred times with a fixed seed and
checks what the procedure promises: an interval's coverage, a test's level, a band's coverage. Monte Carlo error at
300 replications is +-0.013 on a coverage of 0.95, so the bounds below allow about two of them. The figures each test
measured when written are in its docstring (and the README's "What each number measures").
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from causaliqa.analysis import InterventionOutcome, analyse_pair, judge_prediction, observed_change
from causaliqa.stats import gcm
from causaliqa.stats.citest import ci_test
from causaliqa.stats.correlation import group_correlation
from causaliqa.stats.grouped import fold_auc, group_folds, grouped_predictability
from causaliqa.stats.paired import PairedAUCDifference, paired_auc_difference
from causaliqa.stats.predictability import bootstrap_interval, permutation_null, pointwise_predictability

pytestmark = pytest.mark.slow


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _rate(hits) -> float:
    return float(np.mean(hits))


# ---- per-label CV (App. G): all variants of an image in one fold ----

def _labelled_world(rng, labels=40, images=5, variants=16):
    """Q and M independent, each with its own image effect (so rows of an image resemble each other)."""
    ids = np.repeat(np.arange(labels * images), variants)
    label = ids // images
    q = rng.normal(size=labels * images)[ids] + 0.5 * rng.normal(size=ids.size)
    m = (rng.random(ids.size) < _sigmoid(2 * rng.normal(size=labels * images)[ids])).astype(float)
    return q, m, label, ids


def test_per_label_cv_keeps_images_in_one_fold_and_holds_its_interval():
    """40 labels x 5 images x 16 variants, Q independent of M: with folds dealt over rows the mean AUC was 0.573 and
    its CI held 0.5 in 3 % of worlds; grouped by image, measured 0.498 and coverage 0.94 (jackknife; 300 worlds)."""
    rng = np.random.default_rng(20)
    grouped, by_rows, covered = [], [], []
    for world in range(300):
        q, m, label, ids = _labelled_world(rng)
        g = grouped_predictability(q, m, label, by="label", seed=world, units=ids)
        grouped.append(g.mean_auc)
        covered.append(g.auc_ci[0] <= 0.5 <= g.auc_ci[1])
        if world < 40:
            by_rows.append(grouped_predictability(q, m, label, by="label", seed=world).mean_auc)
    print(f"mAUC grouped {np.mean(grouped):.3f} by rows {np.mean(by_rows):.3f} coverage {_rate(covered):.3f}")
    assert abs(np.mean(grouped) - 0.5) < 0.01
    assert np.mean(by_rows) > 0.54  # the leak the grouped folds remove: rows of one image on both sides
    assert 0.93 <= _rate(covered) <= 0.98


def test_grouped_folds_match_what_sklearn_stratified_group_kfold_promises():
    """Every image in one fold, each fold's share of M = 1 near the label's (as StratifiedGroupKFold deals them)."""
    from sklearn.model_selection import StratifiedGroupKFold

    rng = np.random.default_rng(3)
    q, m, label, ids = _labelled_world(rng, labels=30, images=10, variants=8)
    folds = group_folds(m, label, k=5, seed=1, units=ids)
    frame = pd.DataFrame({"id": ids, "fold": folds, "m": m, "label": label})
    assert (frame.groupby("id").fold.nunique() == 1).all()
    ours, theirs = [], []
    for lab, part in frame.groupby("label"):
        ours.append(part.groupby("fold").m.mean().std())
        split = StratifiedGroupKFold(5, shuffle=True, random_state=0).split(part, part.m, part.id)
        theirs.append(np.std([part.m.iloc[test].mean() for _, test in split], ddof=1))
    assert np.nanmean(ours) <= 1.25 * np.nanmean(theirs)


def test_separated_training_fold_is_scored_on_the_linear_predictor():
    """A training fold that separates M puts every held-out row at probability 1.0; scoring those ties gave 0.5 where
    the linear predictor (the fitted direction) orders the rows the wrong way round: AUC 0."""
    y = np.array([0, 0, 0, 1, 1, 1, 0, 0, 1, 1.0])
    s = np.array([-3, -2, -1, 1, 2, 3, 12, 11, 10, 9.0])  # the last four are held out, far above the training range
    test = np.zeros(y.size, dtype=bool)
    test[6:] = True
    from causaliqa.stats.grouped import _cv_chunk

    Q = ((s - s.mean()) / s.std())[None, :]
    fold = np.where(test, 0, 1)[None, :]
    aucs, *_ = _cv_chunk(Q, y[None, :], np.ones_like(Q, dtype=bool), fold, 2)
    assert aucs[0] == pytest.approx(roc_auc_score(y[test], s[test])) == 0.0
    assert float(fold_auc(y[None, test], s[None, test], np.ones((1, 4), dtype=bool))[0]) == 0.0


# ---- point-wise AUC: calibrated interval ----

def _clustered_world(rng, images=80, variants=16, slope=1.0):
    ids = np.repeat(np.arange(images), variants)
    a = rng.normal(size=images)[ids]
    severity = rng.normal(size=ids.size)
    q = a + severity + rng.normal(size=ids.size)
    m = (rng.random(ids.size) < _sigmoid(slope * (a + severity))).astype(float)
    return q, m, ids


def _population_auc(make, n=400_000, seed=99) -> float:
    """AUC over pairs of *different* images: one variant per image, a large sample."""
    q, m, _ = make(np.random.default_rng(seed), images=n, variants=1)
    return float(roc_auc_score(m, q))


def test_pointwise_interval_covers_the_population_auc():
    """80 images x 16 variants: the interval pooling each split's bootstrap covered 100 % at 2.4x the needed width;
    the image-id bootstrap of the split mean measured coverage 0.95 and bias +0.002 (400 worlds)."""
    truth = _population_auc(_clustered_world)
    rng = np.random.default_rng(2)
    covered, est, width = [], [], []
    for world in range(400):
        r = pointwise_predictability(*_clustered_world(rng), seed=world)
        covered.append(r.auc_ci[0] <= truth <= r.auc_ci[1])
        est.append(r.auc)
        width.append(r.auc_ci[1] - r.auc_ci[0])
    print(f"bias {np.mean(est) - truth:+.4f} coverage {_rate(covered):.3f} width {np.mean(width):.3f} sd {np.std(est):.4f}")
    assert abs(np.mean(est) - truth) < 0.006
    assert 0.93 <= _rate(covered) <= 0.97
    assert np.mean(width) < 1.6 * 2 * 1.96 * np.std(est)  # not the 2.4x of pooled split intervals


def test_more_resamples_change_no_point_estimate():
    """Splits, folds, jackknife groups and resamples have their own streams: n_boot (the correlations' bootstrap over
    groups) changes only those intervals; before, BRISQUE read AUC 0.731 at --n-boot 100 and 0.725 at 1000."""
    rng = np.random.default_rng(6)
    q, m, ids = _clustered_world(rng, images=60, variants=10)
    frame = pd.DataFrame({"image_id": ids, "Q": q, "M": m, "label": ids % 12,
                          "corruption": np.where(np.arange(ids.size) % 10 == 0, "none", "blur"),
                          "severity": np.arange(ids.size) % 10})
    few, many = (analyse_pair(frame, "M", "Q", seed=3, n_boot=n) for n in (100, 1000))
    assert few.point_wise.auc == many.point_wise.auc
    assert few.point_wise.cross_entropy == many.point_wise.cross_entropy
    assert few.point_wise.auc_range == many.point_wise.auc_range
    assert few.by_label.mean_auc == many.by_label.mean_auc and few.by_image.mean_auc == many.by_image.mean_auc
    assert few.point_wise.auc_ci == many.point_wise.auc_ci  # jackknife intervals do not depend on n_boot
    assert few.by_label.auc_ci == many.by_label.auc_ci
    assert few.group_wise.spearman.estimate == many.group_wise.spearman.estimate
    assert (few.group_wise.spearman.ci_low, few.group_wise.spearman.ci_high) != (many.group_wise.spearman.ci_low, many.group_wise.spearman.ci_high)


def test_jackknife_interval_matches_its_definition():
    from scipy import stats

    from causaliqa.stats.predictability import jackknife_interval

    reps = np.random.default_rng(1).normal(0.7, 0.01, 40)
    se = np.sqrt(39 / 40 * np.sum((reps - reps.mean()) ** 2))
    lo, hi = jackknife_interval(0.7, reps)
    assert (lo, hi) == pytest.approx((0.7 - stats.t.ppf(0.975, 39) * se, 0.7 + stats.t.ppf(0.975, 39) * se))
    assert jackknife_interval(0.99, reps * 10 - 6)[1] == 1.0  # clipped to [0, 1]
    assert np.isnan(jackknife_interval(0.7, reps[:1])[0])


def test_expanded_percentile_interval_is_wider_with_few_units():
    values = np.random.default_rng(0).normal(size=5000)
    plain, expanded = bootstrap_interval(values), bootstrap_interval(values, n_units=20)
    assert expanded[0] < plain[0] and expanded[1] > plain[1]
    assert bootstrap_interval(values, n_units=100_000) == pytest.approx(plain, abs=0.02)


# ---- mixtures: the no-association band ----

@pytest.mark.parametrize("p_c", [0.2, 0.5, 0.8])
def test_mixture_band_holds_95_percent_under_no_association(p_c):
    """One row per id (a mixture world of 80 ids, a share p_c corrupted), M independent of Q: the old band (2.5 / 97.5
    % quantiles of 200 permutations) held the observed AUC 92-94.5 % of the time; the order-statistic band measured
    0.95 (400 worlds each)."""
    rng = np.random.default_rng(int(p_c * 10))
    inside = []
    for world in range(400):
        corrupted = rng.random(80) < p_c
        q = np.where(corrupted, rng.normal(-1, 1, 80), rng.normal(0, 0.5, 80))
        m = (rng.random(80) < 0.7).astype(float)
        ids = np.arange(80)
        observed = pointwise_predictability(q, m, ids, seed=world).auc
        band = permutation_null(q, m, ids, seed=world, n_perm=199)
        inside.append(band.contains(observed))
    print(f"p_c {p_c} inside {_rate(inside):.3f}")
    assert 0.93 <= _rate(inside) <= 0.97


# ---- CI tests that can falsify a graph ----

def _labels_world(rng, images=80, variants=16, levels=77, through_m=False):
    ids = np.repeat(np.arange(images), variants)
    y = rng.integers(0, levels, images)[ids]
    if through_m:  # Y -> M -> Q: Q depends on M and on an image effect of its own
        difficulty = rng.normal(size=levels)
        m = (rng.random(ids.size) < _sigmoid(difficulty[y] + rng.normal(size=ids.size))).astype(float)
        q = m + rng.normal(size=images)[ids] + rng.normal(size=ids.size)
    else:  # Y independent of everything; Q and M share variant severity and carry image effects
        severity = rng.normal(size=ids.size)
        q = rng.normal(size=images)[ids] + severity + rng.normal(size=ids.size)
        m = (rng.random(ids.size) < _sigmoid(rng.normal(size=images)[ids] + severity)).astype(float)
    return pd.DataFrame({"image_id": ids, "Q": q, "M": m, "Y": y})


@pytest.mark.parametrize("through_m", [False, True])
def test_q_independent_of_a_77_level_label_given_m_holds_its_level(through_m, monkeypatch):
    """Clustered permutation path (80 images x 16 variants): level 0.230 before (the null did not re-residualise
    the permuted Y); measured 0.03-0.05 on both designs (300 data sets each, 99 permutations)."""
    monkeypatch.setattr(gcm, "N_PERM", 99)
    rng = np.random.default_rng(7 + through_m)
    kinds = {"Q": "continuous", "M": "binary", "Y": "categorical"}
    p = [ci_test(_labels_world(rng, through_m=through_m), "Q", "Y", ["M"], kinds, clusters="image_id").p_value
         for _ in range(300)]
    print(f"through_m {through_m} level {_rate(np.array(p) <= 0.05):.3f}")
    assert 0.02 <= _rate(np.array(p) <= 0.05) <= 0.08


@pytest.mark.parametrize("n", [400, 2000])
def test_step_confounder_does_not_fake_a_dependence(n):
    """Z -> Q and Z -> M through 1{Z > 0.5}: the spline adjustment rejected Q _||_ M | Z at 0.56 (n = 400) and 1.00
    (n = 2000); the cross-fitted tree on the spline's residuals measured 0.05-0.07 (300 data sets each)."""
    rng = np.random.default_rng(n)
    kinds = {"Q": "continuous", "M": "binary", "Z": "continuous"}
    p = []
    for _ in range(300):
        z = rng.random(n)
        step = (z > 0.5).astype(float)
        frame = pd.DataFrame({"Z": z, "Q": 2 * step + rng.normal(size=n),
                              "M": (rng.random(n) < _sigmoid(3 * step - 1.5)).astype(float)})
        p.append(ci_test(frame, "Q", "M", ["Z"], kinds).p_value)
    print(f"n {n} level {_rate(np.array(p) <= 0.05):.3f}")
    assert _rate(np.array(p) <= 0.05) <= 0.08


def test_threshold_correctness_is_tested_not_called_untestable():
    """M = 1{Q > S} under the graph S -> Q, S -> M (which says Q _||_ M | S, false here): the logistic LR is n/a under
    separation in every data set; with the GCM fallback the statement is tested and rejected (200 data sets)."""
    rng = np.random.default_rng(10)
    kinds = {"Q": "continuous", "M": "binary", "S": "continuous"}
    tested, rejected = [], []
    for slope in (None, 6.0):
        for _ in range(100):
            s = rng.normal(size=300)
            q = s + rng.normal(size=300)
            m = (q > s) if slope is None else (rng.random(300) < _sigmoid(slope * (q - s)))
            r = ci_test(pd.DataFrame({"S": s, "Q": q, "M": m.astype(float)}), "Q", "M", ["S"], kinds, method="parametric")
            tested.append(np.isfinite(r.p_value))
            rejected.append(r.p_value <= 0.05)
    print(f"tested {_rate(tested):.3f} rejected {_rate(rejected):.3f}")
    assert _rate(tested) == 1.0
    assert _rate(rejected) >= 0.95


# ---- group-wise correlations ----

def test_pearson_interval_over_15_groups_covers():
    """15 groups, rho = 0.6: the bootstrap percentile interval covered 0.90-0.93; Fisher's z measured 0.95 (1000 sets)."""
    rng = np.random.default_rng(11)
    cov = np.array([[1, 0.6], [0.6, 1]])
    hits = []
    for world in range(1000):
        x = rng.multivariate_normal([0, 0], cov, 15)
        c = group_correlation(x[:, 0], x[:, 1], n_boot=20, seed=world).pearson
        hits.append(c.ci_low <= 0.6 <= c.ci_high)
    print(f"pearson coverage {_rate(hits):.3f}")
    assert 0.935 <= _rate(hits) <= 0.965


# ---- interventions: paired AUC differences ----

def _two_computations(rng, images=60, variants=16, noise_a=1.6, noise_b=1.0, flip_b=True):
    ids = np.repeat(np.arange(images), variants)
    signal = rng.normal(size=images)[ids] + rng.normal(size=ids.size)
    m = (rng.random(ids.size) < _sigmoid(signal)).astype(float)
    qa = signal + noise_a * rng.normal(size=ids.size)
    qb = signal + noise_b * rng.normal(size=ids.size)
    return qa, (-qb if flip_b else qb), m, ids


def _true_difference(**kw) -> float:
    qa, qb, m, _ = _two_computations(np.random.default_rng(5), images=300_000, variants=1, **kw)
    aligned_b = -qb if kw.get("flip_b", True) else qb
    return float(roc_auc_score(m, aligned_b) - roc_auc_score(m, qa))


def test_reversed_variant_is_aligned_and_its_difference_covered():
    """A variant that runs the other way (higher = worse) and predicts better (true difference about +0.06): power was
    0.00 and the reading 'unclear'/'equal'; aligned, measured power 0.75 (60 images), CI coverage 0.95 (300 data sets)."""
    truth = _true_difference()
    assert 0.04 < truth < 0.09
    rng = np.random.default_rng(12)
    p, covered, higher = [], [], []
    for world in range(300):
        qa, qb, m, ids = _two_computations(rng)
        r = paired_auc_difference(qa, qb, m, ids, seed=world, n_perm=199)
        assert r.directions == (1, -1)
        p.append(r.p_value)
        covered.append(r.ci[0] <= truth <= r.ci[1])
        higher.append(observed_change(r, 0.02) == "higher")
    print(f"power {_rate(np.array(p) <= 0.05):.3f} coverage {_rate(covered):.3f} higher {_rate(higher):.3f}")
    assert _rate(np.array(p) <= 0.05) >= 0.6
    assert 0.93 <= _rate(covered) <= 0.97
    assert _rate(higher) >= 0.25


def test_exchangeable_computations_hold_the_permutation_level():
    """Two computations with the same noise (no change): p <= 0.05 measured 0.05 (0.069 before); a prediction of
    'higher' is read 'agrees' in under 3 % (300 data sets)."""
    rng = np.random.default_rng(13)
    p, agrees = [], []
    for world in range(300):
        qa, qb, m, ids = _two_computations(rng, noise_a=1.0, noise_b=1.0, flip_b=False)
        r = paired_auc_difference(qa, qb, m, ids, seed=world, n_perm=199)
        p.append(r.p_value)
        agrees.append(judge_prediction("higher", r, 0.02) == "agrees")
    print(f"level {_rate(np.array(p) <= 0.05):.3f} agrees {_rate(agrees):.3f}")
    assert _rate(np.array(p) <= 0.05) <= 0.07
    assert _rate(agrees) <= 0.03


def _difference(ci, d=0.0):
    return PairedAUCDifference("M", "a", "b", 0.7, 0.7 + d, d, ci, 0.5, 99, 100, 1000, 10, 100)


@pytest.mark.parametrize("ci,predicted,verdict,observed", [
    ((0.03, 0.09), "higher", "agrees", "higher"),
    ((0.03, 0.09), "equal", "disagrees", "higher"),
    ((0.03, 0.09), "lower", "disagrees", "higher"),
    ((-0.01, 0.015), "equal", "agrees", "equal"),
    ((-0.01, 0.015), "higher", "disagrees", "equal"),
    ((-0.01, 0.05), "higher", "inconclusive", "inconclusive"),
    ((-0.01, 0.05), "equal", "inconclusive", "inconclusive"),
    ((-0.582, 0.145), "lower", "inconclusive", "inconclusive"),  # the demo's brisque -> #half (was "equal" / "disagrees")
    ((-0.582, 0.145), "equal", "inconclusive", "inconclusive"),
    ((float("nan"), float("nan")), "equal", "inconclusive", "inconclusive"),
])
def test_prediction_verdicts_follow_the_interval(ci, predicted, verdict, observed):
    r = _difference(ci)
    assert judge_prediction(predicted, r, 0.02) == verdict
    assert observed_change(r, 0.02) == observed
    assert "margin" in {f.name for f in __import__("dataclasses").fields(InterventionOutcome)}


# ---- many pairs, one family: the ranking sentence ----

def _three_metrics(rng, images=60, variants=8, noise=(1.0, 1.0, 1.0)):
    ids = np.repeat(np.arange(images), variants)
    signal = rng.normal(size=images)[ids] + rng.normal(size=ids.size)
    m = (rng.random(ids.size) < _sigmoid(signal)).astype(float)
    frame = pd.DataFrame({"image_id": ids, "label": ids % 7, "corruption": "blur", "severity": ids % 3, "M": m})
    for i, sd in enumerate(noise):
        frame[f"Q{i}"] = signal + sd * rng.normal(size=ids.size)
    return frame


def _rankings(frame, seed):
    from causaliqa.analysis import analyse_pairs, rank_metrics

    pairs = analyse_pairs(frame, ["M"], ["Q0", "Q1", "Q2"], seed=seed, group_wise=False, by_label=False, by_image=False)
    [ranking] = rank_metrics(pairs)
    return ranking


def test_ranking_claims_a_winner_among_equal_metrics_at_most_5_percent_of_the_time():
    """Three metrics of equal quality (60 images x 8 variants): the ranking sentence may say the best is ahead of
    another only where its simultaneous interval excludes 0. Measured: 0.060 of 300 data sets claim a winner (Monte
    Carlo sd 0.013 around 0.05); with one metric clearly better (noise 0.5 against 1.5), it is told apart from both in
    0.86 (100 data sets)."""
    from causaliqa.report.findings import ranking_sentence

    rng = np.random.default_rng(21)
    claims = []
    for world in range(300):
        r = _rankings(_three_metrics(rng), world)
        claims.append(bool(r.beaten))
        if world == 0:
            assert "they tie" in ranking_sentence(r) or "ahead of" in ranking_sentence(r)
    power = [set(_rankings(_three_metrics(rng, noise=(0.5, 1.5, 1.5)), w).beaten) == {"Q1", "Q2"} for w in range(100)]
    print(f"false winner {_rate(claims):.3f} power {_rate(power):.3f}")
    assert _rate(claims) <= 0.07
    assert _rate(power) >= 0.8


# ---- headlines gated by their intervals ----

def test_headlines_say_what_the_data_cannot_tell():
    """Four (corruption, severity) groups and 12 images: before, the findings read 'mean quality tracks accuracy: SRCC
    -0.80' and named a best metric; now the correlation is 'too few to estimate', an interval that includes 0.5 is
    'inconclusive' with the images that would decide, and a metric below 0.5 is said to reverse."""
    from types import SimpleNamespace

    from causaliqa.analysis import analyse_pairs, rank_metrics
    from causaliqa.report.findings import findings

    rng = np.random.default_rng(4)
    ids = np.repeat(np.arange(12), 8)
    signal = rng.normal(size=ids.size)
    frame = pd.DataFrame({"image_id": ids, "label": ids % 3, "corruption": np.where(np.arange(ids.size) % 2, "fog", "snow"),
                          "severity": np.arange(ids.size) % 4 // 2 + 1,
                          "M": (rng.random(ids.size) < _sigmoid(2 * signal)).astype(float),
                          "noise": rng.normal(size=ids.size), "good": signal + 0.3 * rng.normal(size=ids.size)})
    pairs = analyse_pairs(frame, ["M"], ["noise", "good"], n_boot=200)
    text = " ".join(findings(SimpleNamespace(pairs=pairs, rankings=rank_metrics(pairs), mixtures=(), verdict=None,
                                             interventions=())))
    assert "4 (corruption, severity) groups are too few to estimate a correlation" in text
    assert "tracks accuracy" not in text
    assert "Inconclusive against chance (the CI includes 0.5): noise" in text and "images would" in text
    assert "Above chance (95 % CI above 0.5): good" in text
