"""Regression guard: every optimised path equals its reference library result (small sizes, seconds).

The speed targets live in benchmarks/; these tests only pin the answers.
"""

import random

import networkx as nx
import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats
from sklearn.metrics import roc_auc_score

from causaliqa.graph.dsep import is_d_separated
from causaliqa.graph.model import CausalGraph, Node
from causaliqa.stats.correlation import bootstrap_indices, kendall_from_counts, resample_counts
from causaliqa.stats.logistic import fit_logit_batched
from causaliqa.stats.grouped import fold_auc


def test_intercept_slope_fit_equals_statsmodels_and_refuses_other_designs():
    rng = np.random.default_rng(0)
    G, n = 30, 80
    z = rng.normal(size=(G, n))
    y = (rng.random((G, n)) < 1 / (1 + np.exp(-(0.5 * z + rng.normal(size=(G, 1)))))).astype(float)
    mask = rng.random((G, n)) < 0.8
    X = np.stack([np.ones_like(z), z], -1)
    fast = fit_logit_batched(X, y, mask)
    assert fast.usable.sum() >= 25  # 30 groups of 64 rows with a moderate slope: separation is rare
    for g in np.flatnonzero(fast.usable):
        ref = sm.Logit(y[g][mask[g]], X[g][mask[g]]).fit(disp=0).params
        np.testing.assert_allclose(fast.coef[g], ref, atol=1e-6)
    with pytest.raises(ValueError, match="an intercept and one slope"):
        fit_logit_batched(np.stack([2 * np.ones_like(z), z], -1), y, mask)


def test_pooled_fit_without_mask_equals_statsmodels():
    rng = np.random.default_rng(1)
    q = rng.normal(size=20_000)
    m = (rng.random(q.size) < 1 / (1 + np.exp(-(0.2 + 0.8 * q)))).astype(float)
    X = np.column_stack([np.ones_like(q), q])
    np.testing.assert_allclose(fit_logit_batched(X[None], m[None]).coef[0], sm.Logit(m, X).fit(disp=0).params, atol=1e-8)


def test_long_single_group_fit_split_over_threads_equals_statsmodels():
    """A pooled fit on >= 100k rows sums each pass in parallel chunks: same MLE, with and without a mask."""
    rng = np.random.default_rng(8)
    q = rng.normal(size=150_000)
    m = (rng.random(q.size) < 1 / (1 + np.exp(-(-0.4 + 1.3 * q)))).astype(float)
    mask = rng.random(q.size) < 0.7
    X = np.column_stack([np.ones_like(q), q])
    np.testing.assert_allclose(fit_logit_batched(X[None], m[None]).coef[0], sm.Logit(m, X).fit(disp=0).params, atol=1e-8)
    np.testing.assert_allclose(fit_logit_batched(X[None], m[None], mask[None]).coef[0],
                               sm.Logit(m[mask], X[mask]).fit(disp=0).params, atol=1e-8)
    separated = fit_logit_batched(X[None], (q > 0.1).astype(float)[None])
    assert separated.separated[0] and separated.last[0, 1] > 0  # the runaway direction is kept


def test_separation_and_one_class_are_flagged_not_fitted():
    z = np.linspace(-1, 1, 20)
    X = np.stack([np.ones_like(z), z], -1)[None].repeat(2, 0)
    y = np.stack([(z > 0).astype(float), np.ones_like(z)])
    fit = fit_logit_batched(X, y)
    assert fit.separated.tolist() == [True, False] and fit.one_class.tolist() == [False, True]
    assert np.isnan(fit.coef).all()


def test_fold_auc_equals_sklearn_per_row_with_ties():
    rng = np.random.default_rng(2)
    y = (rng.random((50, 40)) < 0.5).astype(float)
    s = rng.integers(0, 5, (50, 40)).astype(float)  # heavy ties
    mask = rng.random((50, 40)) < 0.6
    got = fold_auc(y, s, mask)
    for i in range(50):
        yi, si = y[i][mask[i]], s[i][mask[i]]
        expected = roc_auc_score(yi, si) if 0 < yi.sum() < yi.size else np.nan
        np.testing.assert_allclose(got[i], expected, atol=1e-12, equal_nan=True)


def test_auc_and_cross_entropy_equal_sklearn_without_signal():
    from references import assert_auc_and_ce_equal_sklearn

    rng = np.random.default_rng(3)
    assert_auc_and_ce_equal_sklearn((rng.random(5000) < 0.4).astype(int), rng.normal(size=5000).round(1))


def test_bootstrap_kendall_paths_equal_scipy():
    rng = np.random.default_rng(4)
    q, m = rng.normal(size=25).round(1), rng.random(25).round(1)
    idx = bootstrap_indices(25, 100, 0)
    expected = np.array([stats.kendalltau(q[r], m[r]).statistic for r in idx])
    np.testing.assert_allclose(kendall_from_counts(q, m, resample_counts(idx, 25)), expected, atol=1e-12, equal_nan=True)


def test_own_d_separation_equals_networkx_with_sets():
    rng = random.Random(5)
    for seed in range(60):
        n = rng.randint(3, 25)
        names = [f"V{i}" for i in range(n)]
        edges = [f"{names[i]} -> {names[j]}" for i in range(n) for j in range(i + 1, n) if rng.random() < 0.25]
        graph = CausalGraph.build(edges, nodes={v: Node(v) for v in names})
        g = graph.to_networkx()
        for _ in range(10):
            picked = rng.sample(names, min(n, rng.randint(2, 7)))
            cut1, cut2 = sorted(rng.sample(range(1, len(picked)), 2)) if len(picked) > 2 else (1, 2)
            x, y, z = set(picked[:cut1]), set(picked[cut1:cut2]) or {picked[-1]}, set(picked[cut2:])
            z -= x | y
            if x & y:
                continue
            assert is_d_separated(g, x, y, z) == nx.is_d_separator(g, x, y, z)


@pytest.mark.parametrize("seed", range(4))
def test_vectorised_id_bootstrap_equals_the_loop_for_a_seed(seed):
    """Resample counts as weights in a Mann-Whitney statistic give the loop's AUC and CE exactly (to rounding)."""
    from references import bootstrap_loop

    from causaliqa.stats.metrics import bootstrap_auc_ce

    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 12 if seed == 3 else 60, 300)  # unequal rows per id; few ids: one-class resamples occur
    y = (rng.random(300) < (0.95 if seed == 3 else 0.4)).astype(int)
    p = np.round(rng.random(300), 1)  # heavy ties
    fast = bootstrap_auc_ce(y, p, codes, 200, np.random.default_rng(99), block=7)
    slow = bootstrap_loop(y, p, codes, 200, np.random.default_rng(99))
    np.testing.assert_array_equal(fast[0], slow[0])  # integer-valued sums: exact, not just close
    np.testing.assert_allclose(fast[1], slow[1], atol=1e-12)
