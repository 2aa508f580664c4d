"""Generated corruptions: images/s for each of the 15 ImageNet-C corruptions at severity 3 on real 224x224 images."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from PIL import Image

from causaliqa.data.corrupt import CORRUPTIONS, corrupt_image, prepare_image
from causaliqa.data.datasets import read_imagenet_val
from common import report

SHARED = Path(__file__).resolve().parents[2] / "shared"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    root = SHARED / "data" / "imagenet-val-1300"
    if not (root / "labels.csv").exists():
        raise SystemExit(f"bench_corruptions needs the shared images at {root}")
    arrays = []
    for r in read_imagenet_val(root / "images", root / "labels.csv", args.images):
        with Image.open(r.path) as im:
            arrays.append((r.image_id, prepare_image(im)))
    rows = []
    for name in CORRUPTIONS:
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            for image_id, array in arrays:
                corrupt_image(array, name, 3, image_id)
            times.append(time.perf_counter() - start)
        seconds = sorted(times)[len(times) // 2]
        rows.append({"workload": f"{name} severity 3", "ours_s": seconds, "reference_s": seconds, "ratio": 1.0,
                     "img_s": len(arrays) / seconds, "target": "report img/s", "met": True})
    slowest = min(rows, key=lambda r: r["img_s"])
    median = sorted(r["img_s"] for r in rows)[len(rows) // 2]
    for row in rows:
        row["vs_median"] = row["img_s"] / median
    data = report("corruptions", {"images": len(arrays), "severity": 3}, rows)
    print("\n".join(f"  {r['workload']:<30} {r['img_s']:8.1f} img/s" for r in data["rows"]))
    print(f"slowest: {slowest['workload']} at {slowest['img_s']:.1f} img/s ({slowest['img_s'] / median:.2f} of the median)")


if __name__ == "__main__":
    main()
