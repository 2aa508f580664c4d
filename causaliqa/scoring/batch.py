"""What both backends share: the device, scoring one batch robustly, and the failure records.

The local pass (``run.py``) and the Ray actors (``ray_backend.py``) call the same functions here, so a batch
gives the same values and the same failure reasons wherever it is scored.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pandas as pd
import torch

from causaliqa.data.datasets import ImageRecord
from causaliqa.errors import CausaliqaError, Interrupted
from causaliqa.estimators.base import Estimator
from causaliqa.scoring.store import KEY, update_failures, write_part


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so a run stops like Ctrl-C (what was scored is kept)."""


def resolve_device(device: str, where: str = "--device", here: bool = True) -> torch.device:
    """``auto``, ``cpu``, ``cuda``, ``cuda:N``; a GPU the machine lacks is a one-line error.

    ``here=False`` checks the name only (on Ray the device is the actors', checked against the cluster).
    """
    if device == "auto":
        return torch.device("cuda" if here and torch.cuda.is_available() else "cpu")
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        parsed = None
    if parsed is None or parsed.type not in ("cpu", "cuda"):
        raise CausaliqaError(where, None, "auto, cpu, cuda or cuda:N", repr(device))
    if parsed.type == "cuda" and here:
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0 or (parsed.index is not None and parsed.index >= count):
            raise CausaliqaError(where, None, f"a device this machine has (cpu{', cuda:0-' + str(count - 1) if count else '; no CUDA GPU found'})", repr(device))
    return parsed


CPU_BATCH = 4  # measured (benchmarks/bench_scoring.py): on CPU, batches beyond a few images spill the caches
CUDA_BATCH = 256


def auto_batch_size(device: torch.device) -> int:
    """Images per forward pass when the user does not say: small on CPU, large on a GPU."""
    return CUDA_BATCH if device.type == "cuda" else CPU_BATCH



def score_robustly(estimator: Estimator, batch: torch.Tensor, labels: np.ndarray) -> tuple[dict[str, np.ndarray], dict[int, str]]:
    """Score a batch; if the estimator raises, score image by image so one bad image fails alone.

    Returns the outputs (NaN where an image failed) and image index -> reason, non-finite scores included.
    """
    from causaliqa.estimators.preprocess import apply_preprocess

    batch = apply_preprocess(estimator.preprocess, batch)
    try:
        values = estimator.score(batch, labels)
        reasons: dict[int, str] = {}
    except Exception:
        values, reasons = score_one_by_one(estimator, batch, labels)
    for output, array in values.items():
        if estimator.kinds.get(output) == "score":
            for i in np.flatnonzero(~np.isfinite(np.asarray(array, dtype=np.float64))):
                reasons.setdefault(int(i), f"{output} is not a finite number")
    return values, reasons


def score_one_by_one(estimator, batch, labels):
    rows, reasons = [], {}
    for i in range(len(batch)):
        try:
            rows.append(estimator.score(batch[i:i + 1], labels[i:i + 1]))
        except Exception as err:
            reasons[i] = f"{type(err).__name__}: {str(err)[:200]}"
            rows.append(None)
    values = {}
    for output in estimator.outputs:  # NaN where an image failed (correctness too: never a fake 0 or 1)
        values[output] = np.asarray([r[output][0] if r is not None and output in r else np.nan for r in rows], dtype=np.float64)
    return values, reasons


def failure_row(record: ImageRecord, estimator: str, reason: str) -> dict:
    return {"image_id": record.image_id, "corruption": record.corruption, "severity": record.severity,
            "estimator": estimator, "path": record.path, "reason": reason}


def write_failures(out, failures: list[dict], scored: pd.DataFrame | None) -> None:
    """Add this run's failures; an unreadable image that has since been scored is no longer one."""
    def change(previous: pd.DataFrame) -> pd.DataFrame | None:
        if not failures and (scored is None or previous.empty):
            return None
        frame = pd.concat([previous, pd.DataFrame(failures, columns=previous.columns)], ignore_index=True)
        inputs = frame["estimator"] == ""
        if scored is not None and not scored.empty and inputs.any():
            done = pd.MultiIndex.from_frame(scored[KEY])
            frame = frame[~(inputs & pd.MultiIndex.from_frame(frame[KEY]).isin(done))]
        return frame.drop_duplicates(KEY + ["estimator"], keep="last")

    update_failures(out, change)


class PartWriter:
    """Rows on their way into the store: buffered, written as parts of ``part_size`` rows, counted; both backends'
    one way to keep what was scored when a run stops (``stop`` writes the buffer and the failures, then says how
    much was kept)."""

    def __init__(self, out, part_size: int) -> None:
        self.out, self.part_size = out, part_size
        self.buffer: list[pd.DataFrame] = []
        self.buffered = self.scored = self.written = 0
        self.failures: list[dict] = []
        self.first: tuple[float, int] | None = None  # when the first scored rows came back, and how many

    def add(self, frame: pd.DataFrame) -> None:
        import time

        self.buffer.append(frame)
        self.buffered += len(frame)
        self.scored += len(frame)
        if self.first is None:
            self.first = (time.perf_counter(), len(frame))
        if self.buffered >= self.part_size:
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            write_part(self.out, pd.concat(self.buffer, ignore_index=True))
            self.written += self.buffered
            self.buffer, self.buffered = [], 0

    def keep(self) -> None:
        """Write the buffered rows and the failures so far (a run that stops keeps what it scored)."""
        self.flush()
        write_failures(self.out, self.failures, None)

    def stop(self, err: BaseException) -> Interrupted:
        """Keep what was scored; the ``Interrupted`` to raise for Ctrl-C / SIGTERM. A second Ctrl-C or SIGTERM while
        the rows are written waits for them (an impatient user's double Ctrl-C had killed the process mid-write)."""
        import signal

        with signals_deferred():
            self.keep()
        signum = signal.SIGINT if isinstance(err, KeyboardInterrupt) else signal.SIGTERM
        return Interrupted(self.written, self.out, int(signum))

    def counts(self) -> dict:
        return {"scored": self.scored, "failures": self.failures, **({"first": self.first} if self.first else {})}


@contextlib.contextmanager
def signals_deferred():
    """Ctrl-C and SIGTERM wait while the block writes what must stay whole (the last rows, a compaction); the
    signals that came are listed in what it yields. Outside the main thread it changes nothing."""
    import signal
    import threading

    got: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield got
        return

    def remember(signum, frame):
        got.append(signum)

    previous = {s: signal.signal(s, remember) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield got
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def stop_on_signals():
    """The first Ctrl-C or SIGTERM stops a run (KeyboardInterrupt / ``Terminated`` in the main thread); later ones
    are remembered and wait, so the rows being kept are written whole (a double Ctrl-C had killed the flush).
    Outside the main thread it changes nothing."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stopping: list[int] = []

    def on_signal(signum, frame):
        if stopping:
            return
        stopping.append(signum)
        raise KeyboardInterrupt() if signum == signal.SIGINT else Terminated()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


