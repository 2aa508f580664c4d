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


@pytest.fixture(scope="session")
def s3_server():
    """A local S3 server (moto's server mode on 127.0.0.1, a thread of the test process), reached through the
    standard AWS variables, which child processes inherit. Nothing leaves the machine."""
    import socket
    import subprocess
    import sys
    import time

    pytest.importorskip("moto.server", reason="moto[server] (the test extra) is not installed")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # its own process: delta-rs holds the GIL during some calls, which would stall a server thread in this one
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    names = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
             "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ALLOW_HTTP": "true"}
    saved = {k: os.environ.get(k) for k in names}
    os.environ.update(names)
    yield names["AWS_ENDPOINT_URL"]
    server.terminate()
    server.wait()
    for k, v in saved.items():
        os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


@pytest.fixture
def s3_bucket(s3_server, request):
    """A fresh bucket on the local S3 server; its name."""
    import re

    import boto3

    name = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:50].strip("-") + f"-{os.getpid()}"
    boto3.client("s3").create_bucket(Bucket=name)
    os.environ["AWS_ENDPOINT_URL"] = s3_server  # a test that pointed it elsewhere (monkeypatch) has undone that
    return name
