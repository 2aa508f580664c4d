"""The IQA estimators against the values of record on pyiqa's five calibration images (TID2013 I03, I04, I06, I08,
I19): the original implementations' values, and pyiqa's own. Each tolerance is stated with the reason."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from causaliqa.estimators.registry import get_estimator

IMAGES = ["I03", "I04", "I06", "I08", "I19"]


def _published(root) -> pd.DataFrame:
    table = pd.read_csv(root / "values.csv").set_index("Method")
    table.columns = [c.removesuffix(".bmp") for c in table.columns]
    return table


def _scores(root, spec: str) -> np.ndarray:
    images = torch.stack([torch.from_numpy(np.array(Image.open(root / f"{n}.png").convert("RGB"))).permute(2, 0, 1) for n in IMAGES])
    return get_estimator(spec).score(images, np.zeros(len(IMAGES), dtype=np.int64))["score"]


@pytest.mark.slow
def test_brisque_is_as_close_to_the_original_as_pyiqa_and_invariant(iqa_calibration, shared_weights):
    """Errors against the original implementation: 0.00, 0.00, 0.00, 0.55, 2.63 (pyiqa float32: 0.00, 0.00, 0.08, 0.21,
    5.42; pyiqa float64 as this project ran it before: I19 off by 8.33). Tolerances: each image within 0.6 of the
    original, except I19 within 3.0; the mean error no larger than pyiqa's own."""
    table = _published(iqa_calibration)
    ours = _scores(iqa_calibration, f"iqa:brisque@{shared_weights / 'brisque_svm_weights.pth'}")
    official, pyiqa_own = table.loc["brisque", IMAGES].to_numpy(float), table.loc["brisque(ours)", IMAGES].to_numpy(float)
    error = np.abs(ours - official)
    assert np.all(error[:4] <= 0.6) and error[4] <= 3.0, error
    assert error.mean() <= np.abs(pyiqa_own - official).mean()


@pytest.mark.slow
@pytest.mark.parametrize("metric, weights, tolerance", [
    ("niqe", "niqe_modelparameters.mat", 0.002),  # pyiqa's own values with the basicsr parameters (shared/README.md)
    ("piqe", None, 0.001),
    ("entropy", None, 0.001),
])
def test_other_iqa_metrics_reproduce_pyiqas_calibration(iqa_calibration, shared_weights, metric, weights, tolerance):
    """NIQE, PIQE and entropy run as pyiqa does: its published values '(ours)' to the stated tolerance (pyiqa's NIQE
    itself differs from the original on I03 and I19 by 0.1 and 0.44, which this project does not change)."""
    table = _published(iqa_calibration)
    spec = f"iqa:{metric}" + (f"@{shared_weights / weights}" if weights else "")
    ours = _scores(iqa_calibration, spec)
    np.testing.assert_allclose(ours, table.loc[f"{metric}(ours)", IMAGES].to_numpy(float), rtol=0, atol=tolerance)
