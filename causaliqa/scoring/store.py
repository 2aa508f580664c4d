"""The score store: a folder of Parquet files, one row per image variant, one column per estimator output.

Layout::

    OUT/scores.parquet      the compacted table (read it with pandas, pyarrow or duckdb)
    OUT/parts/*.parquet     rows written since the last compaction (each part complete, renamed into place)
    OUT/failures.parquet    images that could not be read, with the reason
    OUT/mixtures.parquet    membership of mild-corruption mixtures (variant, p_c, key)
    OUT/estimators.json     what each column is (direction, kind)

Every file is written under a temporary name and renamed, so a killed run leaves only whole files.
Reading coalesces rows by key, so a part that was compacted but not yet deleted is not counted twice.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

KEY = ["image_id", "corruption", "severity"]
META = KEY + ["label"]


def write_parquet_atomic(frame: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp)
    os.replace(tmp, path)


def write_json_atomic(data, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def part_files(out: Path) -> list[Path]:
    return sorted((out / "parts").glob("part-*.parquet")) if (out / "parts").is_dir() else []


def write_part(out: Path, frame: pd.DataFrame) -> Path:
    (out / "parts").mkdir(parents=True, exist_ok=True)
    path = out / "parts" / f"part-{pd.Timestamp.now('UTC').strftime('%Y%m%d%H%M%S%f')}-{uuid.uuid4().hex[:8]}.parquet"
    write_parquet_atomic(frame, path)
    return path


def _coalesce(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=META)
    merged = pd.concat(frames, ignore_index=True, sort=False)
    if merged.duplicated(KEY).any():
        merged = merged.groupby(KEY, sort=False, as_index=False).first()
    return merged


def load_scores(out: str | Path) -> pd.DataFrame:
    """All scored rows of a store (compacted file plus parts), one row per key, sorted by key."""
    out = Path(out)
    frames = []
    if (out / "scores.parquet").exists():
        frames.append(pd.read_parquet(out / "scores.parquet"))
    frames += [pd.read_parquet(p) for p in part_files(out)]
    frame = _coalesce(frames)
    return frame.sort_values(KEY, kind="stable").reset_index(drop=True)


def compact(out: Path) -> pd.DataFrame:
    """Fold the parts into ``scores.parquet`` (atomically), then delete them."""
    parts = part_files(out)
    frame = load_scores(out)
    if parts or not (out / "scores.parquet").exists():
        write_parquet_atomic(frame, out / "scores.parquet")
    for p in parts:
        p.unlink(missing_ok=True)
    return frame


def load_failures(out: Path) -> pd.DataFrame:
    path = Path(out) / "failures.parquet"
    return pd.read_parquet(path) if path.exists() else pd.DataFrame(columns=KEY + ["path", "reason"])


def load_mixtures(out: Path) -> pd.DataFrame:
    path = Path(out) / "mixtures.parquet"
    return pd.read_parquet(path) if path.exists() else pd.DataFrame(columns=["variant", "p_c"] + KEY)


def load_estimator_info(out: Path) -> dict:
    path = Path(out) / "estimators.json"
    return json.loads(path.read_text()) if path.exists() else {}
