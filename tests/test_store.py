"""The Delta store: resume after kill -9, failures table, adding an estimator, reading with DuckDB and Polars."""

import os
import shutil
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from typer.testing import CliRunner

from causaliqa.cli import app
from causaliqa.scoring.store import load_failures, load_scores

runner = CliRunner()
KEY = ["image_id", "corruption", "severity"]


@pytest.fixture(scope="module")
def image_set(tmp_path_factory):
    """24 synthetic photographs-to-be (textured 256 x 200 JPEGs) in the ImageNet-val layout: images/ + labels.csv.
    The store's behaviour does not depend on what the pictures show, so these tests need no ../shared."""
    from bad_inputs import make_images

    folder = tmp_path_factory.mktemp("val")
    make_images(folder, 24, size=(256, 200), suffix=".JPEG")
    return folder


def score_args(image_set, out, *estimators, limit=24, extra=()):
    args = ["score", "--images", str(image_set / "images"), "--labels", str(image_set / "labels.csv"),
            "--limit", str(limit), "--corruptions", "gaussian_noise,contrast", "--severities", "2",
            "--out", str(out), "--batch-size", "4", "--part-size", "4", "--workers", "0"]
    for e in estimators:
        args += ["-e", e]
    return args + list(extra)


@pytest.mark.slow
def test_kill_and_resume_gives_exactly_the_rows_of_an_uninterrupted_run(image_set, tmp_path):
    estimators = ("tv", "iqa:piqe")
    reference = tmp_path / "reference"
    result = runner.invoke(app, score_args(image_set, reference, *estimators))
    assert result.exit_code == 0, result.output
    expected = load_scores(reference)
    assert len(expected) == 72

    killed = tmp_path / "killed"
    cmd = [sys.executable, "-m", "causaliqa.cli", *score_args(image_set, killed, *estimators)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 120
    log = killed / "scores" / "_delta_log"
    while time.time() < deadline and len(list(log.glob("*.json"))) < 2:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    commits = len(list(log.glob("*.json")))
    assert commits >= 2, "the run was killed after committing parts"
    kept = load_scores(killed)  # every committed part reads whole
    assert 0 < len(kept) < 72 and not kept.duplicated(KEY).any(), "killed before finishing"

    result = runner.invoke(app, score_args(image_set, killed, *estimators))
    assert result.exit_code == 0, result.output
    assert "already in the store" in result.output
    skipped = int(result.stdout.split(" variants scored, ")[1].split(" already")[0])
    assert skipped >= 8
    got = load_scores(killed)
    assert not got.duplicated(KEY).any()
    pd.testing.assert_frame_equal(got, expected)
    committed = got.merge(kept[KEY + ["tv.score"]], on=KEY, suffixes=("", "_kept"))
    assert len(committed) == len(kept) and (committed["tv.score"] == committed["tv.score_kept"]).all()


def test_failures_are_recorded_and_run_goes_on(image_set, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    files = sorted((image_set / "images").iterdir())[:3]
    for f in files:
        shutil.copy(f, images / f.name)
    data = files[0].read_bytes()
    (images / "ILSVRC2012_val_trunc.JPEG").write_bytes(data[: len(data) // 3])
    (images / "ILSVRC2012_val_text.JPEG").write_text("not an image")
    labels = tmp_path / "labels.csv"
    labels.write_text("file,label\n" + "".join(f"{p.name},1\n" for p in images.iterdir()))
    out = tmp_path / "store"
    result = runner.invoke(app, ["score", "--images", str(images), "--labels", str(labels), "-e", "tv", "--out", str(out), "--workers", "0"])
    assert result.exit_code == 0, result.output
    assert "2 failed" in result.output
    failures = load_failures(out)
    assert set(failures.image_id) == {"ILSVRC2012_val_trunc", "ILSVRC2012_val_text"}
    assert failures.reason.str.contains("OSError|UnidentifiedImageError|truncated").all()
    assert len(load_scores(out)) == 3


def test_adding_an_estimator_scores_only_the_new_columns(image_set, tmp_path):
    out = tmp_path / "store"
    assert runner.invoke(app, score_args(image_set, out, "tv", limit=6)).exit_code == 0
    first = load_scores(out)
    result = runner.invoke(app, score_args(image_set, out, "tv", "iqa:piqe", limit=6))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("18 variants scored, 0 already")
    second = load_scores(out)
    assert len(second) == len(first) == 18
    assert second["iqa:piqe.score"].notna().all()
    pd.testing.assert_series_equal(second.sort_values(KEY)["tv.score"].reset_index(drop=True), first.sort_values(KEY)["tv.score"].reset_index(drop=True))
    result = runner.invoke(app, score_args(image_set, out, "tv", "iqa:piqe", limit=8))
    assert result.stdout.startswith("6 variants scored, 18 already")


@pytest.mark.parametrize("reader", [
    "import deltalake, duckdb; t = duckdb.read_parquet(deltalake.DeltaTable({path!r}).file_uris(), union_by_name=True).df()\n"
    "print(len(t), sorted(t.columns))",
    "import polars as pl; t = pl.read_delta({path!r}); print(t.height, sorted(t.columns))",
])
def test_store_reads_without_causaliqa(image_set, tmp_path, reader):
    """A finished run leaves one row per variant: any Delta reader gives the store's rows (here without causaliqa)."""
    out = tmp_path / "store"
    assert runner.invoke(app, score_args(image_set, out, "tv", limit=2)).exit_code == 0
    assert runner.invoke(app, score_args(image_set, out, "tv", "iqa:piqe", limit=2)).exit_code == 0  # a column added to stored rows
    code = reader.format(path=str(out / "scores"))
    done = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True,
                          env={"PYTHONPATH": os.pathsep.join(p for p in sys.path if "site-packages" in p)})
    assert done.returncode == 0, done.stderr
    rows, columns = done.stdout.split(" ", 1)
    assert rows == "6" and "tv.score" in columns and "iqa:piqe.score" in columns and "written_at" in columns
    assert "causaliqa" not in done.stdout


def test_score_flag_errors(tmp_path):
    result = runner.invoke(app, ["score", "--images", str(tmp_path), "-e", "nope", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "expected a known estimator" in result.output
    result = runner.invoke(app, ["score", "--images", str(tmp_path), "--labels", str(tmp_path / "x.csv"), "-e", "tv"])
    assert result.exit_code == 2 and "x.csv: expected an existing labels file, got no such file" in result.output
    result = runner.invoke(app, ["score", "--images", str(tmp_path), "-e", "tv", "--severities", "0-9"])
    assert result.exit_code == 2 and "expected severities from 1 to 5" in result.output
