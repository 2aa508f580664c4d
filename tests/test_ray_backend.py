"""The Ray Data backend computes the local pass's rows: same keys, same values, same store, on a 2-node local cluster.

Real images (../shared, 24 ids x {clean, 2 corruptions x 2 severities}), real estimators (tv, BRISQUE with the shared
parameter file, EfficientNet-Lite0). Also: an actor killed mid-run, a driver killed with SIGKILL, Ctrl-C, and stores
finished on the other backend all end with exactly the local rows.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from causaliqa.data.datasets import DatasetSpec, build_records
from causaliqa.scoring import load_failures, load_scores, make_bindings, score_images
from causaliqa.scoring.ray_backend import RayOptions
from causaliqa.scoring.store import load_estimator_info

ray = pytest.importorskip("ray", reason="the Ray extra is not installed (pip install 'causaliqa[ray]')")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

KEY = ["image_id", "corruption", "severity"]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(Path(__file__).parent)}


def _specs(weights: Path) -> list[str]:
    return ["tv", f"iqa:brisque@{weights / 'brisque_svm_weights.pth'}", "efficientnet_lite0:correct", "efficientnet_lite0:max_prob"]


def _records(root: Path, limit: int = 24):
    spec = DatasetSpec(kind="imagenet_val", images=str(root / "images"), labels=str(root / "labels.csv"), limit=limit,
                       corruptions=["gaussian_noise", "contrast"], severities=[1, 3])
    return build_records(spec, "test")[0]


@pytest.fixture(scope="module")
def cluster():
    """Two Ray nodes on this machine (2 logical CPUs each), joined by this test process as the driver."""
    from ray.cluster_utils import Cluster

    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 2})
    nodes.add_node(num_cpus=2)
    ray.init(address=nodes.address, logging_level="ERROR", log_to_driver=False)
    yield nodes
    ray.shutdown()
    nodes.shutdown()


@pytest.fixture(scope="module")
def reference(imagenet_val, shared_weights, tmp_path_factory):
    """The local backend's store for the same job."""
    out = tmp_path_factory.mktemp("local") / "store"
    score_images(_records(imagenet_val), make_bindings(_specs(shared_weights)), out, workers=1, progress=False)
    return out


def _threads() -> str:
    import torch

    return str(torch.get_num_threads())


def _options() -> RayOptions:
    # as many torch threads per actor as the local pass uses: a classifier's float32 probabilities summed in another
    # order move by ~1e-6 (the same thread count gives the same bits)
    return RayOptions(actors=1, cpus_per_actor=float(_threads()))


def assert_same_rows(store: Path, reference: Path) -> None:
    got, want = load_scores(store), load_scores(reference)
    assert sorted(got.columns) == sorted(want.columns)
    pd.testing.assert_frame_equal(got[KEY + ["label", "input_sha"]], want[KEY + ["label", "input_sha"]], check_dtype=False)
    values = [c for c in want.columns if "." in c]
    np.testing.assert_allclose(got[values].to_numpy(np.float64), want[values].to_numpy(np.float64), rtol=0, atol=1e-6)
    assert len(load_failures(store)) == len(load_failures(reference))


def test_ray_on_two_nodes_scores_the_local_rows(cluster, imagenet_val, shared_weights, reference, tmp_path):
    records = _records(imagenet_val)
    assert len(records) == 24 * 5
    out = tmp_path / "ray"
    summary = score_images(records, make_bindings(_specs(shared_weights)), out, progress=False, backend="ray", ray=_options())
    assert summary.scored == 120 and summary.failed == 0
    assert_same_rows(out, reference)
    assert load_estimator_info(out) == load_estimator_info(reference)
    again = score_images(records, make_bindings(_specs(shared_weights)), out, progress=False, backend="ray", ray=_options())
    assert again.scored == 0 and again.skipped == 120


def test_a_store_started_locally_is_finished_on_ray(cluster, imagenet_val, shared_weights, reference, tmp_path):
    out = tmp_path / "s"
    score_images(_records(imagenet_val, limit=10), make_bindings(_specs(shared_weights)), out, workers=0, progress=False)
    summary = score_images(_records(imagenet_val), make_bindings(_specs(shared_weights)), out, progress=False,
                           backend="ray", ray=_options())
    assert (summary.scored, summary.skipped) == (70, 50)
    assert_same_rows(out, reference)


def _scoring_actor_pids() -> list[int]:
    import psutil

    return [p.pid for p in psutil.process_iter(["cmdline"]) if any("Scorer" in part for part in (p.info["cmdline"] or []))]


def test_an_actor_killed_mid_run_is_retried_without_duplicates(cluster, imagenet_val, shared_weights, reference, tmp_path):
    out = tmp_path / "s"
    killed: list[int] = []

    def kill_an_actor_once_rows_are_written():
        deadline = time.time() + 300
        while time.time() < deadline and not killed:
            pids = _scoring_actor_pids()
            if pids and _committed(out):
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
            time.sleep(0.05)

    killer = threading.Thread(target=kill_an_actor_once_rows_are_written, daemon=True)
    killer.start()
    summary = score_images(_records(imagenet_val), make_bindings(_specs(shared_weights)), out, progress=False, part_size=8,
                           backend="ray", ray=_options())
    killer.join(5)
    assert killed, "the scoring actor was never seen"
    assert summary.scored == 120
    assert_same_rows(out, reference)


# ---- the driver as a real process -------------------------------------------------------------------
def _cli(root: Path, weights: Path, out: Path, *extra: str) -> list[str]:
    args = [sys.executable, "-m", "causaliqa.cli", "score", "--images", str(root / "images"), "--labels", str(root / "labels.csv"),
            "--limit", "24", "--corruptions", "gaussian_noise,contrast", "--severities", "1,3", "--out", str(out), *extra]
    for spec in _specs(weights):
        args += ["-e", spec]
    return args


def _start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _committed(out: Path) -> bool:
    """The run has committed rows (the scores table's first version)."""
    return (out / "scores" / "_delta_log").is_dir() and any((out / "scores" / "_delta_log").glob("*.json"))


def _wait_for_parts(out: Path, proc: subprocess.Popen, seconds: float = 300) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if _committed(out):
            return
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        time.sleep(0.05)
    raise AssertionError("no part written")


def test_driver_killed_then_resumed_locally_ends_with_the_same_rows(cluster, imagenet_val, shared_weights, reference, tmp_path):
    out = tmp_path / "s"
    ray_flags = ["--backend", "ray", "--address", cluster.address, "--actors", "1", "--part-size", "8", "--cpus-per-actor", _threads()]
    proc = _start(_cli(imagenet_val, shared_weights, out, *ray_flags))
    _wait_for_parts(out, proc)
    proc.kill()
    proc.wait(30)
    kept = len(load_scores(out))
    assert 0 < kept < 120
    done = subprocess.run(_cli(imagenet_val, shared_weights, out, "--workers", "0"), capture_output=True, text=True, env=ENV)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"{120 - kept} variants scored, {kept} already in the store" in done.stdout
    assert_same_rows(out, reference)


def test_ctrl_c_keeps_what_was_scored_and_ray_resumes(cluster, imagenet_val, shared_weights, reference, tmp_path):
    out = tmp_path / "s"
    ray_flags = ["--backend", "ray", "--address", cluster.address, "--actors", "1", "--part-size", "8", "--cpus-per-actor", _threads()]
    proc = _start(_cli(imagenet_val, shared_weights, out, *ray_flags))
    _wait_for_parts(out, proc)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 130
    stderr = proc.stderr.read()
    assert "interrupted: " in stderr and "run the same command to resume" in stderr and "Traceback" not in stderr
    kept = int(stderr.split("interrupted: ")[1].split(" variants")[0])
    assert kept == len(load_scores(out)) and 0 < kept < 120
    done = subprocess.run(_cli(imagenet_val, shared_weights, out, *ray_flags), capture_output=True, text=True, env=ENV)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"{120 - kept} variants scored, {kept} already in the store" in done.stdout
    assert_same_rows(out, reference)


def test_an_unreadable_file_is_a_failure_record_on_ray_as_locally(cluster, tmp_path):
    from bad_inputs import make_images
    from causaliqa.data.datasets import read_imagenet_val

    images, labels = make_images(tmp_path, 6)
    (images / "img_002.png").write_bytes((images / "img_002.png").read_bytes()[:60])  # truncated
    records = read_imagenet_val(images, labels, None)
    local, distributed = tmp_path / "local", tmp_path / "ray"
    score_images(records, make_bindings(["tv"]), local, workers=0, progress=False)
    summary = score_images(records, make_bindings(["tv"]), distributed, progress=False, backend="ray", ray=_options())
    assert (summary.scored, summary.failed) == (5, 1)
    assert_same_rows(distributed, local)
    got, want = load_failures(distributed), load_failures(local)
    pd.testing.assert_frame_equal(got.drop(columns="path"), want.drop(columns="path"))
    assert got["reason"].iloc[0].startswith(("OSError", "SyntaxError", "UnidentifiedImageError")), got["reason"].iloc[0]


def test_an_experiment_file_asks_for_ray(cluster, tmp_path):
    import yaml
    from typer.testing import CliRunner

    from bad_inputs import make_images
    from causaliqa.cli import app

    images, labels = make_images(tmp_path / "data", 4)
    spec = {"name": "t", "graphs": [str(Path(__file__).resolve().parents[1] / "graphs/baseline.yaml")],
            "dataset": {"images": str(images), "labels": str(labels), "corruptions": ["contrast"], "severities": [2]},
            "bindings": {"X": "images", "Y": "label", "Q": "tv", "M": "resnet18@random:correct"}, "out": "file://" + str(tmp_path / "run"),
            "scoring": {"backend": "ray", "address": cluster.address, "actors": 1}}
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    result = CliRunner().invoke(app, ["score", str(path)])
    assert result.exit_code == 0 and "8 variants scored" in result.output, result.output
    local = CliRunner().invoke(app, ["score", "--images", str(images), "--labels", str(labels), "--corruptions", "contrast",
                                     "--severities", "2", "-e", "tv", "-e", "resnet18@random:correct", "--out", str(tmp_path / "local")])
    assert local.exit_code == 0, local.output
    assert_same_rows(tmp_path / "run", tmp_path / "local")


def test_an_actor_no_node_can_hold_is_one_line_not_a_hang(cluster, tmp_path):
    from bad_inputs import make_images
    from causaliqa.data.datasets import read_imagenet_val
    from causaliqa.errors import CausaliqaError

    images, labels = make_images(tmp_path, 2)
    with pytest.raises(CausaliqaError, match=r"--cpus-per-actor: expected at most the CPUs of the largest node \(2\), got 3"):
        score_images(read_imagenet_val(images, labels), make_bindings(["tv"]), tmp_path / "s", progress=False,
                     backend="ray", ray=RayOptions(cpus_per_actor=3))
