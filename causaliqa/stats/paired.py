"""Paired comparison of two computations of Q on the same images: does swapping how Q is computed change how well
it predicts M (issue 13, interventions on the quality computation with the images held fixed)?

Both computations go through the point-wise procedure on the *same* splits and the *same* image-id resamples
(one :class:`~causaliqa.stats.predictability.SplitPlan`), so the difference of held-out AUCs and its bootstrap are
paired by construction: the CI is the percentile interval of the per-resample differences (resampling unit: the
test image id). The paired permutation test swaps the two computations' standardised values for a random half
of the image ids (all variants of an image together) and recomputes the difference; p is two-sided. Swapping is
exact when the two computations are exchangeable under "no change" (the same architecture with other weights);
for unlike scores it is approximate, which the report says.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from causaliqa.serialize import Serializable
from causaliqa.stats.predictability import _ci95, _standardise, held_out_aucs_by_sign, held_out_resampled, id_codes, split_plan


@dataclass(frozen=True)
class PairedAUCDifference(Serializable):
    """Held-out AUC of P(M | variant) minus that of P(M | baseline), on the same splits and resamples."""

    m: str
    baseline: str
    variant: str
    auc_baseline: float
    auc_variant: float
    difference: float
    ci: tuple[float, float]
    p_value: float
    n_perm: int
    n_images: int
    n_rows: int
    splits: int
    n_boot: int


def paired_auc_difference(q_baseline, q_variant, m, image_ids, names: tuple[str, str, str] = ("M", "baseline", "variant"),
                          seed: int = 0, n_boot: int = 1000, splits: int = 10, n_perm: int = 500) -> PairedAUCDifference:
    """``names``: (M column, baseline column, variant column) for the result's labels."""
    m = np.asarray(m, dtype=np.float64)
    _, codes = id_codes(image_ids)
    plan = split_plan(codes, seed, 0.2, n_boot, splits)
    za, zb = _standardise(np.asarray(q_baseline, dtype=np.float64)), _standardise(np.asarray(q_variant, dtype=np.float64))
    auc_a, boot_a = held_out_resampled(za, m, plan)
    auc_b, boot_b = held_out_resampled(zb, m, plan)
    observed = float(np.nanmean(auc_b) - np.nanmean(auc_a))
    rng = np.random.default_rng(seed + 104729)
    swaps = rng.random((n_perm, plan.n_ids)) < 0.5
    first = np.where(swaps[:, codes], zb, za)  # (n_perm, rows): each image's variants swapped together
    second = np.where(swaps[:, codes], za, zb)
    null = np.nanmean(_by_split(second, m, plan), 1) - np.nanmean(_by_split(first, m, plan), 1)
    p = (1 + int(np.sum(np.abs(null) >= abs(observed) - 1e-12))) / (1 + n_perm)
    return PairedAUCDifference(names[0], names[1], names[2], float(np.nanmean(auc_a)), float(np.nanmean(auc_b)), observed,
                               _ci95((boot_b - boot_a).ravel()), float(p), n_perm, plan.n_ids, int(m.size), len(plan.test),
                               plan.per_split * len(plan.test))


def _by_split(Q: np.ndarray, m: np.ndarray, plan) -> np.ndarray:
    """(rows of Q, splits): each row's held-out AUC on each of the plan's splits."""
    return np.stack([held_out_aucs_by_sign(Q, m, is_test) for is_test in plan.test], 1)
