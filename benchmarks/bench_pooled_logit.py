"""Pooled logistic P(M | Q) on 3M rows: causaliqa's batched IRLS (one group) vs statsmodels Logit.

Extra memory is the tracemalloc peak of the fit call (numpy reports its allocations to tracemalloc),
beyond the input arrays.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import statsmodels.api as sm

from causaliqa.stats.logistic import fit_logit_batched
from common import report, timed

N = 3_000_000


def peak_mb(func) -> float:
    tracemalloc.start()
    func()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def main() -> None:
    rng = np.random.default_rng(0)
    q = rng.normal(size=N)
    m = (rng.random(N) < 1 / (1 + np.exp(-(0.4 + 0.9 * q)))).astype(np.float64)
    X = np.column_stack([np.ones(N), q])
    ours_s, fit = timed(lambda: fit_logit_batched(X[None], m[None]))
    ref_s, ref = timed(lambda: sm.Logit(m, X).fit(disp=0))
    diff = float(np.abs(fit.coef[0] - ref.params).max())
    ours_mb = peak_mb(lambda: fit_logit_batched(X[None], m[None]))
    ref_mb = peak_mb(lambda: sm.Logit(m, X).fit(disp=0))
    ratio = ref_s / ours_s
    report("pooled_logit", {"rows": N},
           [{"workload": f"pooled logistic P(M|Q), {N} rows", "ours_s": ours_s, "reference_s": ref_s, "ratio": ratio,
             "max_coef_diff": diff, "ours_extra_mb": round(ours_mb, 1), "statsmodels_extra_mb": round(ref_mb, 1),
             "target": ">= 3x, <= 300 MB extra", "met": ratio >= 3 and ours_mb <= 300 and diff <= 1e-6}])


if __name__ == "__main__":
    main()
