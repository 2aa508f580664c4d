"""One batched pass: decode each image variant once, feed the same batch to every estimator, store rows.

Re-running skips keys whose columns are all present; only new images or new estimators are scored.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from causaliqa.data.corrupt import corrupt_image, prepare_image
from causaliqa.data.datasets import ImageRecord
from causaliqa.estimators.base import Estimator
from causaliqa.estimators.registry import column_name
from causaliqa.scoring.store import (
    KEY, compact, load_estimator_info, load_failures, load_scores, write_json_atomic, write_parquet_atomic, write_part,
)


def load_variant(record: ImageRecord) -> np.ndarray:
    """Read, prepare (resize 256, crop 224) and corrupt one record: uint8 224x224x3."""
    with Image.open(record.path) as image:
        image.load()
        if not record.generated:
            array = np.asarray(image.convert("RGB"), dtype=np.uint8)
            return array if array.shape[:2] == (224, 224) else prepare_image(image)
        array = prepare_image(image)
    return corrupt_image(array, record.corruption, record.severity, record.image_id)


class VariantDataset(Dataset):
    """Records -> (index, CHW uint8 tensor or None, failure reason)."""

    def __init__(self, records: list[ImageRecord]) -> None:
        self.records = records

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int):
        try:
            array = load_variant(self.records[index])
        except Exception as err:  # unreadable/truncated files are recorded, not fatal
            return index, None, f"{type(err).__name__}: {err}"
        return index, torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1))), ""


def _collate(items):
    ok = [(i, t) for i, t, _ in items if t is not None]
    failed = [(i, reason) for i, t, reason in items if t is None]
    indices = [i for i, _ in ok]
    batch = torch.stack([t for _, t in ok]) if ok else torch.empty(0, 3, 224, 224, dtype=torch.uint8)
    return indices, batch, failed


@dataclass(frozen=True)
class ScoreSummary:
    """What a scoring run did."""

    out: str
    rows: int
    scored: int
    skipped: int
    failed: int
    columns: tuple[str, ...]
    seconds: float

    @property
    def images_per_second(self) -> float:
        return self.scored / self.seconds if self.seconds > 0 else float("nan")

    def to_dict(self) -> dict:
        return {**self.__dict__, "columns": list(self.columns), "images_per_second": self.images_per_second}


@dataclass
class Binding:
    """An estimator and the outputs of it that are kept as columns."""

    estimator: Estimator
    outputs: tuple[str, ...]

    @property
    def columns(self) -> list[str]:
        return [column_name(self.estimator.key, o) for o in self.outputs]


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


CPU_BATCH = 4  # measured (benchmarks/bench_scoring.py): on CPU, batches beyond a few images spill the caches
CUDA_BATCH = 256


def auto_batch_size(device: torch.device) -> int:
    """Images per forward pass when the user does not say: small on CPU, large on a GPU."""
    return CUDA_BATCH if device.type == "cuda" else CPU_BATCH


def default_workers() -> int:
    return max(1, min(8, (os.cpu_count() or 2) // 2))


def _todo(records: list[ImageRecord], bindings: list[Binding], existing: pd.DataFrame) -> dict[tuple[int, ...], list[ImageRecord]]:
    """Group records by which bindings still lack values for them."""
    done: dict[int, set] = {}
    for b_index, binding in enumerate(bindings):
        cols = binding.columns
        if existing.empty or not set(cols) <= set(existing.columns):
            done[b_index] = set()
            continue
        complete = existing[cols].notna().all(axis=1)
        done[b_index] = set(map(tuple, existing.loc[complete, KEY].itertuples(index=False, name=None)))
    groups: dict[tuple[int, ...], list[ImageRecord]] = {}
    for record in records:
        missing = tuple(i for i in range(len(bindings)) if record.key not in done[i])
        if missing:
            groups.setdefault(missing, []).append(record)
    return groups


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
) -> ScoreSummary:
    """Score ``records`` with every binding into the store at ``out``; resume where a run stopped."""
    import time

    from tqdm import tqdm

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    torch_device = resolve_device(device)
    batch_size = batch_size or auto_batch_size(torch_device)
    for binding in bindings:
        binding.estimator.to(torch_device)
    _write_metadata(out, bindings, mixtures)
    records = sorted({r.key: r for r in records}.values(), key=lambda r: (r.corruption, r.severity, r.image_id))
    groups = _todo(records, bindings, load_scores(out))
    total = sum(len(g) for g in groups.values())
    failures: list[dict] = []
    scored = 0
    bar = tqdm(total=total, unit="img", desc="scoring", disable=not progress or total == 0, dynamic_ncols=True)
    for missing, group in groups.items():
        active = [bindings[i] for i in missing]
        loader = DataLoader(
            VariantDataset(group), batch_size=batch_size, shuffle=False, collate_fn=_collate,
            num_workers=default_workers() if workers is None else workers,
            pin_memory=torch_device.type == "cuda", persistent_workers=False,
        )
        buffer: list[pd.DataFrame] = []
        buffered = 0
        for indices, batch, failed in loader:
            failures += [_failure(group[i], reason) for i, reason in failed]
            if indices:
                # one host->device copy per batch (from pinned memory, asynchronous), shared by every estimator
                batch = batch.to(torch_device, non_blocking=True)
                buffer.append(_score_batch([group[i] for i in indices], batch, active))
                buffered += len(indices)
                scored += len(indices)
            bar.update(len(indices) + len(failed))
            if buffered >= part_size:
                write_part(out, pd.concat(buffer, ignore_index=True))
                buffer, buffered = [], 0
        if buffer:
            write_part(out, pd.concat(buffer, ignore_index=True))
    bar.close()
    frame = compact(out)
    _write_failures(out, failures, frame)
    columns = tuple(c for b in bindings for c in b.columns)
    return ScoreSummary(str(out), len(frame), scored, len(records) - total, len(failures), columns, time.perf_counter() - started)


def _score_batch(records: list[ImageRecord], batch: torch.Tensor, bindings: list[Binding]) -> pd.DataFrame:
    labels = np.array([r.label for r in records], dtype=np.int64)
    columns: dict[str, np.ndarray] = {
        "image_id": np.array([r.image_id for r in records], dtype=object),
        "corruption": np.array([r.corruption for r in records], dtype=object),
        "severity": np.array([r.severity for r in records], dtype=np.int16),
        "label": labels,
    }
    for binding in bindings:
        values = binding.estimator.score(batch, labels)
        for output, column in zip(binding.outputs, binding.columns):
            columns[column] = values[output]
    return pd.DataFrame(columns)


def _failure(record: ImageRecord, reason: str) -> dict:
    return {"image_id": record.image_id, "corruption": record.corruption, "severity": record.severity, "path": record.path, "reason": reason}


def _write_failures(out: Path, failures: list[dict], scored: pd.DataFrame) -> None:
    previous = load_failures(out)
    frame = pd.concat([previous, pd.DataFrame(failures, columns=previous.columns)], ignore_index=True)
    if not scored.empty and not frame.empty:
        done = set(map(tuple, scored[KEY].itertuples(index=False, name=None)))
        frame = frame[[tuple(k) not in done for k in frame[KEY].itertuples(index=False, name=None)]]
    frame = frame.drop_duplicates(KEY, keep="last")
    if len(frame) or (out / "failures.parquet").exists():
        write_parquet_atomic(frame.astype({"severity": "int16"}), out / "failures.parquet")


def _write_metadata(out: Path, bindings: list[Binding], mixtures: list[dict] | None) -> None:
    info = load_estimator_info(out)
    for binding in bindings:
        est = binding.estimator
        for output, column in zip(binding.outputs, binding.columns):
            info[column] = {"estimator": est.name, "output": output, "higher_is_better": est.higher_is_better.get(output), "kind": est.kinds.get(output, "score")}
    write_json_atomic(info, out / "estimators.json")
    if mixtures:
        write_parquet_atomic(pd.DataFrame(mixtures).astype({"severity": "int16"}), out / "mixtures.parquet")
