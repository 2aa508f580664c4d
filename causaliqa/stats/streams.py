"""Named random streams: every kind of random draw has its own generator, so changing how many of one kind are
drawn changes nothing else (more bootstrap resamples leave the splits, and so the point estimates, as they were).

A stream is ``numpy.random.default_rng([seed, k])`` with a fixed ``k`` per kind; ``seed`` must be a non-negative
integer (the experiment's ``seed``).

>>> a = stream(0, "splits").integers(0, 100, 3)
>>> b = stream(0, "jackknife").integers(0, 100, 3)
>>> bool((a == stream(0, "splits").integers(0, 100, 3)).all()), bool((a == b).all())
(True, False)
"""

from __future__ import annotations

import numpy as np

STREAMS = {
    "splits": 1,  # point-wise 80/20 splits by image id (rounds of a k-fold partition)
    "jackknife": 2,  # image-id groups of the point-wise analysis's and paired comparisons' jackknife
    "folds": 3,  # per-label and per-image CV folds
    "group_resamples": 4,  # (unused since the CV means' CIs became a jackknife; the number stays reserved)
    "null_permutations": 5,  # mixtures: M permuted across image ids
    "paired_permutations": 6,  # interventions: which images swap their two computations
    "correlation_resamples": 7,  # group-wise correlations: resampled (corruption, severity) groups
    "ci_permutations": 8,  # permutation-calibrated CI tests
    "cross_fitting": 9,  # folds of the cross-fitted regressions in the CI tests
    "prior_resamples": 10,  # quality prior: image-id resamples of reference and target, and of groups for MAE intervals
}


def stream(seed: int, name: str) -> np.random.Generator:
    """The generator of one kind of draw (see :data:`STREAMS`)."""
    return np.random.default_rng([int(seed), STREAMS[name]])
