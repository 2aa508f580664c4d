"""`causaliqa migrate OUT`: a store of the older Parquet layout (base + parts + estimators.json) becomes Delta tables
with the same rows, identities, failures and mixtures; the old files are kept; a damaged old file stops it first."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from bad_inputs import make_images, store_fingerprint
from causaliqa.cli import app
from causaliqa.scoring.store import load_estimator_info, load_failures, load_mixtures, load_scores, store_format

runner = CliRunner()
KEY = ["image_id", "corruption", "severity"]


def _old_layout(source, out):
    """The older layout as its writer left it: a base with the first estimator's column, a part adding a second
    column to some of those rows, a part with new rows, format-2 metadata, failures and mixtures."""
    frame = load_scores(source)
    info = load_estimator_info(source)
    out.mkdir()
    base = frame.iloc[:4].drop(columns=["iqa:entropy.score"])
    base.to_parquet(out / "scores.parquet", index=False)
    (out / "parts").mkdir()
    frame.iloc[:2][KEY + ["label", "input_sha", "iqa:entropy.score"]].to_parquet(
        out / "parts" / "part-20260101000000000001-77-0123abcd.parquet", index=False)
    frame.iloc[4:].to_parquet(out / "parts" / "part-20260101000000000002-77-89abcdef.parquet", index=False)
    (out / "estimators.json").write_text(json.dumps({"format": 2, "columns": info}))
    failures = pd.DataFrame({"image_id": ["img_009"], "corruption": ["clean"], "severity": np.array([0], dtype=np.int16),
                             "estimator": ["tv"], "path": ["/x/img_009.png"], "reason": ["OSError: truncated"]})
    failures.to_parquet(out / "failures.parquet", index=False)
    mixtures = pd.DataFrame({"variant": ["pc=0.50"] * 2, "p_c": [0.5, 0.5], "image_id": ["img_000", "img_001"],
                             "corruption": ["clean", "clean"], "severity": np.array([0, 0], dtype=np.int16)})
    mixtures.to_parquet(out / "mixtures.parquet", index=False)
    return frame, info, failures, mixtures


def _scored_old_store(tmp_path):
    """Six images scored with tv and entropy, then laid out as the older format at tmp_path/old."""
    images, labels = make_images(tmp_path, 6)
    source = tmp_path / "source"
    result = runner.invoke(app, ["score", "--images", str(images), "--labels", str(labels), "--out", str(source), "-e", "tv",
                                 "-e", "iqa:entropy", "--workers", "0"])
    assert result.exit_code == 0, result.output
    old = tmp_path / "old"
    return (old, *_old_layout(source, old), images, labels)


def test_migrate_keeps_every_row_identity_failure_and_mixture(tmp_path):
    old, frame, info, failures, mixtures, images, labels = _scored_old_store(tmp_path)
    assert store_format(old) == 2
    result = runner.invoke(app, ["migrate", str(old)])
    assert result.exit_code == 0, result.output
    assert "6 rows x 2 estimator columns, 1 failures, 2 mixture rows" in result.output
    assert store_format(old) == 3
    expected = frame.copy()
    expected.loc[2:3, "iqa:entropy.score"] = np.nan  # the old store never had these two values
    pd.testing.assert_frame_equal(load_scores(old), expected)
    assert load_estimator_info(old) == info
    pd.testing.assert_frame_equal(load_failures(old)[failures.columns].astype({"severity": "int16"}), failures)
    pd.testing.assert_frame_equal(load_mixtures(old)[mixtures.columns].astype({"severity": "int16"}), mixtures)
    kept = [p for p in old.iterdir() if p.name.startswith("pre-delta-")]
    assert len(kept) == 1 and (kept[0] / "scores.parquet").is_file() and (kept[0] / "parts").is_dir()
    again = runner.invoke(app, ["score", "--images", str(images), "--labels", str(labels), "--out", str(old), "-e", "tv",
                                "-e", "iqa:entropy", "--workers", "0"])
    assert again.exit_code == 0 and "2 variants scored, 4 already in the store" in again.output, again.output
    pd.testing.assert_frame_equal(load_scores(old)[frame.columns], frame, check_exact=False, rtol=1e-6)
    assert runner.invoke(app, ["migrate", str(old)]).exit_code == 2


@pytest.mark.parametrize("damage", ["truncated-part", "bad-metadata"])
def test_a_damaged_old_store_stops_the_migration_before_any_write(tmp_path, damage):
    old = _scored_old_store(tmp_path)[0]
    if damage == "truncated-part":
        part = sorted((old / "parts").iterdir())[0]
        part.write_bytes(part.read_bytes()[:50])
    else:
        (old / "estimators.json").write_text("{not json")
    before = store_fingerprint(old)
    result = runner.invoke(app, ["migrate", str(old)])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output
    assert ("expected a readable Parquet file of the store" if damage == "truncated-part" else "expected the store's JSON metadata") in result.output
    assert store_fingerprint(old) == before


def test_a_migration_stopped_while_moving_the_old_files_is_finished_not_redone(tmp_path, monkeypatch):
    old = _scored_old_store(tmp_path)[0]
    from causaliqa.scoring import migrate

    moved = []

    def stop_after_one(out, kept):  # the process dies after moving scores.parquet, before parts/
        (out / "scores.parquet").rename(kept / "scores.parquet")
        moved.append(kept)
        raise KeyboardInterrupt

    monkeypatch.setattr(migrate, "_keep_old_files", stop_after_one)
    with pytest.raises(KeyboardInterrupt):
        migrate.migrate_store(old)
    monkeypatch.undo()
    expected = load_scores(old)
    assert len(expected) == 6 and store_format(old) == 2  # parts/ is still there: the store says to run migrate again
    result = runner.invoke(app, ["migrate", str(old)])
    assert result.exit_code == 0 and "6 rows" in result.output, result.output
    pd.testing.assert_frame_equal(load_scores(old), expected)  # the parts alone were not migrated over the full table
    assert (moved[0] / "parts").is_dir() and store_format(old) == 3


def test_mixture_members_come_back_in_the_order_they_were_saved(tmp_path):
    """The mixtures' random splits follow the members' order; delta-rs's writer does not keep a frame's row order
    (20 mixtures x 3000 ids came back in another order), so the store keeps it."""
    from causaliqa.scoring.store import save_mixtures

    rng = np.random.default_rng(0)
    ids = np.char.add("ILSVRC2012_val_", np.char.zfill(np.arange(3000).astype(str), 8))
    members = pd.concat([pd.DataFrame({"variant": f"pc={p_c:.2f}", "p_c": p_c, "image_id": ids,
                                       "corruption": rng.choice(np.array(["clean", "fog", "frost"], dtype=object), 3000),
                                       "severity": rng.integers(0, 3, 3000).astype(np.int16)})
                         for p_c in np.round(np.linspace(0.05, 1.0, 20), 2)], ignore_index=True)
    save_mixtures(tmp_path / "s", members)
    pd.testing.assert_frame_equal(load_mixtures(tmp_path / "s"), members)
