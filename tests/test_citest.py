"""CI tests against statsmodels/scipy references, and their level and power on simulated data."""

import numpy as np
import pandas as pd
import pytest
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
    result = ci_test(data, "q", "c", ["s", "x"], KINDS, method="parametric")
    f, p, df = smf.ols("q ~ C(s) + x + C(c)", data).fit().compare_f_test(smf.ols("q ~ C(s) + x", data).fit())
    assert (result.df, result.statistic) == (df, pytest.approx(f, rel=1e-9))


def test_logit_lrt_equals_statsmodels(data):
    result = ci_test(data, "q", "m", ["s", "x"], KINDS, method="parametric")
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
    p = [ci_test(simulate(graph, n, seed, binary, categorical, levels=levels), left, right, given, kinds, method="parametric").p_value
         for seed in range(reps)]
    return np.mean(np.array(p) < 0.05), graph


@pytest.mark.slow
@pytest.mark.parametrize("method", sorted(LEVEL_CASES))
def test_each_test_holds_its_level(method):
    edges, case, binary, categorical = LEVEL_CASES[method]
    levels = 40 if method == "conditional-logit-lrt" else 3
    rate, graph = _rates(edges, case, binary, categorical, n=400, reps=200, levels=levels)
    assert graph.is_separated(case[0], case[1], case[2])  # the graph implies the independence tested
    # alpha 0.05 with 200 data sets: binomial sd 0.015, so [0.02, 0.09] is about 2 sd below and 2.7 sd above
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
    assert rate >= 0.8, f"{method}: power {rate}"  # the conventional 80 % power target at n = 1000


# ---- nonlinear, sparse, many-level and clustered designs (>= 500 simulations each) --------------
from scipy.special import expit  # noqa: E402

DESIGN_KINDS = {"q": "continuous", "m": "binary", "z": "continuous", "c": "categorical", "y": "categorical", "img": "categorical"}


def nonlinear(rng, n=400, dep=0.0):
    """Z -> Q and Z -> M through Z^2: Q _||_ M | Z holds when dep = 0, though not linearly."""
    z = rng.normal(size=n)
    q = z ** 2 + rng.normal(size=n)
    m = (rng.random(n) < expit(1.5 * (z ** 2 - 1) + dep * q)).astype(int)
    return pd.DataFrame({"q": q, "m": m, "z": z})


def sparse(rng, n=400, dep=0.0):
    """A rare outcome (M = 1 in about 7 % of rows)."""
    z = rng.normal(size=n)
    q = z + rng.normal(size=n)
    m = (rng.random(n) < expit(-3 + z + dep * q)).astype(int)
    return pd.DataFrame({"q": q, "m": m, "z": z})


def many_levels(rng, n=400, dep=0.0):
    c = rng.integers(0, 76, n)
    return pd.DataFrame({"q": rng.normal(size=n) + dep * (c % 2), "c": c})


def clustered(rng, images=80, per=16, dep=0.0):
    """Variants of images: an image effect u drives Q and M; the label Y is independent of u unless dep."""
    u = rng.normal(size=images)
    y = rng.integers(0, 10, images)
    u = u + dep * (y % 2)
    img = np.repeat(np.arange(images), per)
    q = u[img] + 0.5 * rng.normal(size=img.size)
    m = (rng.random(img.size) < expit(u[img] + 0.5 * rng.normal(size=img.size))).astype(int)
    return pd.DataFrame({"q": q, "m": m, "y": y[img], "img": img})


DESIGN_CASES = {  # name: (generator, statement, options); every statement holds in the generator at dep = 0
    "nonlinear": (nonlinear, ("q", "m", ["z"]), {}),
    "sparse-outcome": (sparse, ("q", "m", ["z"]), {}),
    "76-level-categorical": (many_levels, ("q", "c", []), {}),
    "clustered-Q-Y": (clustered, ("q", "y", []), {"clusters": "img"}),
    "clustered-Y-M": (clustered, ("y", "m", []), {"clusters": "img"}),
    "clustered-Q-Y-given-M": (clustered, ("q", "y", ["m"]), {"clusters": "img"}),
}


def _design_rate(generator, statement, options, sims, **kw):
    left, right, given = statement
    p = np.array([ci_test(generator(np.random.default_rng(s), **kw), left, right, given, DESIGN_KINDS, **options).p_value
                  for s in range(sims)])
    return float(np.mean(p < 0.05))


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(DESIGN_CASES))
def test_design_tests_hold_their_level_over_500_simulations(case):
    # [0.03, 0.07]: the window; 500 simulations at a true 0.05 give a binomial sd of 0.0097
    rate = _design_rate(*DESIGN_CASES[case], sims=500)
    assert 0.03 <= rate <= 0.07, f"{case}: rejection rate {rate} over 500 data sets"  # the window, ~2 sd


@pytest.mark.slow
@pytest.mark.parametrize("case, generator, statement", [
    ("nonlinear-linear-adjustment", nonlinear, ("q", "m", ["z"])),
    ("clustered-rows-as-independent", clustered, ("q", "y", [])),
])
def test_the_old_tests_fail_on_these_designs(case, generator, statement):
    """The measured failures the issue reports: linear adjustment 200/200, pseudo-replication 100/100."""
    assert _design_rate(generator, statement, {"method": "parametric"}, sims=100) > 0.9  # measured before: 200/200, 100/100


@pytest.mark.slow
@pytest.mark.parametrize("case, kw", [("nonlinear", {"dep": 1.0}), ("sparse-outcome", {"dep": 1.5}),
                                      ("76-level-categorical", {"dep": 0.9}), ("clustered-Q-Y", {"dep": 1.5}),
                                      ("clustered-Q-Y-given-M", {"dep": 1.5})])
def test_design_tests_have_power(case, kw):
    generator, statement, options = DESIGN_CASES[case]
    assert _design_rate(generator, statement, options, sims=60, **kw) >= 0.8  # 80 % power at effects chosen for it


def test_clustered_image_level_variables_use_one_row_per_image():
    data = clustered(np.random.default_rng(0))
    result = ci_test(data, "q", "y", [], DESIGN_KINDS, clusters="img")
    means = data.groupby("img").agg(q=("q", "mean"), y=("y", "first"))
    f, p, _ = smf.ols("q ~ C(y)", means).fit().compare_f_test(smf.ols("q ~ 1", means).fit())
    assert result.n == 80 and result.method == "ols-f" and "q averaged per image id" in result.note
    assert result.statistic == pytest.approx(f, rel=1e-9) and result.p_value == pytest.approx(p, rel=1e-7)


def test_separation_makes_the_logit_test_fall_back_to_the_gcm():
    """M = 1{Q > 0}: the logistic MLE does not exist, but the dependence is there; the GCM (no MLE) tests it."""
    rng = np.random.default_rng(1)
    q = rng.normal(size=200)
    data = pd.DataFrame({"q": q, "m": (q > 0).astype(int), "s": rng.integers(0, 3, 200)})
    result = ci_test(data, "q", "m", ["s"], {"q": "continuous", "m": "binary", "s": "categorical"})
    assert result.tested and result.method == "gcm" and "invalid under separation: GCM used" in result.note
    assert result.p_value < 1e-6
    strata = pd.DataFrame({"q": q, "m": (q > 0).astype(int), "s": rng.integers(0, 40, 200)})
    result = ci_test(strata, "q", "m", ["s"], {"q": "continuous", "m": "binary", "s": "categorical"})
    assert result.method == "gcm" and result.tested and result.p_value < 1e-6


def test_a_tautology_is_not_applicable():
    rng = np.random.default_rng(2)
    y, yhat = rng.integers(0, 3, 300), rng.integers(0, 3, 300)
    data = pd.DataFrame({"q": rng.normal(size=300), "m": (y == yhat).astype(int), "y": y, "yhat": yhat})
    kinds = {"q": "continuous", "m": "binary", "y": "categorical", "yhat": "categorical"}
    result = ci_test(data, "q", "m", ["y", "yhat"], kinds)
    assert not result.tested and "determined by the conditioning set" in result.note


def test_too_few_images_for_a_clustered_test_is_not_applicable():
    """With 5-20 images the clustered GCM rejected a true null 25 %-7.5 % of the time; below 30 it says n/a."""
    data = clustered(np.random.default_rng(0), images=12)
    result = ci_test(data, "q", "y", ["m"], DESIGN_KINDS, clusters="img")
    assert not result.tested and "only 12 image ids: a test clustered by image needs 30" in result.note
