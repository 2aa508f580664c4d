"""One batched pass: decode each image variant once, feed the same batch to every estimator, store rows.

Re-running skips (variant, estimator) pairs that are stored or recorded as failed. Before anything is
scored, the store's provenance is checked against the inputs: a row whose label or source file changed,
or a column whose estimator identity (weights, seed, options) changed, is re-scored with
``rescore=True`` and otherwise stops the run with one line saying what changed.
"""

from __future__ import annotations

import contextlib
import copy
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from causaliqa.data.corrupt import load_variant
from causaliqa.data.datasets import ImageRecord
from causaliqa.errors import CausaliqaError, Interrupted
from causaliqa.estimators.base import Estimator
from causaliqa.scoring.batch import (  # noqa: F401  (resolve_device, auto_batch_size: part of this module's API)
    CPU_BATCH, CUDA_BATCH, PartWriter, Terminated, auto_batch_size, failure_row, resolve_device, score_robustly,
    signals_deferred, stop_on_signals, write_failures,
)
from causaliqa.scoring.provenance import prepare_store
from causaliqa.scoring.ray_backend import RayOptions, check_backend, ray_session, run_groups_ray
from causaliqa.scoring.store import (
    KEY, STORE_FORMAT, check_store_path, compact, load_estimator_info, load_failures, save_mixtures, store_format,
    write_estimator_info,
)
from causaliqa.serialize import Serializable


class VariantDataset(Dataset):
    """Records -> (index, CHW uint8 tensor or None, failure reason)."""

    def __init__(self, records: list[ImageRecord]) -> None:
        self.records = records

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int):
        try:
            array = load_variant(self.records[index])
        except Exception as err:  # unreadable/truncated/unsupported files are recorded, not fatal
            return index, None, f"{type(err).__name__}: {err}"
        return index, torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1))), ""


def _collate(items):
    ok = [(i, t) for i, t, _ in items if t is not None]
    failed = [(i, reason) for i, t, reason in items if t is None]
    indices = [i for i, _ in ok]
    batch = torch.stack([t for _, t in ok]) if ok else torch.empty(0, 3, 224, 224, dtype=torch.uint8)
    return indices, batch, failed


@dataclass(frozen=True)
class ScoreSummary(Serializable):
    """What a scoring run did."""

    json_properties = ('images_per_second', 'steady_images_per_second')

    out: str
    rows: int
    scored: int
    skipped: int
    failed: int
    rescored: int
    columns: tuple[str, ...]
    seconds: float
    first_rows_s: float = float("nan")  # start-up: seconds until the first scored rows came back (models loaded, workers up)
    first_rows: int = 0

    @property
    def images_per_second(self) -> float:
        return self.scored / self.seconds if self.seconds > 0 else float("nan")

    @property
    def steady_images_per_second(self) -> float:
        """Images per second after the first rows came back (start-up left out)."""
        span = self.seconds - self.first_rows_s
        return (self.scored - self.first_rows) / span if span > 0 and self.scored > self.first_rows else float("nan")


@dataclass
class Binding:
    """An estimator and the outputs of it that are kept as columns."""

    estimator: Estimator
    outputs: tuple[str, ...]

    @property
    def columns(self) -> list[str]:
        return [self.estimator.spec.column(o) for o in self.outputs]


def require_labels(records: list[ImageRecord], bindings: list[Binding], where: str) -> None:
    """Outputs that compare a prediction with the label (``correct``) need labelled images: one line otherwise."""
    from causaliqa.data.datasets import UNLABELLED

    unlabelled = sum(r.label == UNLABELLED for r in records)
    if not unlabelled:
        return
    needs = [c for b in bindings for o, c in zip(b.outputs, b.columns) if b.estimator.kinds.get(o) == "binary"]
    if needs:
        raise CausaliqaError(where, "--labels", f"labels for the images, which {', '.join(needs)} compare(s) the prediction with "
                             "(quality scores and confidences need none: drop :correct to score unlabelled images)",
                             f"{unlabelled} of {len(records)} variants without a label")


def default_workers() -> int:
    return max(1, min(8, (os.cpu_count() or 2) // 2))


# ---- what to score ------------------------------------------------------------------------------
def _todo(records: list[ImageRecord], bindings: list[Binding], existing: pd.DataFrame, failures: pd.DataFrame
          ) -> dict[tuple[int, ...], list[ImageRecord]]:
    """Group records by which bindings still lack values (neither stored nor recorded as failed)."""
    failed = {}
    if not failures.empty:
        est_failed = failures[failures["estimator"] != ""]
        for est, frame in est_failed.groupby("estimator"):
            failed[est] = set(map(tuple, frame[KEY].itertuples(index=False, name=None)))
    done: dict[int, set] = {}
    for b_index, binding in enumerate(bindings):
        cols = binding.columns
        known = failed.get(binding.estimator.key, set())
        if existing.empty or not set(cols) <= set(existing.columns):
            done[b_index] = known
            continue
        complete = existing[cols].notna().all(axis=1)
        done[b_index] = set(map(tuple, existing.loc[complete, KEY].itertuples(index=False, name=None))) | known
    groups: dict[tuple[int, ...], list[ImageRecord]] = {}
    for record in records:
        missing = tuple(i for i in range(len(bindings)) if record.key not in done[i])
        if missing:
            groups.setdefault(missing, []).append(record)
    return groups


# ---- the pass -----------------------------------------------------------------------------------
def score_images(
    records: list[ImageRecord],
    bindings: list[Binding],
    out: str | Path,
    *,
    batch_size: int | None = None,
    device: str = "auto",
    workers: int | None = None,
    part_size: int = 512,
    mixtures: list[dict] | None = None,
    progress: bool = True,
    rescore: bool = False,
    backend: str = "local",
    ray: RayOptions | None = None,
) -> ScoreSummary:
    """Score ``records`` with every binding into the store at ``out``; resume where a run stopped.

    Every row is committed to the store's Delta table as it is scored (parts of ``part_size`` rows); another run
    may write the same store at once (its rows land too). Every estimator's weights load before the first image.
    ``backend="ray"`` computes the same rows on a Ray cluster (``ray``: address, actors); this process still
    checks provenance and writes the store, so either backend resumes the other's store.

    >>> import tempfile, numpy as np
    >>> from PIL import Image
    >>> from causaliqa.scoring import load_scores, make_bindings
    >>> folder = Path(tempfile.mkdtemp())
    >>> Image.fromarray(np.full((32, 48, 3), 90, np.uint8)).save(folder / "flat.png")
    >>> record = ImageRecord("flat", str(folder / "flat.png"), label=0)
    >>> summary = score_images([record], make_bindings(["tv"]), folder / "store", workers=0, progress=False)
    >>> summary.scored, float(load_scores(folder / "store")["tv.score"][0])  # a flat image has no variation
    (1, 0.0)
    """
    out = check_store_path(out)
    started = time.perf_counter()
    ray = ray or RayOptions()
    check_backend(backend, ray.address)
    # on Ray, --device names the actors' devices (checked against the cluster); this process loads on CPU to check weights
    torch_device = resolve_device(device) if backend == "local" else torch.device("cpu")
    requested_batch = batch_size
    batch_size = batch_size or auto_batch_size(torch_device)
    _check_unique_columns(bindings)
    shipped = copy.deepcopy(bindings) if backend == "ray" else None  # unloaded: each Ray actor loads its own
    for binding in bindings:  # weights load before the store is touched: a wrong file leaves no empty OUT behind
        binding.estimator.to(torch_device)
        binding.estimator.load_checked(str(binding.estimator.spec.estimator))
    records = sorted({r.key: r for r in records}.values(), key=lambda r: (r.corruption, r.severity, r.image_id))
    existing, shas, dropped = prepare_store(out, records, bindings, rescore)
    _write_metadata(out, bindings, mixtures)
    groups = _todo(records, bindings, existing, load_failures(out))
    total = sum(len(g) for g in groups.values())
    if backend == "ray":  # Ray starts (or is joined) only when there is work
        with ray_session(ray.address) if total else contextlib.nullcontext():
            counts = run_groups_ray(groups, shipped, out, shas, requested_batch, part_size, progress, total, ray, device)
    else:
        counts = _run_groups(groups, bindings, out, shas, torch_device, batch_size, workers, part_size, progress, total)
    with signals_deferred() as got:  # the compaction and the failures stay whole; a signal now waits for them
        frame = compact(out)
        write_failures(out, counts["failures"], frame)
    if got:
        raise Interrupted(counts["scored"], out, got[0], complete=True)
    columns = tuple(c for b in bindings for c in b.columns)
    first_s, first_rows = counts.get("first", (float("nan"), 0))
    return ScoreSummary(str(out), len(frame), counts["scored"], len(records) - total, len(counts["failures"]),
                        max(dropped, 0), columns, time.perf_counter() - started, first_s - started, first_rows)


def _check_unique_columns(bindings: list[Binding]) -> None:
    seen: dict[str, str] = {}
    for binding in bindings:
        for column in binding.columns:
            spec = str(binding.estimator.spec.estimator)
            if column in seen and seen[column] != spec:
                raise CausaliqaError("estimators", None, "estimators that write distinct columns (rename one weights file)",
                                     f"two that both write {column}: {seen[column]} and {spec}")
            seen[column] = spec


def _run_groups(groups, bindings, out, shas, torch_device, batch_size, workers, part_size, progress, total) -> dict:
    from tqdm import tqdm

    writer = PartWriter(out, part_size)
    bar = tqdm(total=total, unit="img", desc="scoring", disable=not progress or total == 0, dynamic_ncols=True)
    try:
        with stop_on_signals():  # the first Ctrl-C / SIGTERM stops the loop; a second one waits for the rows to be kept
            try:
                for missing, group in groups.items():
                    active = [bindings[i] for i in missing]
                    loader = DataLoader(
                        VariantDataset(group), batch_size=batch_size, shuffle=False, collate_fn=_collate,
                        num_workers=default_workers() if workers is None else workers,
                        pin_memory=torch_device.type == "cuda", persistent_workers=False,
                    )
                    for indices, batch, failed in loader:
                        writer.failures += [failure_row(group[i], "", reason) for i, reason in failed]
                        if indices:
                            # one host->device copy per batch (from pinned memory, asynchronous), shared by every estimator
                            batch = batch.to(torch_device, non_blocking=True)
                            frame, est_failures = _score_batch([group[i] for i in indices], batch, active, shas)
                            writer.failures += est_failures
                            writer.add(frame)
                        bar.update(len(indices) + len(failed))
                    writer.flush()
            except (KeyboardInterrupt, Terminated) as err:
                bar.close()
                raise writer.stop(err) from None
    finally:
        bar.close()  # an error's line starts on a line of its own, not after the bar
    return writer.counts()


def _score_batch(records: list[ImageRecord], batch: torch.Tensor, bindings: list[Binding], shas: dict[str, str]
                 ) -> tuple[pd.DataFrame, list[dict]]:
    labels = np.array([r.label for r in records], dtype=np.int64)
    columns: dict[str, np.ndarray] = {
        "image_id": np.array([r.image_id for r in records], dtype=object),
        "corruption": np.array([r.corruption for r in records], dtype=object),
        "severity": np.array([r.severity for r in records], dtype=np.int16),
        "label": labels,
        "input_sha": np.array([shas[r.path] for r in records], dtype=object),
    }
    failures: list[dict] = []
    for binding in bindings:
        values, reasons = score_robustly(binding.estimator, batch, labels)
        for i, reason in reasons.items():
            failures.append(failure_row(records[i], binding.estimator.key, reason))
        for output, column in zip(binding.outputs, binding.columns):
            columns[column] = values[output]
    return pd.DataFrame(columns), failures


def _write_metadata(out: Path, bindings: list[Binding], mixtures: list[dict] | None) -> None:
    info = load_estimator_info(out) if store_format(out) == STORE_FORMAT else {}
    for binding in bindings:
        est = binding.estimator
        identity = est.identity()
        for output, column in zip(binding.outputs, binding.columns):
            info[column] = {"estimator": str(est.spec.estimator), "output": output, "higher_is_better": est.higher_is_better.get(output),
                            "kind": est.kinds.get(output, "score"), "identity": identity}
    write_estimator_info(out, info)
    if mixtures:
        save_mixtures(out, pd.DataFrame(mixtures))
