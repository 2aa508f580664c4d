"""CI tests against statsmodels/scipy references, and their level and power on simulated data."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.discrete.conditional_models import ConditionalLogit
from statsmodels.stats.multitest import multipletests

from causaliqa.errors import CausaliqaError
from causaliqa.graph.model import CausalGraph
from causaliqa.simulate import column_kinds, simulate
from causaliqa.stats.citest import adjust_pvalues, ci_test

KINDS = {"z": "categorical", "s": "categorical", "x": "continuous", "q": "continuous", "m": "binary", "c": "categorical"}


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    n = 800
    z = rng.integers(0, 60, n)
    s = rng.integers(0, 4, n)
    x = rng.normal(size=n) + 0.05 * z
    q = 0.5 * x + 0.3 * s + rng.normal(size=n)
    m = (rng.random(n) < 1 / (1 + np.exp(-x - 0.2 * s))).astype(int)
    c = (rng.random(n) < 0.3 + 0.1 * s).astype(int) + rng.integers(0, 2, n)
    return pd.DataFrame({"z": z, "s": s, "x": x, "q": q, "m": m, "c": c})


def test_ols_f_equals_statsmodels_with_dummies(data):
    result = ci_test(data, "q", "x", ["z", "s"], KINDS)  # categorical givens: one stratum per combination
    strata = data.assign(zs=data["z"].astype(str) + "/" + data["s"].astype(str))
    full = smf.ols("q ~ C(zs) + x", strata).fit()
    reduced = smf.ols("q ~ C(zs)", strata).fit()
    f, p, df = full.compare_f_test(reduced)
    assert result.method == "ols-f" and result.df == df == 1
    assert result.statistic == pytest.approx(f, rel=1e-9) and result.p_value == pytest.approx(p, rel=1e-7)
    # a categorical tested variable, a continuous covariate
    result = ci_test(data, "q", "c", ["s", "x"], KINDS)
    f, p, df = smf.ols("q ~ C(s) + x + C(c)", data).fit().compare_f_test(smf.ols("q ~ C(s) + x", data).fit())
    assert (result.df, result.statistic) == (df, pytest.approx(f, rel=1e-9))


def test_logit_lrt_equals_statsmodels(data):
    result = ci_test(data, "q", "m", ["s", "x"], KINDS)
    full = smf.logit("m ~ C(s) + x + q", data).fit(disp=0)
    reduced = smf.logit("m ~ C(s) + x", data).fit(disp=0)
    lr = 2 * (full.llf - reduced.llf)
    assert result.method == "logit-lrt" and result.df == 1
    assert result.statistic == pytest.approx(lr, rel=1e-6)
    assert result.p_value == pytest.approx(stats.chi2.sf(lr, 1), rel=1e-5)


def test_many_strata_use_conditional_logit(data):
    result = ci_test(data, "m", "q", ["z"], KINDS)
    assert result.method == "conditional-logit-lrt" and result.strata == 60
    model = ConditionalLogit(data["m"].to_numpy(), data[["q"]].to_numpy(), groups=data["z"].to_numpy())
    fit = model.fit(disp=0, method="bfgs", maxiter=500)
    lr = 2 * (fit.llf - model.loglike(np.zeros(1)))
    assert result.statistic == pytest.approx(lr, rel=1e-5)


def test_g_test_equals_scipy(data):
    result = ci_test(data, "m", "c", [], KINDS)
    g, p, dof, _ = stats.chi2_contingency(pd.crosstab(data["m"], data["c"]), correction=False, lambda_="log-likelihood")
    assert result.method == "g-test" and result.df == dof
    assert result.statistic == pytest.approx(g) and result.p_value == pytest.approx(p)
    stratified = ci_test(data, "m", "c", ["s"], KINDS)
    parts = [stats.chi2_contingency(pd.crosstab(d["m"], d["c"]), correction=False, lambda_="log-likelihood") for _, d in data.groupby("s")]
    assert stratified.statistic == pytest.approx(sum(r[0] for r in parts))
    assert stratified.df == sum(r[2] for r in parts)


def test_untestable_cases_say_why(data):
    constant = data.assign(k=data["z"] % 2)
    result = ci_test(constant, "q", "k", ["z"], KINDS | {"k": "categorical"})
    assert not result.tested and "does not vary within the strata" in result.note


def test_adjust_pvalues_match_statsmodels():
    p = np.array([0.001, 0.02, np.nan, 0.04, 0.3])
    ok = ~np.isnan(p)
    for ours, theirs in (("holm", "holm"), ("bh", "fdr_bh")):
        adjusted = adjust_pvalues(p, ours)
        assert np.isnan(adjusted[2])
        np.testing.assert_allclose(adjusted[ok], multipletests(p[ok], method=theirs)[1])
    with pytest.raises(CausaliqaError, match="correction: expected 'holm' or 'bh', got 'bonf'"):
        adjust_pvalues(p, "bonf")


def test_ci_test_errors(data):
    with pytest.raises(CausaliqaError, match="column: expected one of .* got 'qq'"):
        ci_test(data, "qq", "m", [], KINDS)
    with pytest.raises(CausaliqaError, match="distinct variables"):
        ci_test(data, "q", "m", ["q"], KINDS)


# ---- level and power on data drawn from a known graph -------------------------------------------------------------
# A -> B -> C, B -> M, with D a root and (for the G-test) categorical R -> K <- S
LEVEL_CASES = {
    "ols-f": ("A -> B, B -> C, B -> M", ("A", "C", ["B"]), (), ()),
    "logit-lrt": ("A -> B, B -> C, B -> M", ("A", "M", ["B"]), ("M",), ()),
    "conditional-logit-lrt": ("Z -> M, Z -> Q", ("Q", "M", ["Z"]), ("M",), ("Z",)),
    "g-test": ("R -> K, R -> L", ("K", "L", ["R"]), (), ("R", "K", "L")),
}


def _rates(edges, case, binary, categorical, n, reps, levels=4):
    graph = CausalGraph.build([e.strip() for e in edges.split(",")], name="sim")
    kinds = column_kinds(graph, binary, categorical)
    left, right, given = case
    p = [ci_test(simulate(graph, n, seed, binary, categorical, levels=levels), left, right, given, kinds).p_value for seed in range(reps)]
    return np.mean(np.array(p) < 0.05), graph


@pytest.mark.slow
@pytest.mark.parametrize("method", sorted(LEVEL_CASES))
def test_each_test_holds_its_level(method):
    edges, case, binary, categorical = LEVEL_CASES[method]
    levels = 40 if method == "conditional-logit-lrt" else 3
    rate, graph = _rates(edges, case, binary, categorical, n=400, reps=200, levels=levels)
    assert graph.is_separated(case[0], case[1], case[2])  # the graph implies the independence tested
    assert 0.02 <= rate <= 0.09, f"{method}: rejection rate {rate} over 200 data sets"


POWER_CASES = {
    "ols-f": ("A -> B, B -> C, A -> C, B -> M", ("A", "C", ["B"]), (), ()),
    "logit-lrt": ("A -> B, B -> M, A -> M", ("A", "M", ["B"]), ("M",), ()),
    "conditional-logit-lrt": ("Z -> M, Z -> Q, Q -> M", ("Q", "M", ["Z"]), ("M",), ("Z",)),
    "g-test": ("R -> K, R -> L, K -> L", ("K", "L", ["R"]), (), ("R", "K", "L")),
}


@pytest.mark.slow
@pytest.mark.parametrize("method", sorted(POWER_CASES))
def test_each_test_has_power_where_the_graph_implies_dependence(method):
    edges, case, binary, categorical = POWER_CASES[method]
    levels = 40 if method == "conditional-logit-lrt" else 3
    rate, graph = _rates(edges, case, binary, categorical, n=1000, reps=40, levels=levels)
    assert not graph.is_separated(case[0], case[1], case[2])
    assert rate >= 0.8, f"{method}: power {rate}"
