"""Provenance: does the store still match its inputs and estimators?

Every row carries its label and a hash of its source image file; every column its estimator's identity
(weights hash or tag, seed, options). Before a run scores anything, rows whose label or input changed and
columns whose identity changed are found; the run re-scores exactly those (``rescore``) or stops with one
line saying what changed. Stores written before provenance existed are read-only for scoring.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from causaliqa.data.datasets import ImageRecord
from causaliqa.errors import CausaliqaError
from causaliqa.scoring.store import KEY, STORE_FORMAT, compact, load_estimator_info, load_scores, store_format, update_failures


def _sha_file(path: str) -> str:
    digest = hashlib.blake2b(digest_size=16)
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as err:
        return f"unreadable:{type(err).__name__}"
    return digest.hexdigest()


def fingerprint_inputs(records: list[ImageRecord]) -> dict[str, str]:
    """Source file -> content hash (threads: hashlib releases the GIL on large buffers)."""
    paths = sorted({r.path for r in records})
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(paths, pool.map(_sha_file, paths)))


def _records_frame(records: list[ImageRecord], shas: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({
        "image_id": [r.image_id for r in records], "corruption": [r.corruption for r in records],
        "severity": np.array([r.severity for r in records], dtype=np.int16),
        "label_now": np.array([r.label for r in records], dtype=np.int64), "sha_now": [shas[r.path] for r in records],
    })


def stale_rows(existing: pd.DataFrame, wanted: pd.DataFrame) -> pd.DataFrame:
    """Stored rows of the wanted keys whose label or input no longer match, with what changed."""
    if existing.empty:
        return pd.DataFrame(columns=KEY + ["change"])
    joined = existing[KEY + ["label", "input_sha"]].merge(wanted, on=KEY, how="inner")
    label_changed = joined["label"].astype("int64") != joined["label_now"]
    input_changed = joined["input_sha"].astype(str) != joined["sha_now"]
    joined["change"] = np.where(input_changed, "input file changed", "label changed")
    return joined.loc[label_changed | input_changed, KEY + ["change"]]


def stale_columns(bindings: list, info: dict) -> dict[str, str]:
    """Column -> what changed, for columns whose stored estimator identity differs from this run's."""
    changed = {}
    for binding in bindings:
        identity = binding.estimator.identity()
        for column in binding.columns:
            stored = info.get(column, {}).get("identity")
            if stored is not None and stored != identity:
                what = [k for k in dict.fromkeys([*identity, *stored]) if stored.get(k) != identity.get(k)]
                changed[column] = "; ".join(f"{k} changed ({_describe(k, stored)} -> {_describe(k, identity)})" for k in what)
    return changed


def _describe(key: str, identity: dict) -> str:
    if key == "weights":
        return _short(identity)
    value = identity.get(key)
    return "none" if value in (None, "") else str(value)[:40]


def _short(identity: dict) -> str:
    w = identity.get("weights", {})
    return next((f"{k} {str(v)[:12]}" for k, v in w.items()), "?")


def _explain_stale(out: Path, rows: pd.DataFrame, columns: dict[str, str]) -> str:
    parts = []
    if len(rows):
        first = rows.iloc[0]
        counts = rows["change"].value_counts().to_dict()
        parts.append(f"{len(rows)} stored rows no longer match their inputs ({', '.join(f'{n} {c}' for c, n in counts.items())}; "
                     f"first {first['image_id']} {first['corruption']} {first['severity']})")
    for column, what in columns.items():
        parts.append(f"column {column}: {what}")
    return "; ".join(parts) + ". Pass --rescore to re-score exactly these, or use another --out (or rename the weights file)"


def prepare_store(out, records: list[ImageRecord], bindings: list, rescore: bool) -> tuple[pd.DataFrame, dict, int]:
    """Check provenance; with ``rescore`` drop stale rows/columns. Returns (rows, input hashes, rows dropped)."""
    fmt = store_format(out)
    shas = fingerprint_inputs(records)
    wanted = _records_frame(records, shas)
    if fmt not in (0, STORE_FORMAT):
        raise CausaliqaError(str(out), None, "a store in the current format (Delta tables)",
                             f"a store of causaliqa's older Parquet layout: run `causaliqa migrate {out}` once, then score again")
    existing = load_scores(out)
    rows = stale_rows(existing, wanted)
    columns = stale_columns(bindings, load_estimator_info(out))
    if (len(rows) or columns) and not rescore:
        raise CausaliqaError(str(out), None, "stored values that match their inputs and estimators", _explain_stale(out, rows, columns))
    if len(rows) or columns:
        existing = compact(out, drop_rows=rows, drop_columns=list(columns))
        _drop_failures(out, rows, [b.estimator.key for b in bindings if set(b.columns) & set(columns)])
    return existing, shas, len(rows)


def _drop_failures(out, rows: pd.DataFrame, estimators: list[str]) -> None:
    def change(failures: pd.DataFrame) -> pd.DataFrame | None:
        if failures.empty:
            return None
        keep = ~failures["estimator"].isin(estimators)
        if len(rows):
            keep &= ~pd.MultiIndex.from_frame(failures[KEY]).isin(pd.MultiIndex.from_frame(rows[KEY].astype({"severity": failures["severity"].dtype})))
        return failures[keep]

    update_failures(out, change)
