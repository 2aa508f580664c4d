"""Stored values always match their inputs and estimators; two writers both land; interrupts keep the work;
inputs are never dropped or misread silently; every mistake is one line before any work starts."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from bad_inputs import make_images, store_fingerprint
from causaliqa.cli import app
from causaliqa.estimators.base import Estimator
from causaliqa.estimators.registry import register_estimator
from causaliqa.scoring.store import load_failures, load_scores, write_scores

runner = CliRunner()
KEY = ["image_id", "corruption", "severity"]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(Path(__file__).parent)}


def score(images, labels, out, *estimators, extra=()):
    args = ["score", "--images", str(images), "--labels", str(labels), "--out", str(out), "--workers", "0", "--batch-size", "2"]
    for e in estimators:
        args += ["-e", e]
    return runner.invoke(app, args + list(extra))


@register_estimator("test_fails_on_flat")
class FailsOnFlat(Estimator):
    """A test estimator that raises on a constant image, as NIQE does (linalg error) on flat inputs."""

    higher_is_better = {"score": True}

    def __init__(self, weights=None) -> None:
        super().__init__("test_fails_on_flat")

    def score(self, images, labels):
        flat = (images.reshape(len(images), -1).float().std(dim=1) == 0)
        if flat.any():
            raise np.linalg.LinAlgError("Singular matrix")
        return {"score": images.float().mean(dim=(1, 2, 3)).double().numpy()}


# ---- 1. provenance ------------------------------------------------------------------------------
def test_changed_labels_stop_the_run_then_rescore_fixes_label_and_correctness(tmp_path):
    images, labels = make_images(tmp_path, 4)
    out = tmp_path / "s"
    assert score(images, labels, out, "tv", "resnet18@random:correct").exit_code == 0
    before = store_fingerprint(out)
    labels.write_text("file,label\nimg_000.png,7\nimg_001.png,1\nimg_002.png,2\nimg_003.png,3\n")
    result = score(images, labels, out, "tv", "resnet18@random:correct")
    assert result.exit_code == 2
    assert "1 stored rows no longer match their inputs (1 label changed; first img_000 clean 0)" in result.output
    assert "--rescore" in result.output and store_fingerprint(out) == before
    result = score(images, labels, out, "tv", "resnet18@random:correct", extra=["--rescore"])
    assert result.exit_code == 0 and "1 re-scored" in result.output and "1 variants scored" in result.output
    frame = load_scores(out).set_index("image_id")
    assert frame.loc["img_000", "label"] == 7
    fresh = tmp_path / "fresh"  # the correctness is recomputed against the new label: equal to a fresh run
    assert score(images, labels, fresh, "tv", "resnet18@random:correct").exit_code == 0
    pd.testing.assert_frame_equal(load_scores(out), load_scores(fresh), check_dtype=False)


def test_changed_image_file_is_detected(tmp_path):
    images, labels = make_images(tmp_path, 3)
    out = tmp_path / "s"
    assert score(images, labels, out, "tv").exit_code == 0
    Image.fromarray(np.zeros((48, 64, 3), dtype=np.uint8) + 9).save(images / "img_001.png")
    result = score(images, labels, out, "tv")
    assert result.exit_code == 2 and "1 input file changed; first img_001 clean 0" in result.output
    assert score(images, labels, out, "tv", extra=["--rescore"]).exit_code == 0
    assert load_scores(out).set_index("image_id").loc["img_001", "tv.score"] == 0.0


def test_other_weights_under_the_same_column_name_stop_the_run(tmp_path):
    import torchvision

    images, labels = make_images(tmp_path, 2)
    for folder, seed in (("a", 0), ("b", 1)):
        (tmp_path / folder).mkdir()
        torch.manual_seed(seed)
        torch.save(torchvision.models.resnet18(weights=None).state_dict(), tmp_path / folder / "model.pth")
    out = tmp_path / "s"
    assert score(images, labels, out, f"resnet18@{tmp_path / 'a' / 'model.pth'}:max_prob").exit_code == 0
    result = score(images, labels, out, f"resnet18@{tmp_path / 'b' / 'model.pth'}:max_prob")
    assert result.exit_code == 2 and "column resnet18@model.max_prob: weights changed (sha256" in result.output
    both = score(images, labels, tmp_path / "t", f"resnet18@{tmp_path / 'a' / 'model.pth'}:max_prob",
                 f"resnet18@{tmp_path / 'b' / 'model.pth'}:max_prob")
    assert both.exit_code == 2 and "got two that both write resnet18@model.max_prob: resnet18@" in both.output


def test_random_models_resume_with_the_same_network(tmp_path):
    images, labels = make_images(tmp_path, 4)
    out, ref = tmp_path / "s", tmp_path / "ref"
    assert score(images, labels, ref, "resnet18@random:max_logit").exit_code == 0
    labels.write_text("file,label\nimg_000.png,0\nimg_001.png,1\n")
    assert score(images, labels, out, "resnet18@random:max_logit").exit_code == 0
    labels.write_text("file,label\n" + "".join(f"img_{i:03d}.png,{i}\n" for i in range(4)))
    assert score(images, labels, out, "resnet18@random:max_logit").exit_code == 0
    np.testing.assert_array_equal(load_scores(out)["resnet18@random.max_logit"], load_scores(ref)["resnet18@random.max_logit"])


def test_old_stores_without_fingerprints_migrate_then_rescore(tmp_path):
    images, labels = make_images(tmp_path, 2)
    out = tmp_path / "old"
    out.mkdir()
    pd.DataFrame({"image_id": ["img_000"], "corruption": ["clean"], "severity": np.array([0], dtype=np.int16),
                  "label": [0], "tv.score": [0.5]}).to_parquet(out / "scores.parquet")
    (out / "estimators.json").write_text('{"tv.score": {"estimator": "tv"}}')
    before = store_fingerprint(out)
    for args in (["analyze", str(out), "--m", "tv.score", "--q", "tv.score"], ["score", "--images", str(images), "--labels", str(labels),
                                                                              "--out", str(out), "-e", "tv", "--workers", "0"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and f"got a store of causaliqa's older Parquet layout: run `causaliqa migrate {out}` once" in result.output
    assert store_fingerprint(out) == before
    assert runner.invoke(app, ["migrate", str(out)]).exit_code == 0
    assert len(load_scores(out)) == 1
    result = score(images, labels, out, "tv")  # no fingerprints: every input counts as changed
    assert result.exit_code == 2 and "1 stored rows no longer match their inputs (1 input file changed" in result.output
    assert score(images, labels, out, "tv", extra=["--rescore"]).exit_code == 0
    assert len(load_scores(out)) == 2 and load_scores(out)["input_sha"].str.len().eq(32).all()


# ---- 4. inputs ----------------------------------------------------------------------------------
def test_16_bit_png_is_scaled_not_white(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    ramp = (np.linspace(0, 65535, 64)[None, :].repeat(48, axis=0)).astype(np.uint16)
    Image.fromarray(ramp).save(images / "deep.png")
    Image.fromarray((ramp / 257).round().astype(np.uint8)).save(images / "eight.png")
    labels = tmp_path / "labels.csv"
    labels.write_text("file,label\ndeep.png,1\neight.png,1\n")
    assert Image.open(images / "deep.png").mode.startswith("I")
    out = tmp_path / "s"
    assert score(images, labels, out, "tv").exit_code == 0
    frame = load_scores(out).set_index("image_id")
    assert frame.loc["deep", "tv.score"] > 0.001  # a white image would score 0
    assert frame.loc["deep", "tv.score"] == pytest.approx(frame.loc["eight", "tv.score"], abs=1e-3)


def test_one_failing_image_is_recorded_and_not_rescored_forever(tmp_path):
    images, labels = make_images(tmp_path, 3)
    Image.fromarray(np.full((48, 64, 3), 128, dtype=np.uint8)).save(images / "img_001.png")
    out = tmp_path / "s"
    result = score(images, labels, out, "tv", "test_fails_on_flat")
    assert result.exit_code == 0 and "1 failed" in result.output
    failures = load_failures(out)
    assert failures[["image_id", "estimator"]].values.tolist() == [["img_001", "test_fails_on_flat"]]
    assert "LinAlgError: Singular matrix" in failures["reason"].iloc[0]
    frame = load_scores(out).set_index("image_id")
    assert np.isnan(frame.loc["img_001", "test_fails_on_flat.score"]) and frame["tv.score"].notna().all()
    again = score(images, labels, out, "tv", "test_fails_on_flat")
    assert again.exit_code == 0 and "0 variants scored, 3 already in the store" in again.output


def test_unlabelled_images_are_counted_and_strict_mode_refuses(tmp_path):
    images, labels = make_images(tmp_path, 4)
    labels.write_text("\ufefffile,label\nimg_000.png,0\nimg_001.png,1\n")  # with an Excel BOM
    result = score(images, labels, tmp_path / "s", "tv")
    assert result.exit_code == 0
    assert "warning: 2 of 4 images have no label in" in result.output and "(first: img_002.png); they are not scored" in result.output
    strict = score(images, labels, tmp_path / "t", "tv", extra=["--strict-labels"])
    assert strict.exit_code == 2 and "expected a label for every image" in strict.output


def test_wnid_folders_accept_the_wnid_label_csv_their_hint_suggests(tmp_path):
    root = tmp_path / "val"
    for wnid in ("n01", "n02"):
        make_images(root / wnid, 2, seed=len(wnid))
        for p in (root / wnid / "images").iterdir():
            p.rename(root / wnid / f"{wnid}_{p.name}")
        (root / wnid / "images").rmdir()
        (root / wnid / "labels.csv").unlink()
    csv = tmp_path / "wnids.csv"
    csv.write_text("wnid,label\nn01,5\nn02,9\n")
    result = score(root, csv, tmp_path / "s", "tv")
    assert result.exit_code == 0, result.output
    assert sorted(load_scores(tmp_path / "s")["label"].tolist()) == [5, 5, 9, 9]


# ---- 5. the bad-input corpus --------------------------------------------------------------------
def _corpus_setup(tmp_path: Path) -> dict:
    images, labels = make_images(tmp_path / "data", 3)
    out = tmp_path / "store"
    assert score(images, labels, out, "tv").exit_code == 0
    clash = tmp_path / "clash"
    make_images(clash, 1)
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(clash / "images" / "img_000.JPEG")
    (tmp_path / "empty").mkdir()
    (tmp_path / "afile").write_text("x")
    (tmp_path / "notastatedict.pth").write_text("a,b\n1,2\n")
    conflict = tmp_path / "conflict.csv"
    conflict.write_text("file,label\nimg_000.png,1\nimg_001.png,2\nimg_000.png,3\n")
    damaged = tmp_path / "damaged"
    shutil.copytree(out, damaged)
    for data in (damaged / "scores").glob("*.parquet"):  # every data file the log lists, cut short
        data.write_bytes(data.read_bytes()[:100])
    empty_store = tmp_path / "empty_store"
    write_scores(empty_store, pd.DataFrame({"image_id": pd.Series([], dtype=str), "corruption": pd.Series([], dtype=str),
                                            "severity": pd.Series([], dtype=int), "m.correct": pd.Series([], dtype=float),
                                            "q.score": pd.Series([], dtype=float)}))
    return {"images": images, "labels": labels, "out": out, "tmp": tmp_path, "clash": clash / "images", "empty_store": empty_store,
            "clash_labels": clash / "labels.csv", "conflict": conflict, "damaged": damaged}


def _score(images="{images}", labels="{labels}", out="{out}", *rest):
    return ["score", "--images", images, "--labels", labels, "--out", out, "--workers", "0", *rest]


# (case id, CLI argument template, message the single stderr line must contain)
CORPUS = [
    ("limit-0", _score("{images}", "{labels}", "{out}", "-e", "tv", "--limit", "0"), "causaliqa score: --limit: expected input should be greater than or equal to 1, got 0"),
    ("limit-negative", _score("{images}", "{labels}", "{out}", "-e", "tv", "--limit", "-1"), "--limit: expected input should be greater than or equal to 1, got -1"),
    ("out-is-a-file", _score("{images}", "{labels}", "{tmp}/afile", "-e", "tv"), "--out: expected a folder for the score store, got"),
    ("out-inside-a-file", _score("{images}", "{labels}", "{tmp}/afile/sub", "-e", "tv"), "is inside the file"),
    ("device-gpu0", _score("{images}", "{labels}", "{out}", "-e", "tv", "--device", "gpu0"), "--device: expected auto, cpu, cuda or cuda:N, got 'gpu0'"),
    ("device-cuda-without-gpu", _score("{images}", "{labels}", "{out}", "-e", "tv", "--device", "cuda:7"), "--device: expected a device this machine has"),
    ("csv-as-state-dict", _score("{images}", "{labels}", "{out}", "-e", "resnet18@{tmp}/notastatedict.pth"), "expected weights '{tmp}/notastatedict.pth' that resnet18 can load"),
    ("unknown-torchvision-tag", _score("{images}", "{labels}", "{out}", "-e", "resnet18@IMAGENET1K_V9"), "a weights file or a torchvision weights tag of resnet18 (IMAGENET1K_V1, DEFAULT, random)"),
    ("ckpt-missing", _score("{images}", "{labels}", "{out}", "-e", "resnet18@/x/m.ckpt"), "expected an existing weights file for resnet18, got '/x/m.ckpt'"),
    ("output-typo", _score("{images}", "{labels}", "{out}", "-e", "efficientnet_lite0:probability"), "expected an output of efficientnet_lite0 (correct, max_prob, entropy, max_logit, pred)"),
    ("unknown-estimator", _score("{images}", "{labels}", "{out}", "-e", "resnet43"), "did you mean 'resnet34'"),
    ("labels-is-a-directory", _score("{images}", "{tmp}", "{out}", "-e", "tv"), "expected a labels file (CSV file,label[,wnid] or text 'file label'), got a directory"),
    ("empty-image-folder", _score("{tmp}/empty", "{labels}", "{out}", "-e", "tv"), "{tmp}/empty: expected image files"),
    ("id-clash", _score("{clash}", "{clash_labels}", "{out}", "-e", "tv"), "expected one image file per id (the id is the file name without suffix), got img_000.JPEG and img_000.png"),
    ("conflicting-labels", _score("{images}", "{conflict}", "{out}", "-e", "tv"), "conflict.csv: line 4: expected one label per file, got 'img_000' labelled 1 at line 2 and 3 here"),
    ("analyze-missing-store", ["analyze", "{tmp}/nostore", "--m", "a.correct", "--q", "tv.score"], "nostore: expected a score store folder"),
    ("analyze-damaged-store", ["analyze", "{damaged}", "--m", "tv.score", "--q", "tv.score"], "expected the data files the scores table lists (delete or move a damaged one out, then `causaliqa compact {damaged}` forgets it"),
    ("score-into-damaged-store", _score("{images}", "{labels}", "{damaged}", "-e", "tv"), "got a damaged data file (ArrowInvalid)"),
    ("history-missing-store", ["history", "{tmp}/nostore"], "nostore: expected a score store folder"),
    ("as-of-missing-version", ["analyze", "{out}", "--m", "tv.score", "--q", "tv.score", "--as-of", "99"], "--as-of: expected a version the table has"),
    ("as-of-with-experiment", ["analyze", "experiments/demo.yaml", "--as-of", "0"], "--as-of: expected a store as the first argument"),
    ("migrate-current-store", ["migrate", "{out}"], "expected a store of the older layout to migrate, got a store already in the current format"),
    ("migrate-empty-folder", ["migrate", "{tmp}/empty"], "expected a store of the older layout (scores.parquet or parts/), got a folder without scores"),
    ("compact-missing-store", ["compact", "{tmp}/nostore"], "expected a score store folder"),
    ("empty-variant-name", _score("{images}", "{labels}", "{out}", "-e", "tv#"), "expected a variant name of letters, digits, '_' or '-' after '#', got 'tv#'"),
    ("analyze-empty-store", ["analyze", "{empty_store}", "--m", "m.correct", "--q", "q.score"], "expected scored rows to analyse, got a store without rows"),
    ("analyze-json-out-is-a-folder", ["analyze", "{out}", "--m", "tv.score", "--q", "tv.score", "--json-out", "{tmp}"], "--json-out: expected a file path to write, got"),
    ("analyze-json-out-no-folder", ["analyze", "{out}", "--m", "tv.score", "--q", "tv.score", "--json-out", "{tmp}/no/r.json"], "--json-out: expected a file in an existing folder"),
    ("simulate-design-bad-images", ["simulate", "graphs/design_full_image.yaml", "--design", "--images", "5,x", "--test", "graphs/design_full_image.yaml"], "--images: expected comma-separated whole numbers"),
    ("simulate-design-not-a-design-graph", ["simulate", "graphs/baseline.yaml", "--design", "--test", "graphs/baseline.yaml"], "expected the design variables C, S and X0"),
    ("simulate-design-nothing-to-test", ["simulate", "graphs/design_full_image.yaml", "--design"], "--test: expected at least one graph to test"),
    ("backend-typo", _score("{images}", "{labels}", "{out}", "-e", "tv", "--backend", "dask"), "--backend: expected local or ray, got 'dask'"),
    ("address-without-ray", _score("{images}", "{labels}", "{out}", "-e", "tv", "--address", "auto"), "--backend: expected --address only with --backend ray"),
    ("address-nobody-answers", _score("{images}", "{labels}", "{out}", "-e", "tv", "--backend", "ray", "--address", "127.0.0.1:9"),
     "--address: expected a running Ray cluster (ray start --head on the head node), got '127.0.0.1:9': nothing answers at 127.0.0.1:9"),
    ("address-garbage", _score("{images}", "{labels}", "{out}", "-e", "tv", "--backend", "ray", "--address", "head-node"), "--address: expected auto, ray://HOST:PORT or HOST:PORT, got 'head-node'"),
    ("out-ftp-uri", _score("{images}", "{labels}", "ftp://host/scores", "-e", "tv"), "expected a folder, a file:// URI or an object-storage URI (s3://, gs://, az://, abfss://), got ftp:// URI"),
    ("out-s3-unreachable", _score("{images}", "{labels}", "s3://bucket/scores", "-e", "tv"), "expected an object store reachable with the credentials in the environment"),
    ("out-with-percent", _score("{images}", "{labels}", "{tmp}/run%20one", "-e", "tv"), "expected a store folder whose path has no %, # or ?"),
    ("analyze-with-hash", ["analyze", "{tmp}/run#2", "--m", "tv.score", "--q", "tv.score"], "expected a store folder whose path has no %, # or ?"),
    ("out-file-uri-other-host", _score("{images}", "{labels}", "file://otherhost/scores", "-e", "tv"), "expected a file:// URI on this host (file:///path)"),
]


@pytest.mark.parametrize("case, template, message", CORPUS, ids=[c[0] for c in CORPUS])
def test_bad_input_corpus(tmp_path, monkeypatch, case, template, message):
    for name, value in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y", "AWS_REGION": "us-east-1",
                        "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ALLOW_HTTP": "true"}.items():
        monkeypatch.setenv(name, value)  # an object store nobody serves: refused at once, whatever the network
    paths = _corpus_setup(tmp_path)
    args = [a.format(**paths) for a in template]
    stores = [paths["out"], paths["damaged"]]
    before = [store_fingerprint(s) for s in stores]
    result = runner.invoke(app, args)
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert message.format(**paths) in lines[0]
    assert "Traceback" not in result.output
    assert [store_fingerprint(s) for s in stores] == before


def test_a_wrong_weights_file_leaves_no_store_folder_behind(tmp_path):
    images, labels = make_images(tmp_path, 1)
    (tmp_path / "w.pth").write_text("not weights")
    result = score(images, labels, tmp_path / "new_store", f"resnet18@{tmp_path / 'w.pth'}")
    assert result.exit_code == 2 and not (tmp_path / "new_store").exists()


def test_offline_download_is_one_line_naming_what_to_pass(tmp_path):
    images, labels = make_images(tmp_path, 1)
    result = score(images, labels, tmp_path / "s", "resnet18")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "expected weights available offline: pass a local file with resnet18@/path/to/weights" in result.output


# ---- 2 and 3: real processes --------------------------------------------------------------------
def _cli(images, labels, out, *extra):
    return [sys.executable, "-m", "causaliqa.cli", "score", "--images", str(images), "--labels", str(labels),
            "--out", str(out), "-e", "tv", "-e", "resnet18@random:max_prob", "--batch-size", "2", *extra]


def _wait_for(predicate, seconds=120.0):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


class _Progress:
    """Reads a child's stderr as it comes, so a test can wait for tqdm's count of scored images."""

    def __init__(self, proc) -> None:
        self._chunks: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(proc.stderr.fileno(),), daemon=True)
        self._thread.start()

    def _read(self, fd: int) -> None:
        # whole chunks as they come (reading one character at a time fell behind a fast child in a busy test process,
        # which then finished before the test's signal, so the test saw exit 0)
        while chunk := os.read(fd, 65536):
            self._chunks.append(chunk.decode("utf-8", "replace"))

    @property
    def text(self) -> str:
        return "".join(self._chunks)

    def scored(self) -> int:
        import re

        counts = re.findall(r"\| *(\d+)/\d+ \[", self.text)
        return int(counts[-1]) if counts else 0

    def finish(self) -> str:
        self._thread.join(10)
        return self.text


def _as_a_terminal_would() -> None:
    """Ctrl-C reaches a foreground command: undo an inherited SIG_IGN (a shell's background job, `cmd &` in a script,
    ignores SIGINT, and so would every test process started under one, making the child deaf to the test's signal)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start_scoring(tmp_path: Path, n: int, scored: int, *flags):
    """A real `causaliqa score` process on n synthetic images, returned once it has scored ``scored`` of them."""
    images, labels = make_images(tmp_path, n, size=(256, 256))
    out = tmp_path / "s"
    proc = subprocess.Popen(_cli(images, labels, out, *flags), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, text=True,
                            preexec_fn=_as_a_terminal_would)
    progress = _Progress(proc)
    assert _wait_for(lambda: progress.scored() >= scored), progress.text
    return proc, progress, images, labels, out


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in found]


@pytest.mark.slow
@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_keeps_scored_work_and_resume_completes(tmp_path, signum, code):
    n = 200  # 10 scored, but only in the in-memory buffer (parts of 1000)
    proc, progress, images, labels, out = _start_scoring(tmp_path, n, 10, "--workers", "1", "--part-size", "1000")
    children = _children(proc.pid)
    assert children, "the DataLoader worker runs"
    proc.send_signal(signum)
    assert proc.wait(60) == code
    stderr = progress.finish()
    assert "interrupted: " in stderr and "variants kept in" in stderr and "run the same command to resume" in stderr
    kept = int(stderr.split("interrupted: ")[1].split(" variants")[0])
    assert kept > 0 and len(load_scores(out)) == kept
    assert _wait_for(lambda: not any(Path(f"/proc/{c}").exists() for c in children), 10), "a DataLoader worker outlived the parent"
    result = subprocess.run(_cli(images, labels, out, "--workers", "0"), capture_output=True, text=True, env=ENV)
    assert result.returncode == 0 and f"{n - kept} variants scored, {kept} already in the store" in result.stdout
    reference = tmp_path / "ref"
    subprocess.run(_cli(images, labels, reference, "--workers", "0"), check=True, capture_output=True, env=ENV)
    cols = ["image_id", "tv.score", "resnet18@random.max_prob"]
    pd.testing.assert_frame_equal(load_scores(out)[cols], load_scores(reference)[cols])


@pytest.mark.slow
def test_two_writers_both_land_and_readers_see_consistent_snapshots(tmp_path):
    """Two real `causaliqa score` processes on one store at once: the second scores its own column for the same
    images (and half of them a second time); both runs' rows land, none twice, and readers never fail meanwhile."""
    n = 60
    first, progress, images, labels, out = _start_scoring(tmp_path, n, 4, "--workers", "0", "--part-size", "2")
    second = subprocess.Popen(_cli(images, labels, out, "--workers", "0", "--part-size", "3", "-e", "iqa:entropy"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    reads = 0
    while first.poll() is None or second.poll() is None:  # readers during both runs' commits and compactions
        frame = load_scores(out)
        assert not frame.duplicated(KEY).any()
        reads += 1
    outputs = [p.communicate() for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outputs
    assert reads > 0 and "Traceback" not in "".join(o[1] for o in outputs)
    frame = load_scores(out)
    assert len(frame) == n and frame[["tv.score", "resnet18@random.max_prob", "iqa:entropy.score"]].notna().all().all()
    again = subprocess.run(_cli(images, labels, out, "--workers", "0", "-e", "iqa:entropy"), capture_output=True, text=True, env=ENV)
    assert again.returncode == 0 and f"0 variants scored, {n} already in the store" in again.stdout


def test_disk_full_is_one_line_and_keeps_the_store(tmp_path, monkeypatch):
    import errno

    import causaliqa.scoring.store as store

    images, labels = make_images(tmp_path, 3)
    out = tmp_path / "s"
    assert score(images, labels, out, "tv").exit_code == 0
    make_images(tmp_path, 5)
    before = load_scores(out)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store, "_arrow", full)  # where every commit's data is made
    result = score(images, labels, out, "tv")
    assert result.exit_code == 2 and "no space left on device" in result.output.lower() and len(result.output.splitlines()) == 1
    monkeypatch.undo()
    pd.testing.assert_frame_equal(load_scores(out), before)
    assert not list(out.rglob("*.tmp"))
    import deltalake

    def full_disk_in_rust(*args, **kwargs):  # delta-rs's own error for a full disk (an OSError with the OS text)
        raise OSError("Generic LocalFileSystem error: Unable to write: No space left on device (os error 28)")

    monkeypatch.setattr(deltalake, "write_deltalake", full_disk_in_rust)
    result = score(images, labels, out, "tv")
    assert result.exit_code == 2 and "expected free disk space to write scores, got no space left on device" in result.output
    monkeypatch.undo()
    pd.testing.assert_frame_equal(load_scores(out), before)


# ---- experiment files: found before any image is scored -----------------------------------------
ROOT = Path(__file__).resolve().parents[1]


def _experiment(tmp_path: Path, **changes) -> Path:
    import yaml

    images, labels = make_images(tmp_path / "data", 3)
    spec = {"name": "t", "graphs": [str(ROOT / "graphs/baseline.yaml")],
            "dataset": {"images": str(images), "labels": str(labels)},
            "bindings": {"X": "images", "Y": "label", "Q": "tv", "M": "resnet18@random:correct"},
            "analyses": {"n_boot": 20, "folds": 2}, "out": str(tmp_path / "run")}
    for dotted, value in changes.items():
        node = spec
        *head, last = dotted.split("__")
        for part in head:
            node = node.setdefault(part, {})
        node[last] = value
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


EXPERIMENT_CORPUS = [
    ("query-unknown-node", {"analyses__ci_tests": {"queries": ["Q _||_ Mx | Y"]}}, "exp.yaml: analyses.ci_tests.queries[0]: expected a node of graph 'baseline' (did you mean 'M'?), got 'Mx'"),
    ("query-unbound-node", {"analyses__ci_tests": {"queries": ["Q _||_ Yhat"]}}, "analyses.ci_tests.queries[0]: expected a bound node or a proxied one"),
    ("options-unknown-key", {"estimator_options": {"resnet18@random": {"temperature": 2}}}, "estimator_options.resnet18@random: temperature: expected an option of resnet18 (seed, preprocess), got 'temperature'"),
    ("options-unknown-estimator", {"estimator_options": {"resnet34": {"seed": 1}}}, "estimator_options.resnet34: expected a bound estimator (resnet18@random, tv), got 'resnet34'"),
    ("yaml-device", {"scoring": {"device": "gpu0"}}, "exp.yaml: scoring.device: expected auto, cpu, cuda or cuda:N, got 'gpu0'"),
    ("limit-zero", {"dataset__limit": 0}, "exp.yaml: dataset.limit: expected input should be greater than or equal to 1, got 0"),
    ("weights-wrong-kind", {"bindings__Q": "iqa:brisque@{notweights}"}, "expected weights"),
    ("intervention-variant-not-a-score", {"interventions": [{"name": "swap", "baseline": "tv", "variants": [{"spec": "resnet18@random:correct"}]}]},
     "interventions[0].variants[0].spec: expected a score output (a computation of Q), got resnet18@random:correct"),
    ("intervention-unknown-graph", {"interventions": [{"name": "swap", "baseline": "tv", "variants": [{"spec": "resnet18@random:max_prob", "predictions": {"baselin": "higher"}}]}]},
     "interventions[0].variants[0].predictions: expected one of the experiment's graphs (did you mean 'baseline'?), got 'baselin'"),
    ("intervention-bad-prediction", {"interventions": [{"name": "swap", "baseline": "tv", "variants": [{"spec": "resnet18@random:max_prob", "predictions": {"baseline": "more"}}]}]},
     "interventions.0.variants.0.predictions.baseline: expected input should be 'higher', 'lower' or 'equal', got 'more'"),
    ("preprocess-typo", {"estimator_options": {"tv": {"preprocess": "greyscale"}}},
     "estimator_options.tv: preprocess: expected one of grayscale, downscale2 (did you mean 'grayscale'?), got 'greyscale'"),
    ("backend-typo", {"scoring": {"backend": "spark"}}, "exp.yaml: scoring.backend: expected input should be 'local' or 'ray', got 'spark'"),
    ("intervention-missing-graph-file", {"interventions": [{"name": "swap", "baseline": "tv", "graphs": ["nowhere.yaml"], "variants": [{"spec": "tv"}]}]},
     "interventions[0].graphs[0]: expected an existing graph file (relative to the experiment file)"),
]


@pytest.mark.parametrize("case, changes, message", EXPERIMENT_CORPUS, ids=[c[0] for c in EXPERIMENT_CORPUS])
def test_bad_experiment_corpus(tmp_path, case, changes, message):
    (tmp_path / "w.pth").write_text("not weights")
    changes = {k: (v.format(notweights=tmp_path / "w.pth") if isinstance(v, str) else v) for k, v in changes.items()}
    path = _experiment(tmp_path, **changes)
    result = runner.invoke(app, ["run", str(path), "--workers", "0"])
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert message in lines[0] and "Traceback" not in result.output
    assert not list((tmp_path / "run").glob("**/*.parquet")), "nothing is scored before the mistake is found"


@pytest.mark.slow
def test_niqe_on_flat_and_tiny_images_records_failures_and_goes_on(tmp_path, shared_weights):
    images, labels = make_images(tmp_path, 3)
    Image.fromarray(np.zeros((1, 1, 3), dtype=np.uint8)).save(images / "img_001.png")
    ramp = (np.linspace(0, 65535, 64)[None, :].repeat(48, axis=0)).astype(np.uint16)
    Image.fromarray(ramp).save(images / "img_002.png")
    out = tmp_path / "s"
    niqe = f"iqa:niqe@{shared_weights / 'niqe_modelparameters.mat'}"
    brisque = f"iqa:brisque@{shared_weights / 'brisque_svm_weights.pth'}"
    result = score(images, labels, out, "tv", niqe, brisque)
    assert result.exit_code == 0, result.output
    failures = load_failures(out)
    assert "img_001" in set(failures["image_id"])  # the flat 1x1 image fails alone, recorded with its reason
    frame = load_scores(out).set_index("image_id")
    assert np.isfinite(frame.loc["img_000", ["iqa:niqe.score", "iqa:brisque.score"]].astype(float)).all()
    again = score(images, labels, out, "tv", niqe, brisque)
    assert again.exit_code == 0 and "0 variants scored, 3 already in the store" in again.output


def test_small_runs_append_parts_and_compact_folds_them(tmp_path):
    images, labels = make_images(tmp_path, 12)
    out = tmp_path / "s"
    assert score(images, labels, out, "tv").exit_code == 0
    base = {p.name for p in (out / "scores").glob("*.parquet")}
    make_images(tmp_path, 14)  # two more images: new rows only, nothing to fold
    assert score(images, labels, out, "tv").exit_code == 0
    files = {p.name for p in (out / "scores").glob("*.parquet")}
    assert base < files and len(files - base) == 1, "a run that adds rows appends one file and rewrites none"
    assert len(load_scores(out)) == 14
    assert score(images, labels, out, "tv", "iqa:piqe").exit_code == 0  # a column for stored rows: folded at the run's end
    import deltalake

    table = deltalake.DeltaTable(str(out / "scores"))
    raw = table.to_pyarrow_dataset().to_table(columns=["image_id", "corruption", "severity"]).to_pandas()
    assert len(raw) == 14 and not raw.duplicated().any(), "after a run, any Delta reader sees one row per variant"
    result = runner.invoke(app, ["compact", str(out)])
    assert result.exit_code == 0 and "14 rows in" in result.output
    history = runner.invoke(app, ["history", str(out)])
    assert history.exit_code == 0 and "added iqa:piqe.score" in history.output and history.output.count("\n") >= 4


def test_a_store_named_by_a_file_uri(tmp_path):
    images, labels = make_images(tmp_path, 3)
    folder = tmp_path / "a store"
    assert score(images, labels, folder.as_uri(), "tv", "resnet18@random:correct").exit_code == 0  # file:///.../a%20store
    assert len(load_scores(folder)) == 3
    result = runner.invoke(app, ["analyze", folder.as_uri(), "--m", "resnet18@random.correct", "--q", "tv.score", "--no-progress",
                                 "--no-mixtures", "--splits", "2"])
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    again = score(images, labels, folder.as_uri(), "tv", "resnet18@random:correct")
    assert again.exit_code == 0 and "0 variants scored, 3 already in the store" in again.output


def test_ray_backend_without_ray_installed_is_one_line(tmp_path, monkeypatch):
    import sys as system

    images, labels = make_images(tmp_path, 2)
    monkeypatch.setitem(system.modules, "ray", None)  # `import ray` raises ImportError, as where the extra is absent
    result = score(images, labels, tmp_path / "s", "tv", extra=["--backend", "ray"])
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert "--backend: expected Ray Data installed for --backend ray (pip install 'causaliqa[ray]'), got not importable" in lines[0]
    assert not (tmp_path / "s").exists()


def test_the_local_backend_needs_no_ray(tmp_path):
    """The default install has no Ray: scoring and the package's imports never touch it."""
    code = ("import sys; sys.modules['ray'] = None; from causaliqa.cli import app; from causaliqa.scoring import score_images; "
            "import causaliqa.scoring.ray_backend, causaliqa.scoring.plan; print('ok')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
