"""Distributed scoring on Ray Data: the rows of the local pass, computed on a cluster, written by the driver.

Stages (one Ray Data pipeline)::

    records -> decode + corrupt   CPU tasks spread over the cluster (deterministic per image, corruption, severity)
            -> score              an actor pool; each actor loads every estimator once (one GPU per actor on GPU
                                  clusters, CPU actors otherwise) and scores each batch with the same code as the
                                  local pass (``score_robustly``)
            -> driver             commits the rows to the store's Delta table as parts (one commit each), failures and
                                  metadata exactly as the local pass does

Only row numbers, pixels and scores travel: keys, labels and input hashes stay with the driver, so a row is
stored with the provenance the driver checked. The driver writes each row once (it remembers the row numbers it
wrote): a task or actor that Ray retries never duplicates a row, and a row lost for good is simply not stored,
so the next run (on either backend) scores it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from causaliqa.data.datasets import ImageRecord
from causaliqa.errors import CausaliqaError
from causaliqa.scoring.batch import (
    CPU_BATCH, CUDA_BATCH, PartWriter, Terminated, failure_row, resolve_device, score_robustly, stop_on_signals,
)
from causaliqa.scoring.plan import DECODE_CPUS, actor_layout

BACKENDS = ("local", "ray")
DECODE_BATCH = 8  # images per decode task: small, so the actor pool is fed early and retries redo little
ACTOR_CALL = 32  # rows per actor call at least: Ray's per-call cost is paid once per 32 rows, not per CPU batch of 4
DECODE_MEMORY = 640 * 2**20  # bytes a decode task reserves: a worker peaked at 416 MiB (imports, full-size JPEGs, corruption)


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide: ``address`` None starts a local Ray on this machine; ``actors``/``cpus_per_actor`` None
    take ``plan.actor_layout``'s defaults (one actor per GPU; on CPUs, actors of up to 4 CPUs leaving a quarter of
    the cluster to decoding); ``causaliqa plan`` suggests a balance for a given experiment."""

    address: str | None = None
    actors: int | None = None
    cpus_per_actor: float | None = None


def check_backend(backend: str, address: str | None, where: str = "--backend") -> None:
    """A known backend, Ray importable when asked for, an address only with Ray: checked before any work."""
    if backend not in BACKENDS:
        raise CausaliqaError(where, None, " or ".join(BACKENDS), repr(backend))
    if backend == "local":
        if address:
            raise CausaliqaError(where, None, "--address only with --backend ray", f"--address {address} with the local backend")
        return
    try:
        import ray  # noqa: F401
        import ray.data  # noqa: F401
    except ImportError as err:
        raise CausaliqaError(where, None, "Ray Data installed for --backend ray (pip install 'causaliqa[ray]')",
                             f"not importable ({err})") from None
    if address and not (address == "auto" or address == "local" or address.startswith("ray://") or ":" in address):
        raise CausaliqaError(where.replace("--backend", "--address"), None, "auto, ray://HOST:PORT or HOST:PORT", repr(address))
    check_reachable(address)


def check_reachable(address: str | None) -> None:
    """A cluster address something answers on (seconds, where Ray itself would retry for minutes)."""
    import ray

    target = None if ray.is_initialized() else _cluster_address(address)
    if target is not None and not _reachable(target):
        raise CausaliqaError("--address", None, "a running Ray cluster (ray start --head on the head node)",
                             f"{address!r}: nothing answers at {target}")


@contextlib.contextmanager
def ray_session(address: str | None):
    """Connect to a cluster (``auto``, HOST:PORT, ray://HOST:PORT) or start a private one on this machine (None).

    A Ray this process already joined is used as is. Shuts down only what it started.
    """
    import ray

    if ray.is_initialized():
        yield
        return
    check_reachable(address)
    try:  # "local" starts a new instance even where a stale /tmp/ray/ray_current_cluster names a dead one
        ray.init(address=address or "local", logging_level="ERROR", log_to_driver=False, include_dashboard=False)
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise CausaliqaError("--address", None, "a running Ray cluster (ray start --head on the head node)",
                             f"{address!r}: {str(err).splitlines()[0][:200]}") from None
    try:
        yield
    finally:
        ray.shutdown()


def _cluster_address(address: str | None) -> str | None:
    """HOST:PORT that ``address`` means, or None when Ray starts locally."""
    if address is None or address == "local":
        return None
    if address == "auto":
        address = os.environ.get("RAY_ADDRESS") or _read_text("/tmp/ray/ray_current_cluster")
        if not address:
            raise CausaliqaError("--address", None, "a cluster started on this machine by `ray start --head` (or RAY_ADDRESS)",
                                 "auto, but none is recorded")
    return address.removeprefix("ray://")


def _read_text(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def _reachable(host_port: str, seconds: float = 5.0) -> bool:
    import socket

    host, _, port = host_port.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=seconds):
            return True
    except (OSError, ValueError):
        return False


# ---- the stages (run in Ray workers) ---------------------------------------------------------------
def decode_batch(batch: dict) -> dict:
    """Rows -> pixels (uint8 N x 224 x 224 x 3) or the reason a file could not be read."""
    from causaliqa.data.corrupt import CROP, load_variant

    n = len(batch["row"])
    images = np.zeros((n, CROP, CROP, 3), np.uint8)
    reasons = []
    for i in range(n):
        record = ImageRecord(str(batch["image_id"][i]), str(batch["path"][i]), int(batch["label"][i]),
                             str(batch["corruption"][i]), int(batch["severity"][i]), bool(batch["generated"][i]))
        try:
            images[i] = load_variant(record)
            reasons.append("")
        except Exception as err:  # unreadable/truncated files are recorded, as in the local pass
            reasons.append(f"{type(err).__name__}: {err}")
    return {"row": batch["row"], "group": batch["group"], "label": batch["label"], "image": images,
            "reason": np.array(reasons, dtype=object)}


class Scorer:
    """An actor: every estimator loaded once, on this actor's GPU if it has one."""

    def __init__(self, bindings: list, groups: list[tuple[int, ...]], identities: list[dict], cwd: str, threads: int,
                 batch_size: int, device: str) -> None:
        import torch

        torch.set_num_threads(max(1, threads))
        self.device = resolve_device(device)  # the GPU Ray gave this actor (CUDA_VISIBLE_DEVICES), or the CPU
        self.bindings, self.groups, self.batch_size = bindings, groups, batch_size
        previous = os.getcwd()
        with contextlib.suppress(OSError):
            os.chdir(cwd)  # relative weights paths mean what they meant to the driver
        try:
            for binding, identity in zip(bindings, identities):
                binding.estimator.to(self.device)
                binding.estimator.load_checked(str(binding.estimator.spec.estimator))
                if binding.estimator.identity() != identity:
                    raise RuntimeError(f"{binding.estimator.spec.estimator}: this node's weights differ from the driver's")
        finally:
            os.chdir(previous)

    def __call__(self, batch: dict) -> dict:
        n = len(batch["row"])
        columns = {c: np.full(n, np.nan) for b in self.bindings for c in b.columns}
        failures = [[] for _ in range(n)]
        readable = np.flatnonzero(batch["reason"] == "")
        groups = np.asarray(batch["group"])
        for group in np.unique(groups[readable]):
            same = readable[groups[readable] == group]
            for start in range(0, len(same), self.batch_size):  # the device's batch size, as the local pass
                self._score(batch, same[start:start + self.batch_size], int(group), columns, failures)
        return {"row": batch["row"], "group": batch["group"], "reason": batch["reason"], **columns,
                "failures": np.array([json.dumps(f) if f else "" for f in failures], dtype=object)}

    def _score(self, batch: dict, idx: np.ndarray, group: int, columns: dict, failures: list) -> None:
        """One device batch of one group (rows lacking the same estimators), into ``columns`` and ``failures``."""
        import torch

        images = torch.from_numpy(np.ascontiguousarray(batch["image"][idx].transpose(0, 3, 1, 2))).to(self.device)
        labels = np.asarray(batch["label"][idx], dtype=np.int64)
        for b_index in self.groups[group]:
            binding = self.bindings[b_index]
            values, reasons = score_robustly(binding.estimator, images, labels)
            for i, reason in reasons.items():
                failures[idx[i]].append([binding.estimator.key, reason])
            for output, column in zip(binding.outputs, binding.columns):
                columns[column][idx] = np.asarray(values[output], dtype=np.float64)


# ---- the driver -----------------------------------------------------------------------------------
def _items(groups: dict[tuple[int, ...], list[ImageRecord]]) -> tuple[list[dict], list[ImageRecord], list[tuple[int, ...]]]:
    rows, records, missing = [], [], list(groups)
    for g, group in enumerate(missing):
        for record in groups[group]:
            rows.append({"row": len(records), "group": g, "image_id": record.image_id, "path": os.path.abspath(record.path),
                         "label": int(record.label), "corruption": record.corruption, "severity": int(record.severity),
                         "generated": bool(record.generated)})
            records.append(record)
    return rows, records, missing


def _layout(options: RayOptions, device: str = "auto"):
    """The actor layout on this cluster; ``device`` auto uses its GPUs, cpu none, cuda requires them."""
    import ray

    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    if device not in ("auto", "cpu") and not gpus:
        raise CausaliqaError("--device", None, "auto or cpu on a Ray cluster without GPUs (the actors' device)", repr(device))
    node_cpus = max((float(n["Resources"].get("CPU", 0)) for n in ray.nodes() if n.get("Alive")), default=1.0)
    return actor_layout(float(resources.get("CPU", 1)), 0 if device == "cpu" else gpus, options.actors, options.cpus_per_actor,
                        node_cpus)


def build_pipeline(items: list[dict], bindings: list, missing: list, batch_size: int | None, options: RayOptions,
                   device: str = "auto"):
    """The Ray Data dataset of scored rows (lazy: nothing runs until it is iterated).

    ``bindings`` are not loaded (what travels is the recipe, not the driver's weights); each actor loads them and
    checks that its weights have the identity the driver stored.
    """
    import ray.data

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # the driver's own bar counts rows written
    for name in ("ray", "ray.data"):  # Ray Data's INFO/WARNING lines (plans, stats) would bury the run's own output
        logging.getLogger(name).setLevel(logging.ERROR)
    layout = _layout(options, device)
    batch_size = batch_size or (CUDA_BATCH if layout.gpus_per_actor else CPU_BATCH)  # per device, as the local pass
    call_size = max(batch_size, ACTOR_CALL)  # Ray hands an actor this many rows a call; it scores them batch by batch
    identities = [b.estimator.identity() for b in bindings]
    blocks = max(1, min(len(items) // DECODE_BATCH, 10_000))
    dataset = ray.data.from_items(items, override_num_blocks=blocks)
    # decode tasks reserve their memory, which also keeps them apart from the actors (Ray fuses stages whose
    # resources match): every CPU of the cluster decodes, whatever the number of actors
    decoded = dataset.map_batches(decode_batch, batch_size=DECODE_BATCH, num_cpus=DECODE_CPUS, memory=DECODE_MEMORY)
    return decoded.map_batches(
        Scorer, batch_size=call_size, compute=ray.data.ActorPoolStrategy(size=layout.actors), num_gpus=layout.gpus_per_actor,
        num_cpus=layout.cpus_per_actor,
        fn_constructor_args=(bindings, missing, identities, os.getcwd(), layout.threads, batch_size,
                             "cuda" if layout.gpus_per_actor else "cpu"),
    )


def run_groups_ray(groups, bindings, out: Path, shas: dict, batch_size: int | None, part_size: int, progress: bool,
                   total: int, options: RayOptions, device: str = "auto") -> dict:
    """Score ``groups`` on Ray; the driver writes parts of ``part_size`` rows. Same result as ``_run_groups``."""
    from tqdm import tqdm

    items, records, missing = _items(groups)
    writer = PartWriter(out, part_size)
    done: set[int] = set()
    if not items:
        return writer.counts()
    bar = tqdm(total=total, unit="img", desc="scoring (ray)", disable=not progress, dynamic_ncols=True)
    try:
        with stop_on_signals():  # as the local pass: a second signal waits for the kept rows
            try:
                pipeline = build_pipeline(items, bindings, missing, batch_size, options, device)
                for batch in pipeline.iter_batches(batch_size=None, batch_format="pandas", prefetch_batches=1):
                    batch = batch[~batch["row"].isin(done)]  # a retried task's rows, already written
                    done.update(batch["row"].tolist())
                    frames, failures = _rows_of(batch, records, bindings, missing, shas)
                    writer.failures += failures
                    for frame in frames:
                        writer.add(frame)
                    bar.update(len(batch))
                writer.flush()
            except (KeyboardInterrupt, Terminated) as err:
                bar.close()
                raise writer.stop(err) from None
            except CausaliqaError:
                raise
            except Exception as err:  # a worker's error that Ray gave up on: what was written stays, the rest is for resume
                bar.close()
                writer.keep()
                raise CausaliqaError(str(out), None, "a Ray run that finishes (rows written so far are kept; run again to resume)",
                                     f"{type(err).__name__}: {_last_line(err)}") from None
    finally:
        bar.close()
    return writer.counts()


def _last_line(err: Exception) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return (lines[-1] if lines else "")[:300]


def _rows_of(batch: pd.DataFrame, records: list[ImageRecord], bindings: list, missing: list, shas: dict
             ) -> tuple[list[pd.DataFrame], list[dict]]:
    """One scored batch -> store frames (one per group: only that group's columns) and failure records."""

    failures = []
    unreadable = batch["reason"] != ""
    for row, reason in zip(batch.loc[unreadable, "row"], batch.loc[unreadable, "reason"]):
        failures.append(failure_row(records[int(row)], "", reason))
    for row, text in zip(batch.loc[~unreadable, "row"], batch.loc[~unreadable, "failures"]):
        for estimator, reason in json.loads(text) if text else []:
            failures.append(failure_row(records[int(row)], estimator, reason))
    scored = batch[~unreadable]
    frames = []
    groups = scored["group"].to_numpy(dtype=np.int64)
    for group in np.unique(groups):
        part = scored[groups == group]
        chosen = [records[int(r)] for r in part["row"]]
        columns = {
            "image_id": np.array([r.image_id for r in chosen], dtype=object),
            "corruption": np.array([r.corruption for r in chosen], dtype=object),
            "severity": np.array([r.severity for r in chosen], dtype=np.int16),
            "label": np.array([r.label for r in chosen], dtype=np.int64),
            "input_sha": np.array([shas[r.path] for r in chosen], dtype=object),
        }
        for b_index in missing[int(group)]:
            for column in bindings[b_index].columns:
                columns[column] = part[column].to_numpy(dtype=np.float64)
        frames.append(pd.DataFrame(columns))
    return frames, failures

