"""Per-stage costs of the scoring pipeline on ONE core, the inputs of `causaliqa plan`.

decode (read a real ImageNet JPEG, resize 256, crop 224), each of the 15 corruptions at severities 1, 3 and 5
(with the JPEG round trip the pass applies), and each estimator's forward pass at the CPU batch size, all with one
torch thread. GPU figures are measured only where a CUDA GPU is present (batch 256); elsewhere they are written as
"not measured here". Writes results/stages.json. Needs ../shared (images, BRISQUE/NIQE parameter files).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from causaliqa.data.corrupt import CORRUPTIONS, corrupt_image, prepare_image
from causaliqa.data.datasets import read_imagenet_val
from causaliqa.scoring.batch import CPU_BATCH, CUDA_BATCH
from causaliqa.scoring.bindings import make_bindings
from common import report, shared_images

SHARED = Path(__file__).resolve().parents[2] / "shared"
SEVERITIES = (1, 3, 5)


def estimator_specs() -> list[str]:
    w = SHARED / "weights"
    return ["tv", f"iqa:brisque@{w / 'brisque_svm_weights.pth'}", f"iqa:niqe@{w / 'niqe_modelparameters.mat'}", "iqa:piqe",
            "iqa:entropy", "efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "resnet34@random",
            "convnext_base@random", "swin_b@random", "clip:ViT-B-32@random"]


def per_image(func, n: int, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2] / n


def row(stage: str, seconds: float | None, device: str = "cpu", **extra) -> dict:
    if seconds is None:
        return {"workload": f"{stage} ({device})", "stage": stage, "device": device, "ours_s": float("nan"),
                "seconds_per_image": None, "img_s": None, "target": "not measured here (no GPU)", "met": True, **extra}
    return {"workload": f"{stage} ({device})", "stage": stage, "device": device, "ours_s": seconds,
            "seconds_per_image": seconds, "img_s": 1 / seconds, "target": "report img/s", "met": True, **extra}


def main() -> None:
    args, root = shared_images("bench_stages", __doc__, 8)
    torch.set_num_threads(1)  # per core: `causaliqa plan` multiplies by the cores it is told
    records = read_imagenet_val(root / "images", root / "labels.csv", args.images)

    def decode():
        return [prepare_image(Image.open(r.path)) for r in records]

    arrays = decode()
    rows = [row("decode", per_image(decode, len(records)))]
    for name in CORRUPTIONS:
        corrupt_image(arrays[0], name, 1, "warm-up")  # first calls import the library or compile a numba kernel: not steady state
        for severity in SEVERITIES:
            seconds = per_image(lambda: [corrupt_image(a, name, severity, r.image_id) for a, r in zip(arrays, records)],
                                len(arrays), repeats=1)
            rows.append(row(f"corrupt:{name}:{severity}", seconds))
    batch = torch.from_numpy(np.stack(arrays).transpose(0, 3, 1, 2).copy())
    labels = np.array([r.label for r in records])
    gpu = torch.cuda.is_available()
    # CLIP's image forward is what scales with images; its class-name text embedding is a one-off start-up per actor
    # (1000 classes x 80 templates: minutes on one core), so two class names stand in for it here
    options = {"clip:ViT-B-32@random": {"classnames": ["cat", "dog"]}}
    for binding in make_bindings(estimator_specs(), options=options):
        estimator = binding.estimator
        key = estimator.spec.base
        estimator.ensure_loaded()
        chunks = [batch[i:i + CPU_BATCH] for i in range(0, len(batch), CPU_BATCH)]
        estimator.score(chunks[0], labels[:len(chunks[0])])  # warm-up
        rows.append(row(f"estimate:{key}", per_image(lambda: [estimator.score(c, labels[:len(c)]) for c in chunks], len(batch))))
        if gpu:
            estimator.to("cuda")
            big = batch.repeat((CUDA_BATCH + len(batch) - 1) // len(batch), 1, 1, 1)[:CUDA_BATCH].cuda()
            big_labels = np.resize(labels, CUDA_BATCH)
            estimator.score(big, big_labels)
            torch.cuda.synchronize()
            rows.append(row(f"estimate:{key}", per_image(lambda: (estimator.score(big, big_labels), torch.cuda.synchronize()),
                                                         CUDA_BATCH), "cuda", gpu=torch.cuda.get_device_name(0)))
            estimator.to("cpu")
        else:
            rows.append(row(f"estimate:{key}", None, "cuda"))
    report("stages", {"images": len(records), "severities": list(SEVERITIES), "threads": 1, "cpu_batch": CPU_BATCH}, rows)


if __name__ == "__main__":
    main()
