"""1000-resample bootstrap of Kendall, Spearman and Pearson over 75 (corruption, severity) groups:
causaliqa's vectorised resampling vs a scipy.stats loop over the same resamples."""

from __future__ import annotations

import numpy as np
from scipy import stats

from causaliqa.stats.correlation import bootstrap_indices, group_correlation, kendall_from_counts, pearson_rows, resample_counts, spearman_rows
from common import report, timed

GROUPS, N_BOOT, SEED = 75, 1000, 0


def scipy_loop(q, m):
    idx = bootstrap_indices(q.size, N_BOOT, SEED)
    out = np.empty((3, N_BOOT))
    for b, rows in enumerate(idx):
        out[0, b] = stats.kendalltau(q[rows], m[rows]).statistic
        out[1, b] = stats.spearmanr(q[rows], m[rows]).statistic
        out[2, b] = stats.pearsonr(q[rows], m[rows]).statistic
    return out


def main() -> None:
    rng = np.random.default_rng(1)
    q = rng.normal(size=GROUPS)
    m = np.clip(0.7 - 0.1 * q + 0.05 * rng.normal(size=GROUPS), 0, 1).round(3)  # accuracies, with ties
    ours_s, _ = timed(lambda: group_correlation(q, m, n_boot=N_BOOT, seed=SEED))
    ref_s, ref = timed(lambda: scipy_loop(q, m))
    idx = bootstrap_indices(q.size, N_BOOT, SEED)
    ours = np.stack([kendall_from_counts(q, m, resample_counts(idx, q.size)), spearman_rows(q[idx], m[idx]), pearson_rows(q[idx], m[idx])])
    diff = float(np.nanmax(np.abs(ours - ref)))
    ratio = ref_s / ours_s
    report("bootstrap", {"groups": GROUPS, "resamples": N_BOOT},
           [{"workload": f"bootstrap Kendall+Spearman+Pearson, {GROUPS} groups x {N_BOOT} resamples", "ours_s": ours_s,
             "reference_s": ref_s, "ratio": ratio, "max_abs_diff_vs_scipy": diff, "target": ">= 15x",
             "met": ratio >= 15 and diff < 1e-12}])


if __name__ == "__main__":
    main()
