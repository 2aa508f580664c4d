"""The store under an object-storage prefix (s3://bucket/prefix), end to end against a local S3 server (moto on
127.0.0.1): score, resume after kill -9, two writers, analyze (also --as-of), compact, history; experiments."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from bad_inputs import make_images
from causaliqa.cli import app
from causaliqa.scoring.store import load_estimator_info, load_failures, load_scores

runner = CliRunner()
KEY = ["image_id", "corruption", "severity"]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}


def _score(images, labels, out, *extra):
    return ["score", "--images", str(images), "--labels", str(labels), "--out", str(out), "-e", "tv", "--workers", "0", *extra]


def _commits(bucket: str, prefix: str) -> int:
    import boto3

    listed = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/scores/_delta_log/")
    return sum(o["Key"].endswith(".json") for o in listed.get("Contents", []))


def test_score_analyze_compact_and_history_on_s3(s3_bucket, tmp_path):
    images, labels = make_images(tmp_path, 4)
    uri = f"s3://{s3_bucket}/runs/first"
    result = runner.invoke(app, _score(images, labels, uri, "-e", "resnet18@random:correct", "--part-size", "2", "--batch-size", "2"))
    assert result.exit_code == 0, result.output
    assert "4 variants scored" in result.output and f"4 rows in {uri}" in result.output
    local = tmp_path / "local"
    assert runner.invoke(app, _score(images, labels, local, "-e", "resnet18@random:correct")).exit_code == 0
    pd.testing.assert_frame_equal(load_scores(uri), load_scores(local))  # the same rows wherever the store lives
    assert load_estimator_info(uri)["tv.score"]["identity"] == load_estimator_info(local)["tv.score"]["identity"]
    assert load_failures(uri).empty

    again = runner.invoke(app, _score(images, labels, uri, "-e", "iqa:entropy"))  # a column for the stored rows
    assert again.exit_code == 0 and "4 variants scored, 0 already" in again.output
    analysed = runner.invoke(app, ["analyze", uri, "--m", "resnet18@random.correct", "--q", "iqa:entropy.score", "--no-progress",
                                   "--no-mixtures", "--splits", "2", "--n-boot", "20"])
    assert analysed.exit_code == 0, analysed.output
    history = runner.invoke(app, ["history", uri])
    assert history.exit_code == 0 and "added iqa:entropy.score" in history.output, history.output
    first_version = min(int(line.split()[0]) for line in history.output.splitlines())
    old = runner.invoke(app, ["analyze", uri, "--as-of", str(first_version + 1), "--m", "resnet18@random.correct", "--q", "iqa:entropy.score"])
    assert old.exit_code == 2 and "expected a scored column" in old.output, history.output  # no such column yet then
    assert [len(load_scores(uri, version=v)) for v in (first_version, first_version + 1)] == [2, 4]  # parts of 2 rows
    compacted = runner.invoke(app, ["compact", uri])
    assert compacted.exit_code == 0 and f"4 rows in {uri}/scores" in compacted.output


def test_s3_mistakes_are_one_line(s3_bucket, tmp_path, monkeypatch):
    images, labels = make_images(tmp_path, 1)
    result = runner.invoke(app, _score(images, labels, "s3://no-such-bucket-here/x"))
    assert result.exit_code == 2 and "expected an object store reachable with the credentials in the environment" in result.output
    result = runner.invoke(app, ["analyze", f"s3://{s3_bucket}/nothing", "--m", "a.correct", "--q", "b.score"])
    assert result.exit_code == 2 and "expected a score store (a scores table), got a folder without scores" in result.output
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    # moto accepts any key: a wrong endpoint stands for credentials or a network that do not work
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    result = runner.invoke(app, ["history", f"s3://{s3_bucket}/x"])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_an_experiment_with_an_s3_store_needs_a_local_report(s3_bucket, tmp_path):
    images, labels = make_images(tmp_path, 1)
    spec = {"name": "t", "graphs": ["graphs/baseline.yaml"], "dataset": {"kind": "imagenet_val", "images": str(images), "labels": str(labels)},
            "bindings": {"Q": "tv", "M": "resnet18@random:correct"}, "out": f"s3://{s3_bucket}/exp"}
    path = tmp_path / "e.yaml"
    path.write_text(yaml.safe_dump(spec))
    result = runner.invoke(app, ["run", str(path)])
    assert result.exit_code == 2 and "report: expected a local folder for the report when out: is in object storage" in result.output


def test_an_experiment_runs_on_an_s3_store_with_a_local_report(s3_bucket, tmp_path):
    images, labels = make_images(tmp_path, 8)
    spec = {"name": "t", "graphs": [os.path.abspath("graphs/baseline.yaml")],
            "dataset": {"images": str(images), "labels": str(labels), "corruptions": ["gaussian_noise"], "severities": [3]},
            "bindings": {"X": "images", "Y": "label", "Q": "tv", "M": "resnet18@random:correct"},
            "analyses": {"n_boot": 20, "folds": 2}, "out": f"s3://{s3_bucket}/exp", "report": str(tmp_path / "report")}
    path = tmp_path / "e.yaml"
    path.write_text(yaml.safe_dump(spec))
    result = runner.invoke(app, ["run", str(path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "report" / "report.html").is_file() and len(load_scores(f"s3://{s3_bucket}/exp")) == 16
    again = runner.invoke(app, ["analyze", str(path)])
    assert again.exit_code == 0, again.output


@pytest.mark.slow
def test_kill_9_on_s3_keeps_every_commit_and_resume_completes(s3_bucket, tmp_path):
    images, labels = make_images(tmp_path, 40, size=(256, 256))
    uri = f"s3://{s3_bucket}/killed"
    reference = tmp_path / "reference"
    assert runner.invoke(app, _score(images, labels, reference, "-e", "resnet18@random:max_prob")).exit_code == 0
    proc = subprocess.Popen([sys.executable, "-m", "causaliqa.cli", *_score(images, labels, uri, "-e", "resnet18@random:max_prob",
                                                                            "--part-size", "2", "--batch-size", "2")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**ENV, **{k: os.environ[k] for k in os.environ if k.startswith("AWS_")}})
    deadline = time.time() + 120
    while time.time() < deadline and _commits(s3_bucket, "killed") < 3:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    kept = load_scores(uri)
    assert 0 < len(kept) < 40 and not kept.duplicated(KEY).any(), "killed mid-run, with commits behind it"
    resumed = runner.invoke(app, _score(images, labels, uri, "-e", "resnet18@random:max_prob"))
    assert resumed.exit_code == 0 and f"{len(kept)} already in the store" in resumed.output, resumed.output
    pd.testing.assert_frame_equal(load_scores(uri), load_scores(reference))


@pytest.mark.slow
def test_two_writers_on_s3_both_land(s3_bucket, tmp_path):
    images, labels = make_images(tmp_path, 30, size=(128, 128))
    uri = f"s3://{s3_bucket}/shared"
    env = {**ENV, **{k: os.environ[k] for k in os.environ if k.startswith("AWS_")}}
    procs = [subprocess.Popen([sys.executable, "-m", "causaliqa.cli", *_score(images, labels, uri, *extra, "--part-size", "2")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for extra in ((), ("-e", "iqa:entropy"))]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    frame = load_scores(uri)
    assert len(frame) == 30 and frame[["tv.score", "iqa:entropy.score"]].notna().all().all()
