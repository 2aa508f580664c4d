"""Conditional-independence tests for low-dimensional columns: A _||_ B | Z.

Each column has a kind: ``binary`` (M, correctness), ``continuous`` (Q, scores) or ``categorical``
(label, image id, corruption, severity). The test is chosen from the kinds:

* binary vs continuous/categorical: likelihood-ratio test of B in a logistic model of the binary
  side given Z (statsmodels ``Logit``; with many strata, statsmodels ``ConditionalLogit`` so the
  strata's intercepts are conditioned out instead of estimated);
* continuous vs anything else: nested-OLS F-test (strata absorbed by within-group demeaning, the
  Frisch-Waugh-Lovell identity, so 50k strata cost no dummy matrix);
* discrete vs discrete given discrete Z: stratified G-test (the sum of per-stratum G statistics).

Categorical and binary members of Z form strata; continuous members enter linearly.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

from causaliqa.errors import CausaliqaError

KINDS = ("binary", "continuous", "categorical")
MAX_DUMMY_STRATA = 30  # above this many strata the logistic test conditions them out (ConditionalLogit)


@dataclass(frozen=True)
class CITest:
    """One test of ``left _||_ right | given`` on data; rejected means dependence was found."""

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

    def to_dict(self) -> dict:
        return {**asdict(self), "given": list(self.given), "statement": self.statement}


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
    from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = sm.Logit(y, X).fit(disp=0, method="newton", maxiter=100)
        except np.linalg.LinAlgError:
            result = sm.Logit(y, X).fit(disp=0, method="bfgs", maxiter=500)
    note = "perfect or quasi-perfect separation" if any(issubclass(w.category, (PerfectSeparationWarning, ConvergenceWarning)) for w in caught) else ""
    return float(result.llf), note


def _independent_columns(X: np.ndarray) -> np.ndarray:
    """Drop columns that are linear combinations of earlier ones (e.g. a dummy constant within strata)."""
    keep: list[int] = []
    for j in range(X.shape[1]):
        if np.linalg.matrix_rank(X[:, keep + [j]]) == len(keep) + 1:
            keep.append(j)
    return X[:, keep]


def conditional_logit_llf(y: np.ndarray, X: np.ndarray, codes: np.ndarray) -> float:
    """Conditional log-likelihood maximised over the slopes (strata intercepts conditioned out)."""
    from statsmodels.discrete.conditional_models import ConditionalLogit

    if X.shape[1] == 0:
        return 0.0  # the null conditional likelihood is a constant; only differences matter
    model = ConditionalLogit(y, X, groups=codes)
    null = model.loglike(np.zeros(X.shape[1]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = model.fit(disp=0, method="bfgs", maxiter=500)
    return float(result.llf - null)


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
        lr = 2 * (conditional_logit_llf(y_k, full, codes_k) - conditional_logit_llf(y_k, reduced, codes_k))
        return max(lr, 0.0), df, float(stats.chi2.sf(max(lr, 0.0), df)), "conditional-logit-lrt", ""
    if informative.sum() in (0, len(y)):
        return np.nan, 0, np.nan, "logit-lrt", "the binary variable is constant"
    base = np.hstack([np.ones((len(y), 1)), _dummies(pd.Series(codes)), covariates])
    reduced = _independent_columns(base)
    full = _independent_columns(np.hstack([reduced, tested]))
    df = full.shape[1] - reduced.shape[1]
    if df == 0:
        return np.nan, 0, np.nan, "logit-lrt", "the tested variable does not vary within the strata"
    llf_r, note_r = _logit_llf(y, reduced)
    llf_f, note_f = _logit_llf(y, full)
    lr = max(2 * (llf_f - llf_r), 0.0)
    return lr, df, float(stats.chi2.sf(lr, df)), "logit-lrt", note_f or note_r


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


def ci_test(frame: pd.DataFrame, left: str, right: str, given=(), kinds: dict[str, str] | None = None) -> CITest:
    """Test ``left _||_ right | given`` on the columns of ``frame``; ``kinds`` maps column -> kind."""
    given = tuple(given)
    kinds = kinds or {}
    columns = [left, right, *given]
    for col in columns:
        if col not in frame.columns:
            raise CausaliqaError("ci_test", "column", f"one of {list(frame.columns)}", repr(col))
        if kinds.get(col, "continuous") not in KINDS:
            raise CausaliqaError("ci_test", f"kinds[{col!r}]", f"one of {KINDS}", repr(kinds[col]))
    if len(set(columns)) != len(columns):
        raise CausaliqaError("ci_test", None, "distinct variables on each side and in the conditioning set", columns)
    data = frame[columns].dropna()
    kind = {c: kinds.get(c, "continuous") for c in columns}
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
