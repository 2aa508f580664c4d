"""A careless or unlucky user, round 3: every mistake one line and exit 2 with the store's bytes unchanged, foreign
files in a store, double interrupts, a full disk, and random YAML thrown at the loaders."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from bad_inputs import make_images, store_fingerprint
from causaliqa.cli import app
from causaliqa.scoring.store import load_scores

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}


@pytest.fixture
def setup(tmp_path):
    """A scored store, an experiment writer and the odd files the cases need."""
    images, labels = make_images(tmp_path / "data", 3)
    out = tmp_path / "store"
    result = runner.invoke(app, ["score", "--images", str(images), "--labels", str(labels), "--out", str(out), "-e", "tv",
                                 "-e", "efficientnet_lite0:correct", "--workers", "0"])
    assert result.exit_code == 0, result.output
    (tmp_path / "folder").mkdir()
    (tmp_path / "listkey.yaml").write_text("name: g\nnodes:\n  ? [a, b]\n  : {}\nedges: []\n")
    (tmp_path / "nan.yaml").write_text("name: g\nnodes: {A: {}, B: {}}\nedges: ['A -> B']\nlayout: {A: [.nan, 1], B: [0, .inf]}\n")
    return {"tmp": tmp_path, "images": images, "labels": labels, "out": out}


def _experiment(paths, **changes) -> str:
    spec = {"name": "t", "graphs": [str(ROOT / "graphs/baseline.yaml")],
            "dataset": {"images": str(paths["images"]), "labels": str(paths["labels"])},
            "bindings": {"X": "images", "Q": "tv", "M": "efficientnet_lite0:correct"}, "out": str(paths["tmp"] / "run")}
    spec.update(changes)
    path = paths["tmp"] / f"exp{abs(hash(str(changes)))}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return str(path)


# (case, args builder, message the one error line contains)
CASES = [
    ("implied-huge-limit", lambda p: ["implied", "graphs/baseline.yaml", "--limit", "1" + "0" * 30], "Invalid value for '--limit'"),
    ("simulate-huge-n", lambda p: ["simulate", "graphs/baseline.yaml", "--n", "100000000000"], "Invalid value for '--n'"),
    ("simulate-negative-seed", lambda p: ["simulate", "graphs/baseline.yaml", "--seed", "-1"], "Invalid value for '--seed': Input should be greater than or equal to 0"),
    ("plan-huge-cpus", lambda p: ["plan", "experiments/demo.yaml", "--cpus-per-node", "1" + "0" * 400], "Invalid value for '--cpus-per-node'"),
    ("analyze-text-column", lambda p: ["analyze", str(p["out"]), "--m", "efficientnet_lite0.correct", "--q", "image_id"],
     "--q: expected a numeric score column (an estimator's output such as tv.score), got 'image_id'"),
    ("draw-into-a-folder", lambda p: ["draw", "graphs/baseline.yaml", "-o", str(p["tmp"] / "folder")], "expected a file to write"),
    ("simulate-out-missing-folder", lambda p: ["simulate", "graphs/baseline.yaml", "--out", str(p["tmp"] / "no" / "x.csv")],
     "--out: expected a file in an existing folder"),
    ("graph-list-as-key", lambda p: ["check", str(p["tmp"] / "listkey.yaml")], "line 3: expected a plain key (a name, not a list or mapping), got a list used as a key"),
    ("graph-nan-layout", lambda p: ["check", str(p["tmp"] / "nan.yaml")], "layout.A: expected two finite numbers [x, y], got [nan, 1.0]"),
    ("options-preprocess-list", lambda p: ["run", _experiment(p, estimator_options={"tv": {"preprocess": ["grayscale"]}})],
     "estimator_options.tv: preprocess: expected one of grayscale, downscale2, got ['grayscale']"),
    ("options-preprocess-mapping", lambda p: ["run", _experiment(p, estimator_options={"tv": {"preprocess": {"a": 1}}})],
     "preprocess: expected one of grayscale, downscale2, got {'a': 1}"),
    ("options-seed-text", lambda p: ["run", _experiment(p, estimator_options={"tv": {"seed": "abc"}})],
     "seed: expected a whole number from 0 to 2**63 - 1, got 'abc'"),
    ("options-seed-list", lambda p: ["run", _experiment(p, estimator_options={"tv": {"seed": [1]}})], "seed: expected a whole number"),
    ("store-scores-is-a-file", lambda p: _shape(p, "scores", "file"), "scores: expected a folder (the store's scores table), got a file"),
    ("store-failures-is-a-file", lambda p: _shape(p, "failures", "file"), "failures: expected a folder (the store's failures table), got a file"),
    ("store-estimators-is-a-file", lambda p: _shape(p, "estimators", "file"), "estimators: expected a folder (the store's estimators table), got a file"),
    ("analyze-store-scores-is-a-file", lambda p: _shape(p, "scores", "file")[:0] + ["analyze", str(p["out"]), "--m", "tv.score", "--q", "tv.score"],
     "scores: expected a folder (the store's scores table), got a file"),
    ("store-log-damaged", lambda p: _damage_log(p), "_delta_log: expected a readable Delta log (restore the folder from a copy), got a damaged log"),
    ("analyze-unknown-column", lambda p: _stranger(p), "stranger.score: expected a column an estimator of the store wrote"),
]


def _damage_log(paths) -> list[str]:
    last = sorted((paths["out"] / "scores" / "_delta_log").glob("*.json"))[-1]
    last.write_text("{not json")
    return ["analyze", str(paths["out"]), "--m", "efficientnet_lite0.correct", "--q", "tv.score"]


def _stranger(paths) -> list[str]:
    """Another Delta writer (not causaliqa) appends a column no estimator of the store wrote."""
    import deltalake
    import pyarrow as pa

    frame = load_scores(paths["out"]).assign(**{"stranger.score": 1.0})
    deltalake.write_deltalake(str(paths["out"] / "scores"), pa.Table.from_pandas(frame, preserve_index=False), mode="append",
                              schema_mode="merge")
    return ["analyze", str(paths["out"]), "--m", "efficientnet_lite0.correct", "--q", "stranger.score"]


def _shape(paths, name: str, kind: str) -> list[str]:
    target = paths["out"] / name
    if target.is_dir():
        shutil.rmtree(target)
    elif target.exists():
        target.unlink()
    target.mkdir() if kind == "folder" else target.write_text("x")
    return ["score", "--images", str(paths["images"]), "--labels", str(paths["labels"]), "--out", str(paths["out"]), "-e", "tv",
            "--workers", "0"]


@pytest.mark.parametrize("case, build, message", CASES, ids=[c[0] for c in CASES])
def test_every_mistake_is_one_line(setup, case, build, message):
    args = build(setup)
    before = store_fingerprint(setup["out"])
    result = subprocess.run([sys.executable, "-m", "causaliqa.cli", *args], capture_output=True, text=True, env=ENV, cwd=ROOT)
    lines = [ln for ln in (result.stdout + result.stderr).splitlines() if ln.strip()]
    assert result.returncode == 2, result.stdout + result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.stderr, lines
    assert message in lines[0], lines[0]
    assert store_fingerprint(setup["out"]) == before


def _immutable(path: Path) -> bool:
    return subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode == 0


@pytest.mark.parametrize("target", ["scores/_delta_log", "estimators/_delta_log", None])
def test_immutable_store_files_are_one_line(setup, target):
    out = setup["out"]
    path = out / target if target else setup["tmp"] / "folder"
    if not _immutable(path):
        pytest.skip("chattr +i needs root and a file system that supports it")
    try:
        before = store_fingerprint(out)
        args = (["draw", "graphs/baseline.yaml", "-o", str(path / "g.png")] if target is None else
                ["score", "--images", str(setup["images"]), "--labels", str(setup["labels"]), "--out", str(out), "-e", "tv",
                 "-e", "iqa:piqe", "--workers", "0"])
        result = subprocess.run([sys.executable, "-m", "causaliqa.cli", *args], capture_output=True, text=True, env=ENV, cwd=ROOT)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        lines = [ln for ln in result.stderr.splitlines() if ln.startswith("error: ")]
        assert len(lines) == 1 and ("expected permission" in lines[0] or "expected a writable folder" in lines[0]
                                    or "expected a store this process can write" in lines[0]), result.stderr
        assert store_fingerprint(out) == before
    finally:
        subprocess.run(["chattr", "-i", str(path)], capture_output=True)


# ---- a file the store did not write -------------------------------------------------------------
@pytest.mark.parametrize("name", ["part-00000-0a0a0a0a-0000-0000-0000-000000000000-c000.snappy.parquet", "copied.parquet"])
def test_a_foreign_parquet_file_in_a_table_folder_is_never_read(setup, name):
    """Before (a folder of Parquet parts), a foreign file named like a part replaced 12 of the store's rows without a
    word; a Delta table reads the files its log lists, so a copied-in file, even one shaped like the store's, changes
    nothing."""
    out = setup["out"]
    before = load_scores(out)
    before.assign(**{"tv.score": -1.0}).to_parquet(out / "scores" / name)
    pd.testing.assert_frame_equal(load_scores(out), before)
    args = ["score", "--images", str(setup["images"]), "--labels", str(setup["labels"]), "--out", str(out), "-e", "tv", "--workers", "0"]
    result = subprocess.run([sys.executable, "-m", "causaliqa.cli", *args], capture_output=True, text=True, env=ENV, cwd=ROOT)
    assert result.returncode == 0 and "0 variants scored, 3 already in the store" in result.stdout, result.stderr
    pd.testing.assert_frame_equal(load_scores(out), before)


# ---- interrupts and a full disk -----------------------------------------------------------------
def _as_a_terminal_would() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_second_signal_waits_for_the_flush(tmp_path, signum, code):
    """Ctrl-C twice had killed the process (exit -2) while it wrote the rows it kept; now it exits 130 (143) with the
    same message, and every kept row is in the store."""
    import time

    from test_store_trust import _Progress, _wait_for

    images, labels = make_images(tmp_path, 200, size=(256, 256))
    out = tmp_path / "s"
    cmd = [sys.executable, "-m", "causaliqa.cli", "score", "--images", str(images), "--labels", str(labels), "--out", str(out),
           "-e", "tv", "-e", "resnet18@random:max_prob", "--batch-size", "2", "--workers", "0", "--part-size", "1000"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, text=True, preexec_fn=_as_a_terminal_would)
    progress = _Progress(proc)
    assert _wait_for(lambda: progress.scored() >= 10), progress.text  # rows in the buffer (parts of 1000), none written
    proc.send_signal(signum)
    time.sleep(0.01)
    proc.send_signal(signum)  # while the kept rows are being written
    proc.wait(120)
    stderr = progress.finish()
    assert proc.returncode == code, stderr
    assert "interrupted: " in stderr and "Traceback" not in stderr
    kept = int(stderr.split("interrupted: ")[1].split(" variants")[0])
    assert kept > 0 and len(load_scores(out)) == kept


@pytest.mark.slow
def test_a_full_disk_is_one_line_and_the_rows_come_back(tmp_path):
    """On a 48 KiB tmpfs with 4 KiB free: exit 2, one line; after freeing space the same command finishes, and the
    rows equal a reference run's."""
    mount = tmp_path / "full"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(mount)], capture_output=True).returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        images, labels = make_images(tmp_path / "data", 12)
        (mount / "pad").write_bytes(b"\0" * 44 * 1024)
        cmd = [sys.executable, "-m", "causaliqa.cli", "score", "--images", str(images), "--labels", str(labels), "--out",
               str(mount / "s"), "-e", "tv", "-e", "iqa:piqe", "--workers", "0", "--part-size", "2"]
        result = subprocess.run(cmd, capture_output=True, text=True, env=ENV)
        lines = [ln for ln in result.stderr.splitlines() if ln.startswith("error: ")]
        assert result.returncode == 2 and len(lines) == 1 and "no space left on device" in lines[0].lower(), result.stderr
        assert "Traceback" not in result.stderr
        (mount / "pad").unlink()
        assert subprocess.run(cmd, capture_output=True, text=True, env=ENV).returncode == 0
        reference = tmp_path / "ref"
        cmd[cmd.index(str(mount / "s"))] = str(reference)
        subprocess.run(cmd, check=True, capture_output=True, env=ENV)
        cols = ["image_id", "tv.score", "iqa:piqe.score"]
        pd.testing.assert_frame_equal(load_scores(mount / "s")[cols], load_scores(reference)[cols])
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)


# ---- random YAML at the loaders -------------------------------------------------------------------
def _random_value(rng: random.Random, depth: int = 0):
    kinds = ["int", "float", "str", "bool", "null", "list", "map", "odd"] if depth < 3 else ["int", "float", "str", "bool", "null", "odd"]
    kind = rng.choice(kinds)
    if kind == "int":
        return rng.choice([0, -1, 1, 10 ** rng.randint(0, 40), -(10 ** 20)])
    if kind == "float":
        return rng.choice([0.5, -2.25, float("nan"), float("inf"), 1e308])
    if kind == "str":
        return rng.choice(["Q", "X -> Q", "Q _||_ M | X", "", "ü", "a" * 200, "${HOME}", "${NOPE_NOT_SET}", "../x", "tv", "efficientnet_lite0:correct"])
    if kind == "bool":
        return rng.choice([True, False])
    if kind == "null":
        return None
    if kind == "list":
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if kind == "map":
        return {rng.choice(["nodes", "edges", "name", "layout", "claims", "role", "images", "bindings", "Q", "M", "X", "dataset",
                            "graphs", "out", "analyses", "seed", "estimator_options", "interventions", "x", "1"]): _random_value(rng, depth + 1)
                for _ in range(rng.randint(0, 4))}
    return rng.choice([b"\x00bytes", ("a", "tuple"), {1, 2}])


def _random_document(rng: random.Random, keys: list[str]) -> str:
    doc = {k: _random_value(rng) for k in rng.sample(keys, rng.randint(1, len(keys)))}
    text = yaml.dump(doc, allow_unicode=True)
    if rng.random() < 0.2:  # a list or a mapping used as a key somewhere
        text += rng.choice(["? [a, b]\n: 1\n", "? {a: 1}\n: 2\n"])
    if rng.random() < 0.1:
        text = text[: rng.randint(0, len(text))]  # cut anywhere
    return text


@pytest.mark.slow
def test_two_hundred_random_documents_never_give_a_traceback(tmp_path):
    from causaliqa.errors import CausaliqaError
    from causaliqa.experiment.config import load_experiment
    from causaliqa.graph import load_graph

    rng = random.Random(24)
    graph_keys = ["name", "title", "description", "nodes", "edges", "layout", "claims"]
    experiment_keys = ["name", "graphs", "dataset", "bindings", "out", "analyses", "seed", "estimator_options", "proxies",
                       "interventions", "scoring", "report", "fallback"]
    outcomes = {"ok": 0, "error": 0}
    for i in range(200):
        for loader, keys in ((load_graph, graph_keys), (lambda p: load_experiment(p, require_data=False), experiment_keys)):
            path = tmp_path / f"doc{i}.yaml"
            path.write_text(_random_document(rng, keys), encoding="utf-8")
            try:
                loader(path)
                outcomes["ok"] += 1
            except CausaliqaError as err:
                assert "\n" not in str(err)
                outcomes["error"] += 1
    assert outcomes["error"] > 300  # nearly every random document is a mistake, each one line
    sample = tmp_path / "doc7.yaml"
    result = subprocess.run([sys.executable, "-m", "causaliqa.cli", "check", str(sample)], capture_output=True, text=True, env=ENV, cwd=ROOT)
    assert result.returncode in (0, 1, 2) and "Traceback" not in result.stderr
