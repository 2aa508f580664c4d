"""The score store: a folder of Parquet files, one row per image variant, one column per estimator output.

Layout::

    OUT/scores.parquet      the compacted base table
    OUT/parts/*.parquet     rows written since the last full compaction (each part whole, renamed into place)
    OUT/failures.parquet    (variant, estimator) pairs that could not be scored, with the reason
    OUT/mixtures.parquet    membership of mild-corruption mixtures (variant, p_c, key)
    OUT/estimators.json     per column: the estimator's identity (weights hash or tag, seed, options), direction, kind
    OUT/.lock               held (flock) by the one process writing; names its pid and host

Provenance: every row carries ``label`` and ``input_sha`` (a hash of the source image file), every
column an identity; a run that finds them changed re-scores exactly that (``--rescore``) or stops.
Read the store with ``load_scores(OUT)`` (it merges base and parts); after ``causaliqa compact OUT``,
``scores.parquet`` alone holds every row.

A run appends its rows as parts; a full rewrite of ``scores.parquet`` happens only when the parts
hold a quarter of the base's rows or number more than 32, so the cost of compaction stays proportional
to what was added. Readers take a consistent snapshot: a file deleted by a concurrent compaction
makes them list again.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import socket
import time
from pathlib import Path
from typing import Iterator

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from causaliqa.atomic import atomic_path, write_json_atomic
from causaliqa.errors import CausaliqaError

KEY = ["image_id", "corruption", "severity"]
PROVENANCE = ["label", "input_sha"]
META = KEY + PROVENANCE
STORE_FORMAT = 2
MAX_PARTS = 32


class StoreBusy(CausaliqaError):
    pass


# ---- writing ------------------------------------------------------------------------------------
def write_parquet_atomic(frame: pd.DataFrame, path: Path) -> None:
    try:
        with atomic_path(path) as tmp:
            pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp)
    except OSError as err:
        if err.errno == errno.ENOSPC:
            raise CausaliqaError(str(path.parent), None, "free disk space to write scores", "no space left on device") from None
        raise


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


def write_part(out: Path, frame: pd.DataFrame) -> Path:
    (out / "parts").mkdir(parents=True, exist_ok=True)
    stamp = pd.Timestamp.now("UTC").strftime("%Y%m%d%H%M%S%f")
    path = out / "parts" / f"part-{stamp}-{os.getpid()}-{os.urandom(4).hex()}.parquet"
    write_parquet_atomic(frame, path)
    return path


@contextlib.contextmanager
def writer_lock(out: Path, command: str = "causaliqa score") -> Iterator[None]:
    """Exclusive writer lock on ``OUT/.lock`` (flock: released by the kernel when the holder dies, so never stale)."""
    out.mkdir(parents=True, exist_ok=True)
    fh = open(out / ".lock", "a+")
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            owner = fh.read().strip() or "another process"
            raise StoreBusy(str(out), None, "a store no other process is writing (wait for it, or use another --out)",
                            f"busy: {owner}") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{command} pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}")
        fh.flush()
        yield
    finally:
        fh.close()  # closing releases the lock


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


def store_location(out: str | Path, where: str = "--out") -> Path:
    """A store folder from a path or a ``file://`` URI; other URIs (s3://, gs://) are one line saying how to mount them.

    >>> store_location("file:///data/scores"), store_location("out/demo")
    (PosixPath('/data/scores'), PosixPath('out/demo'))
    """
    text = str(out)  # a click Path option turns file:///x into file:/x: both are read here
    scheme = _SCHEME.match(text)
    if scheme is None:
        return Path(out)
    if scheme.group(1).lower() == "file":
        from urllib.parse import unquote, urlparse

        parsed = urlparse(text if "://" in text else text.replace("file:/", "file:///", 1))
        if parsed.netloc not in ("", "localhost"):
            raise CausaliqaError(where, None, "a file:// URI on this host (file:///path)", f"{text} (host {parsed.netloc})")
        return Path(unquote(parsed.path))
    raise CausaliqaError(where, None, "a folder or a file:// URI: the store needs atomic renames and a lock, which object "
                         "stores lack; mount the bucket (mountpoint-s3, gcsfuse, s3fs) and pass the mount's folder",
                         f"{scheme.group(1)}:// URI {text!r}")


def require_store(out: str | Path, where: str = "store") -> Path:
    out = store_location(out, where)
    if not out.is_dir():
        raise CausaliqaError(str(out), None, "a score store folder (made by `causaliqa score` or `causaliqa run`)", "no such folder")
    check_layout(out)
    if not (out / "scores.parquet").exists() and not part_files(out):
        raise CausaliqaError(str(out), None, "a score store (scores.parquet or parts/)", "a folder without scores")
    return out


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


def compact(out: Path, force: bool = False, drop_rows: pd.DataFrame | None = None, drop_columns: list[str] = ()) -> pd.DataFrame:
    """Fold the parts into ``scores.parquet`` when they are many or large (or ``force``); returns all rows.

    ``drop_rows`` (keys) and ``drop_columns`` are removed in the same rewrite (``--rescore``).
    """
    parts = part_files(out)
    frame = load_scores(out)
    base_rows = pq.ParquetFile(out / "scores.parquet").metadata.num_rows if (out / "scores.parquet").exists() else 0
    part_rows = sum(pq.ParquetFile(p).metadata.num_rows for p in parts)
    rewrite = force or drop_rows is not None or bool(drop_columns) or len(parts) > MAX_PARTS or part_rows * 4 >= base_rows
    if not rewrite:
        return frame
    if drop_rows is not None and len(drop_rows):
        stale = pd.MultiIndex.from_frame(drop_rows[KEY])
        frame = frame[~pd.MultiIndex.from_frame(frame[KEY]).isin(stale)]
    frame = frame.drop(columns=[c for c in drop_columns if c in frame.columns])
    write_parquet_atomic(frame.reset_index(drop=True), out / "scores.parquet")
    for p in parts:
        p.unlink(missing_ok=True)
    return frame.reset_index(drop=True)


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


def write_estimator_info(out: Path, columns: dict) -> None:
    write_json_atomic(out / "estimators.json", {"format": STORE_FORMAT, "columns": columns})


def check_layout(out: Path) -> None:
    """The store's own names have the shape the store gives them (parts a folder, the base and the lock files)."""
    for name, want_dir in (("parts", True), ("scores.parquet", False), (".lock", False), ("estimators.json", False),
                           ("failures.parquet", False), ("mixtures.parquet", False)):
        path = out / name
        if path.exists() and path.is_dir() != want_dir:
            raise CausaliqaError(str(path), None, f"a {'folder' if want_dir else 'file'} (the store's own {name})",
                                 f"a {'file' if want_dir else 'folder'}: move it out of the store")


def check_store_path(out: Path, where: str = "--out") -> Path:
    """The store folder can be created and written: not a file, not inside a file, not read-only, its own names of
    the right shape."""
    out = store_location(out, where)
    if out.exists() and not out.is_dir():
        raise CausaliqaError(where, None, "a folder for the score store", f"{out} is a file")
    if out.is_dir():
        check_layout(out)
    ancestor = out
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise CausaliqaError(where, None, "a folder for the score store", f"{out} is inside the file {ancestor}")
    import tempfile

    for folder in (ancestor, out / "parts"):  # where the run will write, checked before it changes anything
        if not folder.is_dir():
            continue
        try:
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as err:
            raise CausaliqaError(where, None, "a writable folder for the score store", f"{folder}: {os.strerror(err.errno)}") from None
    if (out / ".lock").is_file():
        try:
            open(out / ".lock", "a").close()
        except OSError as err:
            raise CausaliqaError(where, None, "a store whose lock file can be written", f"{out / '.lock'}: {os.strerror(err.errno)}") from None
    return out
