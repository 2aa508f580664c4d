"""Conditional-independence tests for low-dimensional columns: A _||_ B | Z.

Each column has a kind: ``binary`` (M, correctness), ``continuous`` (Q, scores) or ``categorical``
(label, image id, corruption, severity). Categorical and binary members of Z form strata.

Rows of an IQA study are variants of images, so with ``clusters`` (the image id) the rows are not
treated as independent (``method="auto"``):

* every variable constant within an image (the label, say): one row per image, then the tests below;
* only one side varies within images and nothing in Z does: that side is averaged per image, one row
  per image, nested-OLS F-test;
* otherwise the generalised covariance measure with image-id cluster sums (``causaliqa.stats.gcm``).

Without clusters: a continuous member of Z, or a many-level categorical under test, uses the GCM
(flexible spline adjustment; permutation-calibrated for many levels); otherwise the parametric tests:

* binary vs continuous/categorical: likelihood-ratio test of B in a logistic model of the binary
  side given Z (statsmodels ``Logit``; with many strata, statsmodels ``ConditionalLogit``). Separation
  (a fitted probability of 0 or 1) makes the LR test invalid: such a statement is tested by the GCM
  instead, which needs no MLE (M = 1{Q > S} had been "n/a" in 200 of 200 data sets). A test whose binary side
  is determined by the conditioning set (a tautology such as M given Y and Yhat) is n/a;
* continuous vs anything else: nested-OLS F-test (strata absorbed by within-group demeaning);
* discrete vs discrete given discrete Z: stratified G-test (the sum of per-stratum G statistics).

``method="parametric"`` forces the parametric tests (linear adjustment), ``method="gcm"`` the GCM.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from causaliqa.errors import CausaliqaError
from causaliqa.serialize import Serializable

KINDS = ("binary", "continuous", "categorical")
METHODS = ("auto", "parametric", "gcm")
MAX_DUMMY_STRATA = 30  # above this many strata the logistic test conditions them out (ConditionalLogit)
MANY_LEVELS = 10  # a tested categorical with more levels than this goes to the permutation-calibrated GCM
SEPARATED_PROBABILITY = 1e-6  # a fitted probability this close to 0 or 1 means (quasi-)separation
# a test clustered by image needs this many images: measured levels at alpha 0.05 (Q _||_ Y | M, 8 variants each):
# 0.25 with 5 images, 0.13 with 10, 0.075 with 20, 0.060 with 30, 0.048 with 40, 0.046 with 80
MIN_CLUSTERS = 30


@dataclass(frozen=True)
class CITest(Serializable):
    """One test of ``left _||_ right | given`` on data; rejected means dependence was found."""

    json_properties = ('statement', 'tested')

    left: str
    right: str
    given: tuple[str, ...]
    method: str
    statistic: float
    df: int
    p_value: float
    n: int
    strata: int
    note: str = ""

    @property
    def statement(self) -> str:
        given = f" | {', '.join(self.given)}" if self.given else ""
        return f"{self.left} _||_ {self.right}{given}"

    @property
    def tested(self) -> bool:
        return bool(np.isfinite(self.p_value))


def _strata_codes(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    if not columns:
        return np.zeros(len(frame), dtype=np.int64)
    return frame.groupby(columns, sort=False, observed=True).ngroup().to_numpy()


def _dummies(values: pd.Series) -> np.ndarray:
    codes = pd.factorize(values, sort=True)[0]
    levels = codes.max() + 1
    return np.eye(levels)[codes][:, 1:] if levels > 1 else np.zeros((len(codes), 0))


def _design_columns(series: pd.Series, kind: str) -> np.ndarray:
    if kind == "continuous":
        return series.to_numpy(dtype=np.float64)[:, None]
    return _dummies(series)


def _within(matrix: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Subtract each stratum's mean (absorbs one intercept per stratum)."""
    if matrix.shape[1] == 0:
        return matrix
    n_strata = codes.max() + 1
    sums = np.zeros((n_strata, matrix.shape[1]))
    np.add.at(sums, codes, matrix)
    counts = np.bincount(codes, minlength=n_strata)[:, None]
    return matrix - (sums / counts)[codes]


def _rss(y: np.ndarray, X: np.ndarray) -> tuple[float, int]:
    if X.shape[1] == 0:
        return float(y @ y), 0
    coef, _, rank, _ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ coef
    return float(resid @ resid), int(rank)


def ols_f_test(y: np.ndarray, covariates: np.ndarray, tested: np.ndarray, codes: np.ndarray) -> tuple[float, int, float, str]:
    """F-test of ``tested`` in y ~ strata + covariates + tested (strata absorbed by demeaning)."""
    n_strata = codes.max() + 1
    y_w = _within(y[:, None], codes)[:, 0]
    cov_w, test_w = _within(covariates, codes), _within(tested, codes)
    rss_r, rank_r = _rss(y_w, cov_w)
    rss_f, rank_f = _rss(y_w, np.hstack([cov_w, test_w]))
    df_num = rank_f - rank_r
    df_den = len(y) - n_strata - rank_f
    if df_num == 0:
        return np.nan, 0, np.nan, "the tested variable does not vary within the strata"
    if df_den <= 0 or rss_f <= 0:
        return np.nan, df_num, np.nan, "no residual degrees of freedom"
    f = ((rss_r - rss_f) / df_num) / (rss_f / df_den)
    return float(f), int(df_num), float(stats.f.sf(f, df_num, df_den)), ""


def _logit_llf(y: np.ndarray, X: np.ndarray) -> tuple[float, str]:
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import (
        ConvergenceWarning,
        PerfectSeparationWarning,
    )

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = sm.Logit(y, X).fit(disp=0, method="newton", maxiter=100)
        except np.linalg.LinAlgError:
            result = sm.Logit(y, X).fit(disp=0, method="bfgs", maxiter=500)
    fitted = np.asarray(result.predict())
    separated = bool(np.any((fitted < SEPARATED_PROBABILITY) | (fitted > 1 - SEPARATED_PROBABILITY)))
    warned = any(issubclass(w.category, (PerfectSeparationWarning, ConvergenceWarning)) for w in caught)
    return float(result.llf), "perfect or quasi-perfect separation" if separated or warned else ""


def _independent_columns(X: np.ndarray) -> np.ndarray:
    """Drop columns that are linear combinations of earlier ones (e.g. a dummy constant within strata)."""
    keep: list[int] = []
    for j in range(X.shape[1]):
        if np.linalg.matrix_rank(X[:, keep + [j]]) == len(keep) + 1:
            keep.append(j)
    return X[:, keep]


def conditional_logit_llf(y: np.ndarray, X: np.ndarray, codes: np.ndarray) -> tuple[float, bool]:
    """Conditional log-likelihood maximised over the slopes (strata intercepts conditioned out), and whether
    the fit separates (within some stratum the linear predictor spreads the classes to probabilities 0 and 1)."""
    from statsmodels.discrete.conditional_models import ConditionalLogit

    if X.shape[1] == 0:
        return 0.0, False  # the null conditional likelihood is a constant; only differences matter
    model = ConditionalLogit(y, X, groups=codes)
    null = model.loglike(np.zeros(X.shape[1]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = model.fit(disp=0, method="bfgs", maxiter=500)
    eta = _within(X @ np.asarray(result.params)[:, None], codes)[:, 0]
    separated = bool(np.abs(eta).max() > -np.log(SEPARATED_PROBABILITY)) if eta.size else False
    return float(result.llf - null), separated


def logit_lr_test(y: np.ndarray, covariates: np.ndarray, tested: np.ndarray, codes: np.ndarray) -> tuple[float, int, float, str, str]:
    n_strata = codes.max() + 1
    informative = np.bincount(codes, weights=y, minlength=n_strata)
    sizes = np.bincount(codes, minlength=n_strata)
    if n_strata > MAX_DUMMY_STRATA:
        keep = ((informative > 0) & (informative < sizes))[codes]  # strata where M varies carry the information
        if keep.sum() == 0:
            return np.nan, 0, np.nan, "conditional-logit-lrt", "the binary variable is constant within every stratum"
        y_k, cov_k, test_k, codes_k = y[keep], covariates[keep], tested[keep], pd.factorize(codes[keep])[0]
        reduced = _independent_columns(_within(cov_k, codes_k)) if cov_k.shape[1] else cov_k
        full = _independent_columns(_within(np.hstack([cov_k, test_k]), codes_k))
        df = full.shape[1] - reduced.shape[1]
        if df == 0:
            return np.nan, 0, np.nan, "conditional-logit-lrt", "the tested variable does not vary within the strata"
        # demeaning within strata leaves the conditional likelihood unchanged and helps BFGS
        llf_full, sep_full = conditional_logit_llf(y_k, full, codes_k)
        llf_reduced, sep_reduced = conditional_logit_llf(y_k, reduced, codes_k)
        lr = max(2 * (llf_full - llf_reduced), 0.0)
        if sep_full or sep_reduced:
            return lr, df, np.nan, "conditional-logit-lrt", "perfect or quasi-perfect separation: the LR test is not valid (n/a)"
        return lr, df, float(stats.chi2.sf(lr, df)), "conditional-logit-lrt", ""
    if informative.sum() in (0, len(y)):
        return np.nan, 0, np.nan, "logit-lrt", "the binary variable is constant"
    if covariates.shape[1] == 0 and np.all((informative == 0) | (informative == sizes)):
        return np.nan, 0, np.nan, "logit-lrt", "the binary variable is determined by the conditioning set (a tautology)"
    base = np.hstack([np.ones((len(y), 1)), _dummies(pd.Series(codes)), covariates])
    reduced = _independent_columns(base)
    full = _independent_columns(np.hstack([reduced, tested]))
    df = full.shape[1] - reduced.shape[1]
    if df == 0:
        return np.nan, 0, np.nan, "logit-lrt", "the tested variable does not vary within the strata"
    llf_r, note_r = _logit_llf(y, reduced)
    llf_f, note_f = _logit_llf(y, full)
    lr = max(2 * (llf_f - llf_r), 0.0)
    if note_f or note_r:
        return lr, df, np.nan, "logit-lrt", "perfect or quasi-perfect separation: the LR test is not valid (n/a)"
    return lr, df, float(stats.chi2.sf(lr, df)), "logit-lrt", ""


def stratified_g_test(a: pd.Series, b: pd.Series, codes: np.ndarray) -> tuple[float, int, float, str]:
    g_total, dof_total = 0.0, 0
    for _, idx in pd.Series(np.arange(len(codes))).groupby(codes):
        table = pd.crosstab(a.iloc[idx.to_numpy()], b.iloc[idx.to_numpy()]).to_numpy()
        table = table[table.sum(1) > 0][:, table.sum(0) > 0]
        if min(table.shape) < 2:
            continue
        g, _, dof, _ = stats.chi2_contingency(table, correction=False, lambda_="log-likelihood")
        g_total += g
        dof_total += dof
    if dof_total == 0:
        return np.nan, 0, np.nan, "no stratum where both variables vary"
    return float(g_total), int(dof_total), float(stats.chi2.sf(g_total, dof_total)), ""


def _numeric_columns(series: pd.Series, kind: str) -> np.ndarray:
    """A variable as GCM columns: itself (binary, continuous) or one indicator per level but one (categorical)."""
    return series.to_numpy(dtype=np.float64)[:, None] if kind != "categorical" else _dummies(series)


def _varies_within(data: pd.DataFrame, column: str, clusters: str) -> bool:
    return bool((data.groupby(clusters, sort=False)[column].nunique() > 1).any())


def ci_test(frame: pd.DataFrame, left: str, right: str, given=(), kinds: dict[str, str] | None = None,
            clusters: str | None = None, method: str = "auto") -> CITest:
    """Test ``left _||_ right | given`` on the columns of ``frame``; ``kinds`` maps column -> kind.

    ``clusters`` names the column whose rows are not independent (the image id); see the module docstring.
    """
    given = tuple(given)
    kinds = kinds or {}
    columns = [left, right, *given]
    if method not in METHODS:
        raise CausaliqaError("ci_test", "method", f"one of {METHODS}", repr(method))
    for col in columns + ([clusters] if clusters else []):
        if col not in frame.columns:
            raise CausaliqaError("ci_test", "column", f"one of {list(frame.columns)}", repr(col))
    for col in columns:
        if kinds.get(col, "continuous") not in KINDS:
            raise CausaliqaError("ci_test", f"kinds[{col!r}]", f"one of {KINDS}", repr(kinds[col]))
    if len(set(columns)) != len(columns) or clusters in columns:
        raise CausaliqaError("ci_test", None, "distinct variables on each side and in the conditioning set", columns)
    data = frame[columns + ([clusters] if clusters else [])].dropna()
    kind = {c: kinds.get(c, "continuous") for c in columns}
    note = ""
    if clusters and len(data):
        varying = [c for c in columns if _varies_within(data, c, clusters)]
        if not varying:  # image-level variables: one row per image
            data = data.groupby(clusters, sort=False).first().reset_index()
            clusters, note = None, "one row per image id (every variable is constant within an image)"
        elif len(varying) == 1 and varying[0] in (left, right) and kind[varying[0]] != "categorical" and method != "gcm":
            side = varying[0]
            data = data.groupby(clusters, sort=False).agg({c: ("mean" if c == side else "first") for c in columns}).reset_index()
            kind = {**kind, side: "continuous"}
            clusters, note = None, f"{side} averaged per image id (the other variables are constant within an image)"
            return _with_note(_parametric(data, left, right, given, kind), note)
    if len(data) < 5:
        return CITest(left, right, given, "none", np.nan, 0, np.nan, len(data), 0, f"only {len(data)} complete rows")
    many_levels = any(kind[c] == "categorical" and data[c].nunique() > MANY_LEVELS + 1 for c in (left, right))
    use_gcm = method == "gcm" or (method == "auto" and (clusters is not None or many_levels
                                                          or any(kind[c] == "continuous" for c in given)))
    result = _gcm(data, left, right, given, kind, clusters) if use_gcm else _parametric(data, left, right, given, kind)
    return _with_note(result, note)


def _with_note(result: CITest, note: str) -> CITest:
    if not note:
        return result
    from dataclasses import replace

    return replace(result, note="; ".join(n for n in (result.note, note) if n))


def _gcm(data: pd.DataFrame, left: str, right: str, given: tuple, kind: dict, clusters: str | None) -> CITest:
    from causaliqa.stats.gcm import gcm_test

    if clusters is not None and data[clusters].nunique() < MIN_CLUSTERS:
        return CITest(left, right, given, "gcm-clustered", np.nan, 0, np.nan, len(data), 0,
                      f"only {data[clusters].nunique()} image ids: a test clustered by image needs {MIN_CLUSTERS} (n/a)")
    strata_cols = [c for c in given if kind[c] != "continuous"]
    cont = [c for c in given if kind[c] == "continuous"]
    codes = _strata_codes(data, strata_cols)
    continuous = np.column_stack([data[c].to_numpy(dtype=np.float64) for c in cont]) if cont else np.zeros((len(data), 0))
    a, b = (left, right) if kind[left] != "categorical" or kind[right] == "categorical" else (right, left)
    b_constant = clusters is not None and not _varies_within(data, b, clusters)
    res = gcm_test(_numeric_columns(data[a], kind[a]), _numeric_columns(data[b], kind[b]), codes, continuous,
                   data[clusters].to_numpy() if clusters else None, b_constant)
    method = "gcm" + ("-clustered" if clusters else "") + ("-permutation" if res.calibration == "permutation" else "")
    note = "" if np.isfinite(res.p_value) else "no variation left after adjusting for the conditioning set"
    return CITest(left, right, given, method, res.statistic, res.df, res.p_value, len(data), int(codes.max() + 1), note)


def _parametric(data: pd.DataFrame, left: str, right: str, given: tuple, kind: dict) -> CITest:
    strata_cols = [c for c in given if kind[c] != "continuous"]
    cont_given = [c for c in given if kind[c] == "continuous"]
    codes = _strata_codes(data, strata_cols)
    covariates = np.column_stack([data[c].to_numpy(dtype=np.float64) for c in cont_given]) if cont_given else np.zeros((len(data), 0))
    n_strata = int(codes.max() + 1) if len(data) else 0

    def result(method, stat, df, p, note=""):
        return CITest(left, right, given, method, float(stat), int(df), float(p), len(data), n_strata, note)

    if len(data) < 5:
        return result("none", np.nan, 0, np.nan, f"only {len(data)} complete rows")
    a, b = kind[left], kind[right]
    both_discrete = "continuous" not in (a, b)
    if "binary" in (a, b) and not (both_discrete and not cont_given):
        response, other = (left, right) if a == "binary" else (right, left)
        stat, df, p, method, note = logit_lr_test(data[response].to_numpy(dtype=np.float64), covariates,
                                                  _design_columns(data[other], kind[other]), codes)
        if "separation" in note:  # the MLE does not exist; the GCM needs none, so the statement is still tested
            return _with_note(_gcm(data, left, right, given, kind, None), "logistic LR test invalid under separation: GCM used")
        return result(method, stat, df, p, note)
    if not both_discrete:
        response, other = (left, right) if a == "continuous" else (right, left)
        stat, df, p, note = ols_f_test(data[response].to_numpy(dtype=np.float64), covariates,
                                       _design_columns(data[other], kind[other]), codes)
        return result("ols-f", stat, df, p, note)
    if cont_given:
        return result("none", np.nan, 0, np.nan, "two categorical variables given a continuous one: no test implemented")
    stat, df, p, note = stratified_g_test(data[left], data[right], codes)
    return result("g-test", stat, df, p, note)


def adjust_pvalues(p_values, method: str = "holm") -> np.ndarray:
    """Holm (family-wise) or Benjamini-Hochberg (false discovery rate) adjusted p-values; NaN stays NaN."""
    from statsmodels.stats.multitest import multipletests

    names = {"holm": "holm", "bh": "fdr_bh"}
    if method not in names:
        raise CausaliqaError("correction", None, "'holm' or 'bh'", repr(method))
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full_like(p, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method=names[method])[1]
    return out
