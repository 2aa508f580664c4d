"""The store's older layout (causaliqa 0.2-0.4), read only by `causaliqa migrate`: a folder of Parquet files.

    OUT/scores.parquet      the compacted base table
    OUT/parts/*.parquet     rows written since the last full compaction
    OUT/failures.parquet    (variant, estimator) pairs that could not be scored, with the reason
    OUT/mixtures.parquet    membership of mild-corruption mixtures (variant, p_c, key)
    OUT/estimators.json     per column: the estimator's identity, direction, kind (format 2); top-level (format 1)
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from causaliqa.errors import CausaliqaError

KEY = ["image_id", "corruption", "severity"]
PROVENANCE = ["label", "input_sha"]
META = KEY + PROVENANCE
STORE_FORMAT = 2
MAX_PARTS = 32




# ---- writing ------------------------------------------------------------------------------------


PART_NAME = re.compile(r"^part-\d{20}-\d+-[0-9a-f]{8}\.parquet$")  # what write_part names its files


def part_files(out: Path) -> list[Path]:
    """The store's parts; any other file in ``parts/`` (a copied-in Parquet file, say) is an error, not ignored and
    not read: rows from a file the store did not write would pass for scored ones."""
    folder = out / "parts"
    if not folder.is_dir():
        return []
    parts, foreign = [], []
    for p in folder.iterdir():
        if p.name.startswith("."):  # a temporary file of a write in progress (atomic_path)
            continue
        (parts if PART_NAME.match(p.name) and p.is_file() else foreign).append(p)
    if foreign:
        raise CausaliqaError(str(sorted(foreign)[0]), None, f"only the store's own parts in {folder} (move other files out; "
                             "the store's parts are named part-<time>-<pid>-<hex>.parquet)", "a file the store did not write")
    return sorted(parts)






# ---- reading ------------------------------------------------------------------------------------
def _read(path: Path, out: Path, columns: list[str] | None = None) -> pd.DataFrame:
    """One store file; with ``columns``, only those it has (pyarrow projection: the others are never decoded)."""
    names = set(_schema_names(path, out))
    try:
        if columns is not None:
            return pd.read_parquet(path, columns=[c for c in columns if c in names])
        return pd.read_parquet(path)
    except FileNotFoundError:
        raise
    except Exception as err:  # pyarrow's errors on a truncated or foreign file
        raise _damaged(path, out, err) from None


def _damaged(path: Path, out: Path, err: Exception) -> CausaliqaError:
    others = len(part_files(out)) + (out / "scores.parquet").exists() - 1
    return CausaliqaError(str(path), None, f"a readable Parquet file of the store (the other {others} file(s) are intact: "
                          f"move this one out of {out} to go on without its rows, which are then scored again)",
                          f"a damaged file ({type(err).__name__})")


def _schema_names(path: Path, out: Path) -> list[str]:
    """A store file's columns, after checking it is one: the key and provenance columns, and (in a store with
    metadata) no column the store has no estimator for."""
    try:
        names = pq.read_schema(path).names
    except FileNotFoundError:
        raise
    except Exception as err:
        raise _damaged(path, out, err) from None
    if path.parent.name == "parts" or path.name == "scores.parquet":  # a part was written by a run: with provenance
        missing = [c for c in (META if path.parent.name == "parts" else KEY) if c not in names]
        info = load_estimator_info(out) if (out / "estimators.json").exists() else None
        unknown = [c for c in names if c not in META and info is not None and c not in info]
        if missing or unknown:
            what = f"no column{'s' if len(missing) > 1 else ''} {', '.join(missing)}" if missing else f"columns no estimator of the store wrote: {', '.join(unknown[:3])}"
            raise CausaliqaError(str(path), None, "a file this store wrote (its key, provenance and estimator columns; move a "
                                 f"foreign file out of {out})", what)
    return names


def _coalesce(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=META)
    merged = pd.concat(frames, ignore_index=True, sort=False)
    if merged.duplicated(KEY).any():  # later files first-class: last non-null value per column wins
        merged = merged.groupby(KEY, sort=False, as_index=False).last()
    return merged


def _store_files(out: Path) -> list[Path]:
    return ([out / "scores.parquet"] if (out / "scores.parquet").exists() else []) + part_files(out)


def _snapshot(out: Path, columns: list[str] | None = None) -> list[pd.DataFrame]:
    """Every file of the store, read as one consistent set (retried if a compaction removes a file meanwhile)."""
    for attempt in range(20):
        try:
            return [_read(p, out, columns) for p in _store_files(out)]
        except FileNotFoundError:
            time.sleep(0.05 * (attempt + 1))
    raise CausaliqaError(str(out), None, "a store that holds still long enough to read", "files changing for 10 s")


_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):/")






def load_scores(out: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    """All scored rows of a store (base plus parts), one row per key, sorted by key.

    ``columns``: read only these (and the key and provenance columns) from each file.
    """
    out = Path(out)
    frame = _coalesce(_snapshot(out, None if columns is None else list(dict.fromkeys(META + list(columns)))))
    for col in META:
        if col not in frame.columns:
            frame[col] = pd.Series(dtype=object)
    return frame.sort_values(KEY, kind="stable").reset_index(drop=True)


def store_columns(out: str | Path) -> list[str]:
    """The columns the store's files hold, from their footers (no data read)."""
    for attempt in range(20):
        try:
            names = [n for p in _store_files(Path(out)) for n in _schema_names(p, Path(out))]
            return list(dict.fromkeys(names))
        except FileNotFoundError:
            time.sleep(0.05 * (attempt + 1))
    raise CausaliqaError(str(out), None, "a store that holds still long enough to read", "files changing for 10 s")




def load_failures(out: Path) -> pd.DataFrame:
    path = Path(out) / "failures.parquet"
    frame = _read(path, Path(out)) if path.exists() else pd.DataFrame(columns=KEY + ["estimator", "path", "reason"])
    if "estimator" not in frame.columns:  # stores of format 1 recorded unreadable images only
        frame["estimator"] = ""
    return frame


def load_mixtures(out: Path) -> pd.DataFrame:
    path = Path(out) / "mixtures.parquet"
    return _read(path, Path(out)) if path.exists() else pd.DataFrame(columns=["variant", "p_c"] + KEY)


def _metadata(out: Path) -> dict | None:
    """The parsed ``estimators.json``, or None when there is none."""
    path = Path(out) / "estimators.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise CausaliqaError(str(path), None, "the store's JSON metadata", f"a damaged file ({type(err).__name__})") from None


def load_estimator_info(out: Path) -> dict:
    """Column -> metadata. Format 1 stores (no provenance) had the columns at the top level."""
    data = _metadata(out) or {}
    return data.get("columns", {}) if data.get("format") == STORE_FORMAT else data


def store_format(out: Path) -> int:
    """2 for stores with provenance, 1 for older ones, 0 for a store with no rows and no metadata yet."""
    data = _metadata(out)
    if data is None:
        return 0 if not (Path(out) / "scores.parquet").exists() and not part_files(Path(out)) else 1
    return int(data.get("format", 1))




def check_layout(out: Path) -> None:
    """The store's own names have the shape the store gives them (parts a folder, the base and the lock files)."""
    for name, want_dir in (("parts", True), ("scores.parquet", False), (".lock", False), ("estimators.json", False),
                           ("failures.parquet", False), ("mixtures.parquet", False)):
        path = out / name
        if path.exists() and path.is_dir() != want_dir:
            raise CausaliqaError(str(path), None, f"a {'folder' if want_dir else 'file'} (the store's own {name})",
                                 f"a {'file' if want_dir else 'folder'}: move it out of the store")


