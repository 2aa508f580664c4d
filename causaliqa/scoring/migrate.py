"""`causaliqa migrate OUT`: a store of the older Parquet layout, rewritten as the current Delta tables.

The old files are read through the old reader (so a damaged one stops the migration with its one-line message
before anything is written), the tables are written, and only then are the old files moved into
``OUT/pre-delta-<time>/`` (kept, not deleted). Stopped half-way, the old files are still in place and the same
command starts over.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from causaliqa.errors import CausaliqaError
from causaliqa.scoring import legacy
from causaliqa.scoring.store import (
    STORE_FORMAT, has_table, is_remote, load_failures, load_mixtures, load_scores, save_mixtures, store_columns, store_format,
    store_location, update_failures, write_estimator_info, write_scores,
)

OLD_NAMES = ("scores.parquet", "parts", "failures.parquet", "mixtures.parquet", "estimators.json", ".lock")
NO_PROVENANCE = "unknown: migrated from a store without input fingerprints"


def _keep_old_files(out: Path, kept: Path) -> None:
    """Move the old layout's files out of the way (a signal waits for the moves; a kill leaves a store that the same
    command finishes, without reading the old files again)."""
    from causaliqa.scoring.batch import signals_deferred

    with signals_deferred():
        for name in OLD_NAMES:
            if (out / name).exists():
                (out / name).rename(kept / name)


@dataclass(frozen=True)
class Migration:
    out: str
    rows: int
    columns: int
    failures: int
    mixtures: int
    kept_in: str


def migrate_store(out: str | Path) -> Migration:
    out = store_location(out, "OUT")
    if is_remote(out) or not Path(out).is_dir():
        raise CausaliqaError(str(out), None, "a local store folder of the older layout (scores.parquet, parts/)", "no such folder")
    fmt = store_format(out)
    if fmt == STORE_FORMAT:
        raise CausaliqaError(str(out), None, "a store of the older layout to migrate", "a store already in the current format")
    if fmt == 0:
        raise CausaliqaError(str(out), None, "a store of the older layout (scores.parquet or parts/)", "a folder without scores")
    legacy.check_layout(out)
    started = sorted(Path(out).glob("pre-delta-*"))
    if started and has_table(out, "scores"):  # stopped while moving the old files: finish that
        _keep_old_files(Path(out), started[-1])
        return Migration(str(out), len(load_scores(out)), len([c for c in store_columns(out) if c not in legacy.META]),
                         len(load_failures(out)), len(load_mixtures(out)), str(started[-1]))
    scores = legacy.load_scores(out)
    failures, mixtures = legacy.load_failures(out), legacy.load_mixtures(out)
    info = legacy.load_estimator_info(out)
    if fmt == 1:  # no fingerprints: a scoring run sees every input as changed and asks for --rescore
        scores["input_sha"] = NO_PROVENANCE
    write_scores(out, scores, command="causaliqa migrate")
    write_estimator_info(out, info)
    if len(failures):
        update_failures(out, lambda previous: failures)
    if len(mixtures):
        save_mixtures(out, mixtures)
    kept = Path(out) / f"pre-delta-{time.strftime('%Y%m%d-%H%M%S')}"
    kept.mkdir()
    _keep_old_files(Path(out), kept)
    return Migration(str(out), len(scores), len([c for c in scores.columns if c not in legacy.META]), len(failures), len(mixtures), str(kept))
