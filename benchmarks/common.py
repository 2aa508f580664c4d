"""Shared harness: machine description, median-of-repeats timing, result JSON, a printed table."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from importlib import metadata
from pathlib import Path

from causaliqa.atomic import write_text_atomic

RESULTS = Path(__file__).resolve().parent / "results"
LIBRARIES = ("numpy", "scipy", "statsmodels", "scikit-learn", "networkx", "torch", "pyiqa", "pandas")


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        gpu = None
    return {"cpu": cpu, "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "gpu": gpu, "python": sys.version.split()[0], "platform": platform.platform()}


def versions() -> dict:
    out = {}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def timed(func, repeats: int = 3) -> tuple[float, object]:
    """Median wall time of ``repeats`` calls, and the last call's result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def report(name: str, sizes: dict, rows: list[dict]) -> dict:
    """Print a table and write ``results/<name>.json``; each row: workload, ours_s, reference_s, ratio, target, met
    (an absolute target, such as the paper-size analysis's wall time, has no reference_s or ratio)."""
    RESULTS.mkdir(exist_ok=True)
    data = {"benchmark": name, "machine": machine(), "versions": versions(), "sizes": sizes, "rows": rows,
            "when": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    write_text_atomic(RESULTS / f"{name}.json", json.dumps(data, indent=2, default=float))
    print(f"\n{name} ({data['machine']['cpu']}, {data['machine']['cores']} cores)")
    for row in rows:
        extra = {k: v for k, v in row.items() if k not in ("workload", "ours_s", "reference_s", "ratio", "target", "met")}
        versus = f"reference {row['reference_s']:.4g} s, ratio {row['ratio']:.3g}x " if "reference_s" in row else ""
        print(f"  {row['workload']}: causaliqa {row['ours_s']:.4g} s, {versus}"
              f"(target {row['target']}): {'met' if row['met'] else 'MISSED'} {extra if extra else ''}")
    return data


def shared_images(bench: str, description: str, default_images: int):
    """(parsed --images, the shared ImageNet-val folder): a benchmark on real images stops when ../shared is absent."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--images", type=int, default=default_images)
    args = parser.parse_args()
    root = Path(__file__).resolve().parents[2] / "shared" / "data" / "imagenet-val-1300"
    if not (root / "labels.csv").exists():
        raise SystemExit(f"{bench} needs the shared images at {root}")
    return args, root


def s3_server(port: int = 0):
    """A moto S3 server on 127.0.0.1 (its own process: delta-rs holds the GIL in some calls, which would stall a
    server thread in this one), with the standard AWS variables set to reach it; returns (process, endpoint)."""
    import socket
    import subprocess

    if port == 0:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update({"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
                       "AWS_ENDPOINT_URL": endpoint, "AWS_ALLOW_HTTP": "true"})
    return server, endpoint
