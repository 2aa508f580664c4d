"""Stand-in data, only when asked for: when the ImageNet images named by an experiment are absent, the experiment
says ``fallback: skimage`` and the user asked (``causaliqa demo``, ``causaliqa run --stand-in``), use the photographs
scikit-image installs with the package, each with the ImageNet class a person assigned to it. Five images: the
statistics are illustrative only, and the report's first line and every figure say so. A path that does not exist
is otherwise an error (:func:`causaliqa.experiment.config.load_experiment`).
"""

from __future__ import annotations

import csv
from pathlib import Path

from causaliqa.atomic import atomic_path
from causaliqa.data.datasets import DatasetSpec

# file in skimage/data -> (ImageNet class index, class name)
SKIMAGE_IMAGES = {
    "chelsea.png": (281, "tabby cat"),
    "coffee.png": (967, "espresso"),
    "rocket.jpg": (657, "missile"),
    "clock_motion.png": (409, "analog clock"),
    "motorcycle_left.png": (670, "motor scooter"),
}


def write_skimage_set(folder: Path) -> tuple[Path, Path]:
    """Copy the bundled photographs into ``folder/images`` and write ``folder/labels.csv`` (atomically)."""
    import shutil

    import skimage.data

    source = Path(skimage.data.__file__).parent
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    for name in SKIMAGE_IMAGES:
        if not (images / name).exists():
            with atomic_path(images / name) as tmp:
                shutil.copyfile(source / name, tmp)
    labels = folder / "labels.csv"
    with atomic_path(labels) as tmp, tmp.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "label", "name"])
        for name, (label, text) in SKIMAGE_IMAGES.items():
            writer.writerow([name, label, text])
    return images, labels


def dataset_or_fallback(exp) -> DatasetSpec:
    """The experiment's dataset, or the scikit-image set when the experiment was loaded with stand-in data."""
    spec = exp.spec.dataset
    if not exp.stand_in:
        return spec
    images, labels = write_skimage_set(exp.report_dir / "fallback-images")
    return spec.model_copy(update={"kind": "imagenet_val", "images": str(images), "labels": str(labels), "limit": None})
