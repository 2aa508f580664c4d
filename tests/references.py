"""Reference checks shared by the test files: our fast statistics against sklearn, in one place."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import log_loss, roc_auc_score

from causaliqa.stats.metrics import auc_score, cross_entropy


def assert_auc_and_ce_equal_sklearn(y: np.ndarray, score: np.ndarray) -> None:
    """AUC of ``score`` and cross-entropy of its logistic transform equal sklearn's to 1e-12 (ties included)."""
    p = 1 / (1 + np.exp(-score))
    assert abs(auc_score(y, score) - roc_auc_score(y, score)) < 1e-12
    assert abs(cross_entropy(y, p) - log_loss(y, p)) < 1e-12
