"""The score store: Delta Lake tables (delta-rs) in a folder or under an object-storage prefix.

Layout::

    OUT/scores/       one row per image variant, one column per estimator output, plus ``label``, ``input_sha``
                      (provenance) and ``written_at`` (when the row was committed)
    OUT/failures/     (variant, estimator) pairs that could not be scored, with the reason
    OUT/mixtures/     membership of mild-corruption mixtures (variant, p_c, key)
    OUT/estimators/   per column: the estimator's identity (weights hash or tag, seed, options), direction, kind

``OUT`` is a folder, a ``file://`` URI, or ``s3://bucket/prefix`` (``gs://``, ``az://``/``abfss://`` where
delta-rs supports them), with credentials from the standard environment variables (``AWS_ACCESS_KEY_ID``,
``AWS_ENDPOINT_URL``, ...). Every write is one Delta commit: atomic, with no lock, so two runs can write one
store at once (a commit that races another is retried on the new version; appends never lose a row). A run's
rows are appended as they are scored; a row that adds a column to a stored variant is a second row of that
key, merged on read (for each column, the last value written wins) and folded by the next compaction, which
ends every run. Each table keeps its versions: ``history`` lists them and ``load_scores(..., version=N)``
reads one (``causaliqa history``, ``analyze --as-of``). Any Delta reader (DuckDB, Polars, Spark, Ray Data)
reads ``OUT/scores`` directly: after a finished run it holds one row per variant.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from causaliqa.errors import CausaliqaError

os.environ.setdefault("RUST_LOG", "error")  # delta-rs's cloud clients log warnings (credential probes) on stderr otherwise
KEY = ["image_id", "corruption", "severity"]
PROVENANCE = ["label", "input_sha"]
META = KEY + PROVENANCE
WRITTEN = "written_at"
STORE_FORMAT = 3
MAX_FILES = 32  # a table with more data files than this is bin-packed at the end of a run
TABLE_KEYS = {"scores": KEY, "failures": KEY + ["estimator"], "estimators": ["column"], "mixtures": ["variant", "image_id"]}
Location = Path | str
COMMIT_RETRIES = 60


# ---- where ----------------------------------------------------------------------------------------
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):/")
REMOTE = ("s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "azure")


def store_location(out: Location, where: str = "--out") -> Location:
    """A local folder (from a path or a ``file://`` URI) as a Path, or an object-storage URI as a string.

    >>> store_location("file:///data/scores"), store_location("out/demo"), store_location("s3:/bucket/run1/")
    (PosixPath('/data/scores'), PosixPath('out/demo'), 's3://bucket/run1')
    """
    text = str(out)  # a click Path option (or pathlib) turns s3://x into s3:/x: both are read here
    scheme = _SCHEME.match(text)
    if scheme is None:
        return _local(Path(out), where)
    name = scheme.group(1).lower()
    if name == "file":
        from urllib.parse import unquote, urlparse

        parsed = urlparse(text if "://" in text else text.replace("file:/", "file:///", 1))
        if parsed.netloc not in ("", "localhost"):
            raise CausaliqaError(where, None, "a file:// URI on this host (file:///path)", f"{text} (host {parsed.netloc})")
        return _local(Path(unquote(parsed.path)), where)
    if name not in REMOTE:
        raise CausaliqaError(where, None, "a folder, a file:// URI or an object-storage URI (s3://, gs://, az://, abfss://)",
                             f"{name}:// URI {text!r}")
    rest = text[len(scheme.group(0)):].lstrip("/").rstrip("/")
    if "/" not in rest and not rest:
        raise CausaliqaError(where, None, f"{name}://bucket/prefix", repr(text))
    return f"{name}://{rest}"


def _local(path: Path, where: str) -> Path:
    odd = sorted({c for c in str(path) if c in "%#?"})
    if odd:
        raise CausaliqaError(where, None, "a store folder whose path has no %, # or ? (delta-rs reads them as URL syntax: "
                             "its history and files would be lost)", f"{str(path)!r} with {' '.join(odd)}")
    return path


def is_remote(out: Location) -> bool:
    return isinstance(out, str)


def table_uri(out: Location, name: str) -> str:
    """Where a table is, for people: the URI, or the local folder."""
    return f"{out}/{name}" if is_remote(out) else str(Path(out) / name)


def _delta_uri(out: Location, name: str) -> str:
    """Where a table is, for delta-rs: a local folder as a file:// URI (delta-rs would read a '%20' in a plain path
    as an escaped space)."""
    return f"{out}/{name}" if is_remote(out) else (Path(out).absolute() / name).as_uri()


def _where(out: Location, name: str | None = None) -> str:
    return table_uri(out, name) if name else str(out)


def error_text(err: Exception) -> str:
    """delta-rs's nested error chain (with colour codes) as one line."""
    lines = [re.sub(r"\x1b\[[0-9;]*m|↳", "", line).strip() for line in str(err).splitlines()]
    return ": ".join(line for line in lines if line) or type(err).__name__


# ---- one table ------------------------------------------------------------------------------------
def _open(out: Location, name: str, version: int | None = None):
    """The Delta table ``OUT/name`` (at ``version``), or None when it does not exist."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    uri = _delta_uri(out, name)
    try:
        if not DeltaTable.is_deltatable(uri):
            return None
        return DeltaTable(uri, version=version)
    except TableNotFoundError:
        return None
    except Exception as err:
        raise _damaged_log(out, name, err, version) from None


def has_table(out: Location, name: str) -> bool:
    return _open(out, name) is not None


def _damaged_log(out: Location, name: str, err: Exception, version: int | None = None) -> CausaliqaError:
    text = error_text(err)
    if version is not None and ("version" in text.lower() or "not found" in text.lower()):
        return CausaliqaError(_where(out, name), "--as-of", "a version the table has (`causaliqa history OUT` lists them)", version)
    if is_remote(out) and isinstance(err, OSError):
        return unreachable(out, err)
    return CausaliqaError(_where(out, name) + "/_delta_log", None, "a readable Delta log (restore the folder from a copy)",
                          f"a damaged log ({type(err).__name__}: {text[:80]})")


def _filesystem(out: Location):
    """A pyarrow filesystem for the table's files (None: local paths). Reading the files with pyarrow directly,
    not through delta-rs's Python filesystem shim, which aborted the interpreter at exit now and then."""
    if not is_remote(out):
        return None
    import pyarrow.fs as pfs

    scheme = out.split("://", 1)[0]
    if scheme in ("s3", "s3a"):
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        return pfs.S3FileSystem(endpoint_override=endpoint, region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1")
    if scheme in ("gs", "gcs"):
        return pfs.GcsFileSystem()
    return "delta"  # Azure: read through delta-rs's own dataset


def _read_table(out: Location, name: str, columns: list[str] | None, version: int | None = None) -> pd.DataFrame | None:
    """The rows of one table (all files, not merged), with only ``columns`` that exist; None when there is no table."""
    table = _open(out, name, version)
    return None if table is None else _read_snapshot(out, name, table, columns)


def _read_snapshot(out: Location, name: str, table, columns: list[str] | None) -> pd.DataFrame:
    """The rows of exactly the files of ``table`` (one version): an overwrite based on them removes only them."""
    import pyarrow.dataset as ds
    from urllib.parse import unquote

    schema = pa.schema(table.schema().to_arrow())
    wanted = None if columns is None else [c for c in columns if c in schema.names]
    fs = _filesystem(out)
    files = table.file_uris() if is_remote(out) else [unquote(u.removeprefix("file://")) for u in table.file_uris()]
    try:
        if fs == "delta":
            data = table.to_pyarrow_dataset().to_table(columns=wanted)
        else:
            paths = [u.split("://", 1)[1] for u in files] if fs is not None else files
            data = ds.dataset(paths, format="parquet", filesystem=fs, schema=schema).to_table(columns=wanted)
    except Exception as err:  # a truncated, foreign or missing data file
        raise _damaged_file(out, name, files, err) from None
    return data.to_pandas()


def _damaged_file(out: Location, name: str, files: list[str], err: Exception) -> CausaliqaError:
    text = str(err)
    bad = next((f for f in files if f.rsplit("/", 1)[-1] in text), None)
    missing = isinstance(err, FileNotFoundError) or "No such file" in text
    got = "a missing data file" if missing else f"a damaged data file ({type(err).__name__})"
    return CausaliqaError(bad or _where(out, name), None, f"the data files the {name} table lists (delete or move a damaged one out, "
                          f"then `causaliqa compact {out}` forgets it and its rows are scored again)", got)


def _coalesce(frame: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    """One row per key: for each column, the last non-null value written (rows in commit order)."""
    if frame.empty or not frame.duplicated(key).any():
        return frame
    if WRITTEN in frame.columns:
        frame = frame.sort_values(WRITTEN, kind="stable")
    return frame.groupby(key, sort=False, as_index=False, dropna=False).last()


def _commit(write, out: Location, name: str) -> None:
    """Run one Delta commit, retried when a concurrent commit conflicts (a schema change, the same files removed):
    each retry starts from the table's new version, so nothing either writer committed is lost."""
    from deltalake.exceptions import CommitFailedError

    for attempt in range(COMMIT_RETRIES):
        try:
            write()
            return
        except CommitFailedError:
            time.sleep(min(0.02 * (attempt + 1), 0.5))
        except OSError as err:
            raise _write_error(out, name, err) from None
        except Exception as err:
            if any(t in str(err) for t in ("No space left", "Permission denied", "Read-only")):
                raise _write_error(out, name, err) from None
            raise
    raise CausaliqaError(_where(out, name), None, "a table other writers leave a moment to commit to",
                         f"{COMMIT_RETRIES} commits in a row lost a race with other writers")


def _write_error(out: Location, name: str, err: Exception) -> CausaliqaError:
    if is_remote(out):
        return unreachable(out, err)
    text = error_text(err)
    if "No space left" in text:
        return CausaliqaError(_where(out), None, "free disk space to write scores", "no space left on device")
    return CausaliqaError(_where(out, name), None, "a store this process can write", text[:120])


def _arrow(frame: pd.DataFrame) -> pa.Table:
    table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
    fields = [pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f for f in table.schema]
    return table.cast(pa.schema(fields))  # an all-missing column has no type: Delta needs one


def _properties(command: str, rows: int, new_columns: list[str]):
    from deltalake import CommitProperties

    return CommitProperties(custom_metadata={"causaliqa.command": command, "causaliqa.rows": str(rows),
                                             "causaliqa.new_columns": json.dumps(new_columns)}, max_commit_retries=20)


def _names(table) -> list[str]:
    return pa.schema(table.schema().to_arrow()).names if table is not None else []


def append_rows(out: Location, name: str, frame: pd.DataFrame, command: str = "") -> None:
    """Append ``frame`` to ``OUT/name`` in one commit (a new column joins the table's schema). Appends never
    conflict with other appends; a concurrent schema change makes delta-rs refuse the commit, which is retried."""
    from deltalake import write_deltalake

    if frame.empty:
        return
    data = _arrow(frame.assign(**{WRITTEN: pd.Timestamp.now("UTC")}))

    def write():
        current = _open(out, name)
        new = [c for c in data.column_names if c not in _names(current) and c != WRITTEN] if current is not None else []
        write_deltalake(_delta_uri(out, name), data, mode="append", schema_mode="merge",
                        commit_properties=_properties(command or _command(), len(data), new))

    _commit(write, out, name)


def update_table(out: Location, name: str, change, command: str = "", drop_columns: bool = False) -> pd.DataFrame | None:
    """Rewrite ``OUT/name`` as ``change(rows)`` of one version's rows (None: leave it), in one overwrite commit
    of that version: files other writers append meanwhile stay, and a lost race is retried on the new version.
    The schema keeps every column (``drop_columns``: only those ``change`` returns, for ``--rescore``)."""
    from deltalake import write_deltalake

    result: list[pd.DataFrame | None] = [None]

    def write():
        current = _open(out, name)
        rows = _read_snapshot(out, name, current, None) if current is not None else None
        frame = change(rows)
        result[0] = frame
        if frame is None:
            return
        if WRITTEN not in frame.columns:
            frame = frame.assign(**{WRITTEN: pd.Timestamp.now("UTC")})
        write_deltalake(current if current is not None else _delta_uri(out, name), _arrow(frame), mode="overwrite",
                        schema_mode="overwrite" if drop_columns else "merge",
                        commit_properties=_properties(command or _command(), len(frame), []))

    _commit(write, out, name)
    return result[0]


COMMAND = [""]  # set by the command line (causaliqa score, ...); else the program's name


def _command() -> str:
    import sys

    return COMMAND[0] or (os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python")


def load_table(out: Location, name: str, columns: list[str] | None = None, version: int | None = None) -> pd.DataFrame | None:
    """One table of the store, one row per its key (None when the store has no such table)."""
    frame = _read_table(out, name, None if columns is None else list(dict.fromkeys(TABLE_KEYS[name] + columns + [WRITTEN])), version)
    return None if frame is None else _coalesce(frame, TABLE_KEYS[name])


# ---- the store's API ---------------------------------------------------------------------------------
def require_store(out: Location, where: str = "store") -> Location:
    out = store_location(out, where)
    if not is_remote(out):
        if not Path(out).is_dir():
            raise CausaliqaError(str(out), None, "a score store folder (made by `causaliqa score` or `causaliqa run`)", "no such folder")
        check_layout(out)
    fmt = store_format(out)
    if fmt in (1, 2):
        raise CausaliqaError(str(out), None, "a store in the current format (Delta tables)",
                             f"a store of causaliqa's older Parquet layout: run `causaliqa migrate {out}` once")
    if fmt == 0 or not has_table(out, "scores"):
        raise CausaliqaError(str(out), None, "a score store (a scores table)", "a folder without scores")
    return out


def load_scores(out: Location, columns: list[str] | None = None, version: int | None = None) -> pd.DataFrame:
    """All scored rows of a store, one row per key, sorted by key; ``version``: the scores table as it was then.

    ``columns``: read only these (and the key and provenance columns).
    """
    out = store_location(out, "store")
    frame = load_table(out, "scores", None if columns is None else META + list(columns), version)
    return _tidy(frame if frame is not None else pd.DataFrame(columns=META))


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.drop(columns=[WRITTEN], errors="ignore")
    for col in META:
        if col not in frame.columns:
            frame[col] = pd.Series(dtype=object)
    return frame.sort_values(KEY, kind="stable").reset_index(drop=True)


def store_columns(out: Location, version: int | None = None) -> list[str]:
    """The scores table's columns, from its schema (no data read)."""
    table = _open(store_location(out, "store"), "scores", version)
    return [c for c in _names(table) if c != WRITTEN]


def write_part(out: Location, frame: pd.DataFrame, command: str = "") -> None:
    """A scoring run's rows, committed as they come (one Delta commit: a killed run keeps every part before it)."""
    append_rows(store_location(out), "scores", frame, command)


def write_scores(out: Location, frame: pd.DataFrame, info: dict | None = None, command: str = "") -> None:
    """A whole store from a frame of rows (one per key) and the columns' estimator metadata."""
    out = store_location(out)
    update_table(out, "scores", lambda rows: frame, command, drop_columns=True)
    if info is not None:
        write_estimator_info(out, info)


def data_files(out: Location, name: str = "scores") -> int:
    table = _open(out, name)
    return 0 if table is None else len(table.file_uris())


def compact(out: Location, force: bool = False, drop_rows: pd.DataFrame | None = None, drop_columns: list[str] = ()) -> pd.DataFrame:
    """One row per key in the scores table (a rewrite when some key has several, or ``force``), few files
    (bin-packed when more than ``MAX_FILES``); returns all rows. ``drop_rows`` (keys) and ``drop_columns`` are
    removed in the same rewrite (``--rescore``). Files the log lists but storage lost are forgotten first."""
    out = store_location(out)
    table = _open(out, "scores")
    if table is None:
        return load_scores(out)
    _forget_missing(table)
    dropping = (drop_rows is not None and len(drop_rows)) or bool(drop_columns)
    kept: list[pd.DataFrame] = []

    def fold(rows: pd.DataFrame) -> pd.DataFrame | None:
        merged = _coalesce(rows, KEY)
        if drop_rows is not None and len(drop_rows):
            stale = pd.MultiIndex.from_frame(drop_rows[KEY].astype({"severity": merged["severity"].dtype}))
            merged = merged[~pd.MultiIndex.from_frame(merged[KEY]).isin(stale)]
        merged = merged.drop(columns=[c for c in drop_columns if c in merged.columns])
        kept[:] = [merged]
        return merged if force or dropping or len(merged) < len(rows) else None

    update_table(out, "scores", fold, f"{_command()}: one row per variant", drop_columns=bool(drop_columns))
    if data_files(out) > MAX_FILES:
        _commit(lambda: _open(out, "scores").optimize.compact(commit_properties=_properties(f"{_command()}: fewer files", 0, [])), out, "scores")
    return _tidy(kept[0]) if kept else load_scores(out)


def _forget_missing(table) -> None:
    """Drop the log's entries for data files storage no longer has (delta-rs's file-system check)."""
    try:
        table.repair(dry_run=False, commit_properties=_properties(f"{_command()}: forget missing files", 0, []))
    except Exception:  # nothing to repair, or a store the check cannot list: the read that follows says what is wrong
        pass


def load_failures(out: Location) -> pd.DataFrame:
    frame = load_table(store_location(out), "failures")
    if frame is None:
        return pd.DataFrame(columns=KEY + ["estimator", "path", "reason"])
    return frame.drop(columns=[WRITTEN], errors="ignore").reset_index(drop=True)


def update_failures(out: Location, change) -> None:
    """Rewrite the failures table as ``change(previous failures)`` (one row per variant and estimator)."""
    def apply(rows):
        previous = _coalesce(rows, TABLE_KEYS["failures"]).drop(columns=[WRITTEN]) if rows is not None else \
            pd.DataFrame(columns=KEY + ["estimator", "path", "reason"])
        frame = change(previous)
        if frame is None or (rows is None and frame.empty):
            return None
        return frame.astype({"severity": "int16"}).reset_index(drop=True)

    update_table(store_location(out), "failures", apply, "failures")


def load_mixtures(out: Location) -> pd.DataFrame:
    """The mixtures' membership, in the order it was saved (a Delta table keeps no row order; the analyses' random
    splits follow the members' order, so a store read back gives the same numbers)."""
    frame = load_table(store_location(out), "mixtures")
    if frame is None:
        return pd.DataFrame(columns=["variant", "p_c"] + KEY)
    if ORDER in frame.columns:
        frame = frame.sort_values(ORDER, kind="stable")
    return frame.drop(columns=[WRITTEN, ORDER], errors="ignore").reset_index(drop=True)


ORDER = "member_order"


def save_mixtures(out: Location, frame: pd.DataFrame) -> None:
    """The mixtures' membership (replaces the table's rows)."""
    rows = frame.astype({"severity": "int16"}).reset_index(drop=True).assign(**{ORDER: lambda f: np.arange(len(f), dtype=np.int64)})
    update_table(store_location(out), "mixtures", lambda previous: rows, "mixtures", drop_columns=True)


def load_estimator_info(out: Location, version: int | None = None) -> dict:
    """Column -> its estimator's metadata (estimator, output, higher_is_better, kind, identity); ``version``: of
    the scores table, whose metadata is read as it was when that version was committed."""
    out = store_location(out)
    frame = load_table(out, "estimators", version=_estimators_version(out, version))
    if frame is None:
        return {}
    return {row["column"]: json.loads(row["info"]) for row in frame.to_dict("records")}


def check_estimator_columns(out: Location, columns: list[str], version: int | None = None) -> None:
    """Columns to analyse were written by the store's estimators (a store made with metadata: a column another
    Delta writer added is refused, not analysed as if causaliqa had scored it)."""
    info = load_estimator_info(out, version)
    stranger = [c for c in columns if info and c not in info and c not in META]
    if stranger:
        raise CausaliqaError(f"{table_uri(store_location(out), 'scores')}: {stranger[0]}", None,
                             "a column an estimator of the store wrote (it has no estimator metadata: another program added it)",
                             f"{len(stranger)} such column(s)")


def _estimators_version(out: Location, scores_version: int | None) -> int | None:
    if scores_version is None:
        return None
    scores = _open(out, "scores", scores_version)
    estimators = _open(out, "estimators")
    if scores is None or estimators is None:
        return None
    when = max(h["timestamp"] for h in scores.history(1))
    versions = [h["version"] for h in estimators.history() if h["timestamp"] <= when]
    return max(versions) if versions else 0


def write_estimator_info(out: Location, columns: dict) -> None:
    """Record these columns' metadata (appended: the last record of a column is its metadata)."""
    frame = pd.DataFrame({"column": list(columns), "info": [json.dumps(v, sort_keys=True) for v in columns.values()]})
    append_rows(store_location(out), "estimators", frame, "estimators")


def store_format(out: Location) -> int:
    """3 for Delta stores, 2 for the older Parquet layout with provenance, 1 for older ones without, 0 for a
    store with no tables yet."""
    out = store_location(out)
    if not is_remote(out):
        from causaliqa.scoring import legacy

        if (Path(out) / "scores.parquet").is_file() or (Path(out) / "parts").is_dir() or (Path(out) / "estimators.json").is_file():
            return legacy.store_format(Path(out)) or 2
    return STORE_FORMAT if has_table(out, "scores") or has_table(out, "estimators") else 0


@dataclass(frozen=True)
class Version:
    """One committed version of the scores table."""

    version: int
    when: str
    command: str
    operation: str
    rows: int
    new_columns: tuple[str, ...]


def history(out: Location) -> list[Version]:
    """The scores table's versions, newest first: when, which command, rows written, columns added."""
    out = require_store(out)
    table = _open(out, "scores")
    versions = []
    for entry in table.history():
        metrics = entry.get("operationMetrics") or {}
        rows = entry.get("causaliqa.rows", metrics.get("num_added_rows", metrics.get("num_output_rows", 0)))
        when = pd.Timestamp(int(entry.get("timestamp", 0)), unit="ms", tz="UTC").strftime("%Y-%m-%d %H:%M:%S UTC")
        versions.append(Version(int(entry["version"]), when, entry.get("causaliqa.command", entry.get("clientVersion", "?")),
                                str(entry.get("operation", "?")), int(rows or 0), tuple(json.loads(entry.get("causaliqa.new_columns", "[]")))))
    return versions


def unreachable(out: str, err: Exception, where: str | None = None) -> CausaliqaError:
    return CausaliqaError(where or out, None, "an object store reachable with the credentials in the environment (AWS_ACCESS_KEY_ID, "
                          "AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL; GOOGLE_APPLICATION_CREDENTIALS; AZURE_STORAGE_*)",
                          f"{out}: {error_text(err)}")


def check_layout(out: Path) -> None:
    """The store's own names have the shape the store gives them (each table a folder)."""
    for name in TABLE_KEYS:
        path = Path(out) / name
        if path.exists() and not path.is_dir():
            raise CausaliqaError(str(path), None, f"a folder (the store's {name} table)", "a file: move it out of the store")


def check_store_path(out: Location, where: str = "--out") -> Location:
    """The store can be created and written: a local folder not a file, not inside a file, not read-only, its
    tables folders. An object-storage URI is checked by its first commit."""
    out = store_location(out, where)
    if is_remote(out):
        from deltalake import DeltaTable

        try:
            DeltaTable.is_deltatable(_delta_uri(out, "scores"))
        except OSError as err:
            raise unreachable(out, err, where) from None
        return out
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

    folders = [ancestor] + [out / name / "_delta_log" for name in TABLE_KEYS]
    for folder in folders:  # where the run will write, checked before it changes anything
        if not folder.is_dir():
            continue
        try:
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as err:
            raise CausaliqaError(where, None, "a writable folder for the score store", f"{folder}: {os.strerror(err.errno)}") from None
    return out
