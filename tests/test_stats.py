"""Statistics against scipy / sklearn / statsmodels references."""

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats
from sklearn.metrics import log_loss, roc_auc_score

from causaliqa.stats import auc_score, cross_entropy, fit_logit_batched, group_correlation, grouped_predictability, pointwise_predictability
from causaliqa.stats.correlation import bootstrap_indices, kendall_rows, pearson_rows, spearman_rows


def test_auc_and_ce_match_sklearn_with_ties():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 5000)
    s = np.round(rng.normal(size=5000) + y, 1)  # many ties
    assert abs(auc_score(y, s) - roc_auc_score(y, s)) < 1e-12
    p = 1 / (1 + np.exp(-s))
    assert abs(cross_entropy(y, p) - log_loss(y, p)) < 1e-12


def test_bootstrap_rows_match_scipy_on_same_resamples():
    rng = np.random.default_rng(1)
    q = rng.normal(size=75)
    m = 0.5 * q + rng.normal(size=75)
    q[:5] = q[5]  # ties
    idx = bootstrap_indices(75, 40, seed=2)
    qb, mb = q[idx], m[idx]
    for rows, ref in ((pearson_rows, stats.pearsonr), (spearman_rows, stats.spearmanr), (kendall_rows, stats.kendalltau)):
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


def test_pointwise_predictability_split_by_image_id():
    rng = np.random.default_rng(6)
    ids = np.repeat(np.arange(400), 5)
    q = rng.normal(size=ids.size)
    m = (rng.random(ids.size) < 1 / (1 + np.exp(-2 * q))).astype(int)
    res = pointwise_predictability(q, m, ids, seed=0, n_boot=200)
    assert res.n_test == 400 and res.n_train == 1600  # 20 % of ids, all their variants
    assert 0.75 < res.auc < 0.9 and res.auc_ci[0] < res.auc < res.auc_ci[1]
    noise = pointwise_predictability(rng.normal(size=ids.size), m, ids, seed=0, n_boot=200)
    assert noise.auc_ci[0] < 0.5 < noise.auc_ci[1] or abs(noise.auc - 0.5) < 0.06


def test_grouped_predictability_matches_a_statsmodels_loop():
    rng = np.random.default_rng(7)
    groups = np.repeat(np.arange(20), 76)
    q = rng.normal(size=groups.size)
    m = (rng.random(groups.size) < 1 / (1 + np.exp(-(q + rng.normal(size=20)[groups])))).astype(int)
    res = grouped_predictability(q, m, groups, by="image_id", k=5, seed=0)
    assert res.n_groups == 20 and res.folds_used + res.folds_one_class + res.folds_separated >= 90
    assert 0.6 < res.mean_auc < 0.85
    # the same folds refitted one by one with statsmodels give the same AUCs
    rng2 = np.random.default_rng(0)
    aucs = []
    for g in range(20):
        rows = np.flatnonzero(groups == g)
        qs = (q[rows] - q[rows].mean()) / q[rows].std()
        fold = rng2.permutation(rows.size) % 5
        for f in range(5):
            tr, te = fold != f, fold == f
            X = sm.add_constant(qs[tr])
            if len(set(m[rows][te])) < 2:
                continue
            ref = sm.Logit(m[rows][tr], X).fit(disp=0, tol=1e-12)
            p = ref.predict(sm.add_constant(qs[te], has_constant="add"))
            aucs.append(roc_auc_score(m[rows][te], p))
    assert res.mean_auc == pytest.approx(np.mean(aucs), abs=1e-9)


def test_cross_validated_auc_matches_a_statsmodels_fold_loop():
    import statsmodels.api as sm

    from causaliqa.stats.metrics import auc_score
    from causaliqa.stats.predictability import cross_validated_auc

    rng = np.random.default_rng(5)
    ids = np.repeat(np.arange(120), 2)
    q = rng.normal(size=ids.size)
    m = (rng.random(ids.size) < 1 / (1 + np.exp(-1.2 * q))).astype(float)
    result = cross_validated_auc(q, m, ids, k=5, seed=3, n_boot=200)
    # the same folds, fitted one at a time by statsmodels
    fold_of_id = np.random.default_rng(3).permutation(120) % 5
    fold = fold_of_id[ids]
    z = (q - q.mean()) / q.std()
    p = np.empty_like(q)
    for f in range(5):
        fit = sm.Logit(m[fold != f], sm.add_constant(z[fold != f])).fit(disp=0)
        p[fold == f] = fit.predict(sm.add_constant(z[fold == f]))
    assert result.auc == pytest.approx(auc_score(m, p), abs=1e-12)
    assert result.auc_ci[0] < result.auc < result.auc_ci[1]


def test_kendall_from_counts_equals_per_resample_scipy():
    from causaliqa.stats.correlation import kendall_from_counts, resample_counts

    rng = np.random.default_rng(9)
    q = rng.normal(size=40).round(1)  # ties in both
    m = rng.random(40).round(1)
    idx = bootstrap_indices(40, 300, 4)
    fast = kendall_from_counts(q, m, resample_counts(idx, 40))
    slow = np.array([stats.kendalltau(q[r], m[r]).statistic for r in idx])
    np.testing.assert_allclose(fast, slow, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(fast, kendall_rows(q[idx], m[idx]), atol=1e-12, equal_nan=True)
