"""Statistics against scipy / sklearn / statsmodels references."""

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats
from sklearn.metrics import roc_auc_score

from causaliqa.stats import fit_logit_batched, group_correlation, grouped_predictability, pointwise_predictability
from causaliqa.stats.correlation import bootstrap_indices, pearson_rows, spearman_rows


def test_auc_and_ce_match_sklearn_with_ties():
    from references import assert_auc_and_ce_equal_sklearn

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 5000)
    assert_auc_and_ce_equal_sklearn(y, np.round(rng.normal(size=5000) + y, 1))  # many ties, a real signal


def test_bootstrap_rows_match_scipy_on_same_resamples():
    rng = np.random.default_rng(1)
    q = rng.normal(size=75)
    m = 0.5 * q + rng.normal(size=75)
    q[:5] = q[5]  # ties
    idx = bootstrap_indices(75, 40, seed=2)
    qb, mb = q[idx], m[idx]
    for rows, ref in ((pearson_rows, stats.pearsonr), (spearman_rows, stats.spearmanr)):
        got = rows(qb, mb)
        want = [ref(a, b).statistic for a, b in zip(qb, mb)]
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_group_correlation_estimates_and_ci():
    rng = np.random.default_rng(3)
    q = rng.normal(size=75)
    m = 0.8 * q + 0.3 * rng.normal(size=75)
    res = group_correlation(q, m, n_boot=1000, seed=0)
    assert res.pearson.estimate == pytest.approx(stats.pearsonr(q, m).statistic)
    assert res.kendall.p_value == pytest.approx(stats.kendalltau(q, m).pvalue)
    for c in (res.kendall, res.spearman, res.pearson):
        assert c.ci_low < c.estimate < c.ci_high
    assert res.to_dict()["spearman"]["estimate"] == res.spearman.estimate


def test_batched_logit_matches_statsmodels_and_flags_degenerate_groups():
    rng = np.random.default_rng(4)
    G, n = 30, 76
    x = rng.normal(size=(G, n))
    y = (rng.random((G, n)) < 1 / (1 + np.exp(-(0.3 + 0.8 * x)))).astype(float)
    y[0] = 1.0  # one class
    y[1] = (x[1] > 0).astype(float)  # perfect separation
    X = np.stack([np.ones_like(x), x], axis=-1)
    fit = fit_logit_batched(X, y)
    assert fit.one_class[0] and not fit.usable[0]
    assert fit.separated[1] and not fit.usable[1]
    for g in range(2, G):
        ref = sm.Logit(y[g], X[g]).fit(disp=0, method="newton", tol=1e-12)
        assert fit.usable[g]
        np.testing.assert_allclose(fit.coef[g], ref.params, atol=1e-6)


def test_masked_rows_are_ignored():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(1, 200))
    y = (rng.random((1, 200)) < 1 / (1 + np.exp(-x))).astype(float)
    mask = np.zeros((1, 200), bool)
    mask[0, :120] = True
    X = np.stack([np.ones_like(x), x], axis=-1)
    fit = fit_logit_batched(X, y, mask)
    ref = sm.Logit(y[0, :120], X[0, :120]).fit(disp=0, tol=1e-12)
    np.testing.assert_allclose(fit.coef[0], ref.params, atol=1e-6)


def _pairs_auc(y, score, ids):
    """Brute force: the AUC over (positive, negative) row pairs of different ids, ties half."""
    pos, neg = y == 1, y == 0
    wins = (score[pos][:, None] > score[neg][None]) + 0.5 * (score[pos][:, None] == score[neg][None])
    other = ids[pos][:, None] != ids[neg][None]
    return wins[other].mean()


def test_pointwise_predictability_repeats_80_20_splits_by_image_id():
    from causaliqa.stats.streams import stream

    rng = np.random.default_rng(6)
    ids = np.repeat(np.arange(400), 5)
    q = rng.normal(size=ids.size)
    m = (rng.random(ids.size) < 1 / (1 + np.exp(-2 * q))).astype(int)
    res = pointwise_predictability(q, m, ids, seed=0, splits=10)
    assert res.n_test == 400 and res.n_train == 1600 and res.splits == 10  # 20 % of ids, all their variants
    # the true score's population AUC is 0.862 (2M simulated rows); 400 test rows per split give sd ~0.02
    assert 0.75 < res.auc < 0.9 and res.auc_ci[0] < res.auc < res.auc_ci[1]
    assert res.auc_range[0] <= res.auc <= res.auc_range[1] and res.auc_sd > 0
    # reference: two rounds of a 5-fold partition of the ids, fitted one at a time by statsmodels, scored on pairs of
    # rows of different images by brute force (the fitted probabilities' order)
    split_rng = stream(0, "splits")
    z = (q - q.mean()) / q.std()
    aucs, held = [], []
    for _ in range(2):
        order = split_rng.permutation(400)
        for f in range(5):
            test = np.isin(ids, order[f::5])
            held.append(np.unique(ids[test]))
            fit = sm.Logit(m[~test], sm.add_constant(z[~test])).fit(disp=0, tol=1e-12)
            aucs.append(_pairs_auc(m[test], fit.predict(sm.add_constant(z[test])), ids[test]))
    assert np.array_equal(np.sort(np.concatenate(held)), np.repeat(np.arange(400), 2))  # every image held out twice
    assert res.auc == pytest.approx(np.mean(aucs), abs=1e-9)
    assert res.auc_sd == pytest.approx(np.std(aucs), abs=1e-9)


def test_between_images_auc_equals_brute_force_and_the_resampled_form():
    from causaliqa.stats.metrics import between_images_auc
    from causaliqa.stats.predictability import held_out_splits, split_plan

    rng = np.random.default_rng(61)
    for trial in range(20):
        ids = rng.integers(0, 9, 70)
        y = (rng.random(70) < 0.5).astype(int)
        s = rng.integers(0, 4, 70).astype(float)  # heavy ties
        assert between_images_auc(y, s, ids) == pytest.approx(_pairs_auc(y, s, ids), abs=1e-12)
    # the resampled form on the data (all weights one) equals the direct computation on each split
    ids = np.repeat(np.arange(40), 6)
    q = rng.normal(size=ids.size)
    m = (rng.random(ids.size) < 1 / (1 + np.exp(-q))).astype(float)
    plan = split_plan(ids, 2, 0.2, 30, 5)
    run = held_out_splits(q, m, plan)
    for split, t in enumerate(plan.test):
        assert run.auc[split] == pytest.approx(_pairs_auc(m[t], q[t], ids[t]), abs=1e-12)  # positive slope here


def test_held_out_auc_is_unbiased_under_no_association_where_pooled_out_of_fold_was_not():
    """Measured case: 80 ids with one row each (a mixture) and M independent of Q."""
    rng = np.random.default_rng(11)
    aucs = []
    for sim in range(300):
        q = rng.normal(size=80)
        m = (rng.random(80) < 0.7).astype(int)
        aucs.append(pointwise_predictability(q, m, np.arange(80), seed=sim, splits=10).auc)
    # the pooled out-of-fold AUC averaged 0.400 on this design; a held-out AUC averages 0.5 (sd of the mean ~0.004)
    assert abs(np.mean(aucs) - 0.5) < 0.015


def test_permutation_null_band_covers_half_and_is_wide_at_small_n():
    from causaliqa.stats.predictability import permutation_null

    rng = np.random.default_rng(12)
    q = rng.normal(size=80)
    m = (rng.random(80) < 1 / (1 + np.exp(-q))).astype(int)
    band = permutation_null(q, m, np.arange(80), seed=0, n_perm=100)
    # without signal the mean-of-splits AUC has sd 0.094 at 80 images (200 simulations): a band ~0.37 wide around 0.5
    assert band.low < 0.5 < band.high and band.high - band.low > 0.1 and abs(band.mean - 0.5) < 0.05


@pytest.mark.parametrize("n, rows_per_id", [(40, 1), (120, 1), (30, 3)])
def test_vectorised_permutation_null_equals_the_point_wise_procedure_on_each_permutation(n, rows_per_id):
    """The null band's AUCs (slope direction from the score sign, rank sums as one product, within-image pairs left out)
    are exactly those of running the point-wise procedure (batched IRLS fit) on every permuted M."""
    from causaliqa.stats.predictability import _permute_by_id, id_permutations, permutation_null, split_plan

    rng = np.random.default_rng(n)
    ids = np.repeat(np.arange(n), rows_per_id)
    q = rng.normal(size=ids.size)
    m = (rng.random(ids.size) < 1 / (1 + np.exp(-q))).astype(float)
    plan = split_plan(ids, seed=3, groups=50, splits=5)
    band = permutation_null(q, m, ids, seed=3, n_perm=40, plan=plan)
    for value, perm in zip(band.values, id_permutations(n, 40, 3)):
        slow = pointwise_predictability(q, _permute_by_id(m, ids, perm), ids, seed=3, splits=5)
        assert value == pytest.approx(slow.auc, abs=1e-12)


def _reference_grouped_auc(q, m, groups, k, seed):
    """Per group: the same stratified folds, a nearly unpenalised sklearn fit per fold (its slope has the separating
    sign when the fold is separated), roc_auc_score on the test part; folds skipped when either part has one class."""
    from sklearn.linear_model import LogisticRegression

    from causaliqa.stats.grouped import group_folds

    folds = group_folds(m.astype(float), groups, k, seed)  # the convention, shared
    aucs = []
    for g in np.unique(groups):
        rows = np.flatnonzero(groups == g)
        qs = (q[rows] - q[rows].mean()) / q[rows].std()
        fold = folds[rows]
        for f in range(k):
            tr, te = fold != f, fold == f
            if len(set(m[rows][te])) < 2 or len(set(m[rows][tr])) < 2:
                continue
            fit = LogisticRegression(C=1e8, max_iter=10_000).fit(qs[tr, None], m[rows][tr])
            aucs.append(roc_auc_score(m[rows][te], fit.decision_function(qs[te, None])))
    return np.array(aucs)


def test_grouped_predictability_keeps_separated_folds_and_matches_an_sklearn_loop():
    """Separated folds carry the strongest signal; dropping them biased mAUC down."""
    rng = np.random.default_rng(7)
    groups = np.repeat(np.arange(30), 16)
    q = rng.normal(size=groups.size)
    strength = np.where(np.arange(30) < 10, 8.0, 1.0)[groups]  # a third of the groups nearly separable
    m = (rng.random(groups.size) < 1 / (1 + np.exp(-strength * q))).astype(int)
    res = grouped_predictability(q, m, groups, by="image_id", k=5, seed=0)
    ref = _reference_grouped_auc(q, m, groups, 5, seed=0)
    assert res.folds_used == ref.size and res.mean_auc == pytest.approx(ref.mean(), abs=1e-9)
    assert res.folds_separated > 0  # kept, and counted
    assert res.folds_total == res.folds_used + res.folds_test_one_class + res.folds_train_one_class
    assert res.auc_ci[0] <= res.mean_auc <= res.auc_ci[1] and 0 <= res.auc_ci[0] and res.auc_ci[1] <= 1


def test_stratified_folds_put_both_classes_in_every_test_fold_when_possible():
    from causaliqa.stats.grouped import stratified_folds

    m = np.array([1.0] * 12 + [0.0] * 4 + [1.0] * 5 + [0.0] * 5)
    codes = np.array([0] * 16 + [1] * 10)
    fold = stratified_folds(m, codes, 4, np.random.default_rng(0))
    for g in (0, 1):
        rows = codes == g
        assert all(set(m[rows & (fold == f)]) == {0.0, 1.0} for f in range(4))
        assert np.bincount(fold[rows & (m == 1)], minlength=4).max() - np.bincount(fold[rows & (m == 1)], minlength=4).min() <= 1


def test_kendall_from_counts_equals_per_resample_scipy():
    from causaliqa.stats.correlation import kendall_from_counts, resample_counts

    rng = np.random.default_rng(9)
    q = rng.normal(size=40).round(1)  # ties in both
    m = rng.random(40).round(1)
    idx = bootstrap_indices(40, 300, 4)
    fast = kendall_from_counts(q, m, resample_counts(idx, 40))
    slow = np.array([stats.kendalltau(q[r], m[r]).statistic for r in idx])
    np.testing.assert_allclose(fast, slow, atol=1e-12, equal_nan=True)


def _paired_data(rng, images=60, rows=5, noise_a=1.0, noise_b=1.0):
    ids = np.repeat(np.arange(images), rows)
    signal = rng.normal(size=images)[ids] + rng.normal(size=ids.size)  # an image effect: rows of an image are alike
    m = (rng.random(ids.size) < 1 / (1 + np.exp(-1.5 * signal))).astype(float)
    return ids, signal + noise_a * rng.normal(size=ids.size), signal + noise_b * rng.normal(size=ids.size), m


def test_paired_auc_difference_is_the_difference_of_the_point_wise_aucs_on_shared_draws():
    """Both computations on the same splits and resamples; the permutation path's AUCs equal the fitted ones."""
    from causaliqa.stats.paired import _by_split, paired_auc_difference
    from causaliqa.stats.predictability import _standardise, held_out_resampled, split_plan

    ids, qa, qb, m = _paired_data(np.random.default_rng(31), noise_b=0.3)
    res = paired_auc_difference(qa, qb, m, ids, seed=4, splits=10, n_perm=100)
    a = pointwise_predictability(qa, m, ids, seed=4, splits=10)
    b = pointwise_predictability(qb, m, ids, seed=4, splits=10)
    assert res.auc_baseline == pytest.approx(a.auc, abs=1e-12) and res.auc_variant == pytest.approx(b.auc, abs=1e-12)
    assert res.difference == pytest.approx(b.auc - a.auc, abs=1e-12) and res.ci[0] < res.difference < res.ci[1]
    # the CI is that of the paired replicates: the two single analyses' jackknife replicates, differenced
    from causaliqa.stats.predictability import jackknife_interval

    assert res.ci == pytest.approx(jackknife_interval(res.difference, b.auc_resamples - a.auc_resamples, bounds=(-1, 1)), abs=1e-12)
    plan = split_plan(ids, 4, 0.2, 100, 10)
    fitted, _ = held_out_resampled(_standardise(qb), m, plan)
    np.testing.assert_allclose(_by_split(_standardise(qb)[None], m, plan)[0], fitted, atol=1e-12)


def test_a_variant_that_runs_the_other_way_is_aligned_before_differencing():
    """A variant scoring -(a better score): the comparison is of the scores as they predict, not of mirror images."""
    from causaliqa.stats.paired import paired_auc_difference

    ids, qa, qb, m = _paired_data(np.random.default_rng(33), noise_b=0.3)
    straight = paired_auc_difference(qa, qb, m, ids, seed=1, splits=10, n_perm=99)
    flipped = paired_auc_difference(qa, -qb, m, ids, seed=1, splits=10, n_perm=99)
    assert flipped.directions == (1, -1)
    assert flipped.difference == pytest.approx(straight.difference, abs=1e-12) and flipped.p_value == straight.p_value


def test_paired_permutation_test_holds_its_level_and_finds_a_better_computation():
    """Level: two exchangeable computations (same noise) of the same signal, with an image effect (clustered rows);
    power: the variant carries a third of the noise, at 100 images (measured 0.88 over 60 draws; 0.65 at 60 images).
    120 simulations each."""
    from causaliqa.stats.paired import paired_auc_difference

    rng = np.random.default_rng(32)
    null_p, alt_p = [], []
    for _ in range(120):
        ids, qa, qb, m = _paired_data(rng)
        null_p.append(paired_auc_difference(qa, qb, m, ids, seed=int(rng.integers(1e6)), splits=5, n_perm=99).p_value)
        ids, qa, qb, m = _paired_data(rng, images=100, noise_b=0.33)
        alt_p.append(paired_auc_difference(qa, qb, m, ids, seed=int(rng.integers(1e6)), splits=5, n_perm=99).p_value)
    # 120 draws at a true level of 0.05 exceed 0.10 with probability < 2 %
    assert np.mean(np.array(null_p) < 0.05) <= 0.10
    assert np.mean(np.array(alt_p) < 0.05) >= 0.75
