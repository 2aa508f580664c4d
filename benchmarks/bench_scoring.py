"""Scoring pass: BRISQUE + TV + EfficientNet-Lite0 + Lite1 on real images x 4 variants.

* causaliqa: ``score_images`` (DataLoader workers decode and corrupt, one batch feeds every estimator);
* naive: each estimator reads, decodes, prepares and corrupts each image itself, batch of 1;
* bound: the estimators' own forward time on pre-decoded batches of the same size (no decoding at all).
Needs ../shared (images and BRISQUE parameters).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from causaliqa.data.datasets import corruption_variants, read_imagenet_val
from causaliqa.scoring.bindings import make_bindings
from causaliqa.scoring.run import load_variant, score_images
from common import report

SHARED = Path(__file__).resolve().parents[2] / "shared"
VARIANTS = ["gaussian_noise", "defocus_blur", "contrast"]  # + clean = 4 variants, severity 3


MODELS = "lite"
PAPER_MODELS = ["tv", "resnet34@random:correct", "convnext_base@random:correct", "swin_b@random:correct", "clip:ViT-B-32@random:max_prob"]


def estimators():
    weights = SHARED / "weights" / "brisque_svm_weights.pth"
    brisque = f"iqa:brisque@{weights}" if weights.exists() else "iqa:brisque"
    if MODELS == "paper":  # the paper's model set, random-initialised (no downloads): for a GPU run at batch 256
        return make_bindings([brisque, *PAPER_MODELS])
    return make_bindings([brisque, "tv", "efficientnet_lite0:correct", "efficientnet_lite1:max_prob"])


DEVICE = "cpu"


def _sync():
    if DEVICE.startswith("cuda"):
        torch.cuda.synchronize()


def ours(records, batch_size, workers):
    bindings = estimators()
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        score_images(records, bindings, out, batch_size=batch_size, device=DEVICE, workers=workers, progress=False)
        _sync()
        return time.perf_counter() - start


def naive(records):
    bindings = estimators()
    for b in bindings:
        b.estimator.to(DEVICE).ensure_loaded()
    start = time.perf_counter()
    for record in records:
        for b in bindings:  # each estimator does its own reading, decoding, preprocessing
            image = torch.from_numpy(np.ascontiguousarray(load_variant(record).transpose(2, 0, 1)))[None]
            b.estimator.score(image, np.array([record.label]))
    return time.perf_counter() - start


def bound(records, batch_size):
    bindings = estimators()
    for b in bindings:
        b.estimator.to(DEVICE).ensure_loaded()
    arrays = [torch.from_numpy(np.ascontiguousarray(load_variant(r).transpose(2, 0, 1))) for r in records]
    labels = np.array([r.label for r in records])
    batches = [(torch.stack(arrays[i:i + batch_size]).to(DEVICE), labels[i:i + batch_size]) for i in range(0, len(arrays), batch_size)]
    per_estimator = {}
    for b in bindings:
        b.estimator.score(*batches[0])  # warm-up (cuDNN autotuning, lazy init)
        _sync()
        start = time.perf_counter()
        for batch, lab in batches:
            b.estimator.score(batch, lab)
        _sync()
        per_estimator[b.estimator.key] = time.perf_counter() - start
    return sum(per_estimator.values()), per_estimator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--naive-images", type=int, default=25, help="naive path is timed on this many images x 4 variants")
    parser.add_argument("--batch-size", type=int, default=None, help="default: causaliqa's own choice for the device")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", choices=["lite", "paper"], default="lite",
                        help="lite: BRISQUE, TV, EfficientNet-Lite0/1 (offline); paper: BRISQUE, TV, ResNet34, ConvNeXt-B, Swin-B, CLIP ViT-B-32 random-initialised")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (use --batch-size 256 --models paper on a GPU)")
    args = parser.parse_args()
    global MODELS, DEVICE
    MODELS, DEVICE = args.models, args.device
    from causaliqa.scoring.run import auto_batch_size

    args.batch_size = args.batch_size or auto_batch_size(torch.device(DEVICE))
    root = SHARED / "data" / "imagenet-val-1300"
    if not (root / "labels.csv").exists():
        raise SystemExit(f"bench_scoring needs the shared images at {root}")
    torch.set_num_threads(max(1, torch.get_num_threads()))
    clean = read_imagenet_val(root / "images", root / "labels.csv", args.images)
    records = corruption_variants(clean, VARIANTS, [3])
    sample = corruption_variants(clean[: args.naive_images], VARIANTS, [3])
    ours_s = float(np.median([ours(records, args.batch_size, args.workers) for _ in range(args.repeats)]))
    naive_s = float(np.median([naive(sample) for _ in range(args.repeats)]))
    bounds = [bound(records, args.batch_size) for _ in range(args.repeats)]
    bound_s = float(np.median([b[0] for b in bounds]))
    ours_rate, naive_rate, bound_rate = len(records) / ours_s, len(sample) / naive_s, len(records) / bound_s
    rows = [
        {"workload": f"scoring pass, {len(records)} variants (4 estimators) vs naive batch-1 loop", "ours_s": ours_s,
         "reference_s": naive_s * len(records) / len(sample), "reference_measured_on": f"{len(sample)} variants",
         "ratio": ours_rate / naive_rate, "ours_img_s": ours_rate, "naive_img_s": naive_rate, "target": ">= 3x images/s",
         "met": ours_rate / naive_rate >= 3},
        {"workload": "scoring pass vs the sum of the estimators' forward time on pre-decoded batches", "ours_s": ours_s,
         "reference_s": bound_s, "ratio": ours_rate / bound_rate, "bound_img_s": bound_rate,
         "forward_s_per_estimator": bounds[-1][1], "target": ">= 0.9 of the bound", "met": ours_rate / bound_rate >= 0.9},
    ]
    report("scoring" if args.models == "lite" and DEVICE == "cpu" else f"scoring_{args.models}_{DEVICE.replace(':', '')}", {"models": args.models, "images": args.images, "variants": len(records), "batch_size": args.batch_size,
                       "device": DEVICE, "torch_threads": torch.get_num_threads()}, rows)


if __name__ == "__main__":
    main()
