import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

ROOT = Path(__file__).resolve().parents[1]
GRAPHS = sorted((ROOT / "graphs").glob("*.yaml"))
SHARED = Path(os.environ.get("CAUSALIQA_SHARED", ROOT.parent / "shared"))


@pytest.fixture(scope="session")
def imagenet_val() -> Path:
    """The shared 1300 ImageNet-val images; skip cleanly on a machine without ../shared."""
    root = SHARED / "data" / "imagenet-val-1300"
    if not (root / "labels.csv").exists():
        pytest.skip(f"real ImageNet images not found at {root}")
    return root


@pytest.fixture(scope="session")
def shared_weights() -> Path:
    root = SHARED / "weights"
    if not (root / "brisque_svm_weights.pth").exists():
        pytest.skip(f"shared BRISQUE/NIQE parameter files not found at {root}")
    return root


@pytest.fixture(autouse=True)
def _run_from_repo_root(monkeypatch):
    """Tests name files as a user would from the project root (graphs/baseline.yaml)."""
    monkeypatch.chdir(ROOT)


@pytest.fixture(scope="session")
def iqa_calibration() -> Path:
    """pyiqa's five calibration images (TID2013) and the published values; skip cleanly without ../shared."""
    root = SHARED / "data" / "iqa-calibration"
    if not (root / "values.csv").exists():
        pytest.skip(f"IQA calibration images not found at {root}")
    return root
