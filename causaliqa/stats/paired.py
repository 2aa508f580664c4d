"""Paired comparison of two computations of Q on the same images: does swapping how Q is computed change how well
it predicts M (an intervention on the quality computation with the images held fixed)?

Both computations go through the point-wise procedure on the *same* splits and the *same* image-id resamples
(one :class:`~causaliqa.stats.predictability.SplitPlan`), so the difference of held-out AUCs and its jackknife are
paired by construction: the CI is the delete-a-group jackknife interval (t, groups of image ids) of the
replicates' differences of split means, as for a single AUC. Each computation is first *aligned*: multiplied by the sign
of its association with M on all rows, so a variant that runs the other way (higher = worse) is compared as the
score it is, not as its mirror image. The paired permutation test swaps the two aligned, standardised
computations for a random half of the image ids (all variants of an image together) and recomputes the
difference; p is two-sided. Swapping is exact when the two computations are exchangeable under "no change" (the
same architecture with other weights); for unlike scores it is approximate, which the report says.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from causaliqa.serialize import Serializable
from causaliqa.stats.metrics import within_id_pairs
from causaliqa.stats.predictability import JACKKNIFE_GROUPS, _standardise, held_out_aucs_by_sign, held_out_resampled, id_codes, jackknife_interval, nanmean_rows, split_plan
from causaliqa.stats.streams import stream


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
    n_replicates: int
    directions: tuple[int, int] = (1, 1)  # the sign each computation was aligned by (+1: higher Q, more often correct)


def alignment(z: np.ndarray, m: np.ndarray) -> int:
    """+1 when Q rises with M on all rows (the sign of the logistic slope, from its score), else -1."""
    return 1 if float(((z - z.mean()) * m).sum()) >= 0 else -1


def paired_auc_difference(q_baseline, q_variant, m, image_ids, names: tuple[str, str, str] = ("M", "baseline", "variant"),
                          seed: int = 0, splits: int = 10, n_perm: int = 500) -> PairedAUCDifference:
    """``names``: (M column, baseline column, variant column) for the result's labels."""
    m = np.asarray(m, dtype=np.float64)
    _, codes = id_codes(image_ids)
    plan = split_plan(codes, seed, 0.2, JACKKNIFE_GROUPS, splits)
    za, zb = _standardise(np.asarray(q_baseline, dtype=np.float64)), _standardise(np.asarray(q_variant, dtype=np.float64))
    signs = (alignment(za, m), alignment(zb, m))
    za, zb = signs[0] * za, signs[1] * zb
    auc_a, boot_a = held_out_resampled(za, m, plan)
    auc_b, boot_b = held_out_resampled(zb, m, plan)
    observed = float(nanmean_rows(auc_b[:, None])[0] - nanmean_rows(auc_a[:, None])[0])
    swaps = stream(seed, "paired_permutations").random((n_perm, plan.n_ids)) < 0.5
    null = _null_differences(za, zb, m, plan, swaps)
    p = (1 + int(np.sum(np.abs(null) >= abs(observed) - 1e-12))) / (1 + n_perm)
    return PairedAUCDifference(names[0], names[1], names[2], float(nanmean_rows(auc_a[:, None])[0]), float(nanmean_rows(auc_b[:, None])[0]), observed,
                               jackknife_interval(observed, boot_b - boot_a, bounds=(-1.0, 1.0)), float(p), n_perm, plan.n_ids, int(m.size), len(plan.test),
                               plan.n_replicates, signs)


def _null_differences(za, zb, m, plan, swaps: np.ndarray) -> np.ndarray:
    """Difference of split-mean AUCs with each image's two computations swapped where ``swaps`` (perm x ids) says;
    within-image pairs are left out as in the point-wise AUC (a swapped image brings the other computation's)."""
    first = np.where(swaps[:, plan.codes], zb, za)  # (n_perm, rows): each image's variants swapped together
    second = np.where(swaps[:, plan.codes], za, zb)
    diffs = []
    for is_test, local, ids in zip(plan.test, plan.local, plan.test_ids):
        within_a, pairs = within_id_pairs(m[is_test], za[is_test], local, ids.size)
        within_b, _ = within_id_pairs(m[is_test], zb[is_test], local, ids.size)
        swapped = swaps[:, ids]
        w_first = np.where(swapped, within_b, within_a).sum(1)
        w_second = np.where(swapped, within_a, within_b).sum(1)
        diffs.append(held_out_aucs_by_sign(second, m, is_test, w_second, pairs.sum())
                     - held_out_aucs_by_sign(first, m, is_test, w_first, pairs.sum()))
    return nanmean_rows(np.stack(diffs, 0))


def _by_split(Q: np.ndarray, m: np.ndarray, plan) -> np.ndarray:
    """(rows of Q, splits): each row's held-out AUC on each of the plan's splits (pairs of different images)."""
    Q = np.atleast_2d(Q)
    out = []
    for is_test, local, ids in zip(plan.test, plan.local, plan.test_ids):
        within = np.array([within_id_pairs(m[is_test], row[is_test], local, ids.size) for row in Q])  # rows x 2 x ids
        out.append(held_out_aucs_by_sign(Q, m, is_test, within[:, 0].sum(1), within[0, 1].sum()))
    return np.stack(out, 1)
