"""Shared helpers for store tests: synthetic image folders and a fingerprint of a store's files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image


def make_images(folder: Path, n: int = 6, size: tuple[int, int] = (64, 48), seed: int = 0, suffix: str = ".png") -> tuple[Path, Path]:
    """``n`` random RGB images (textured, so every metric is defined) and a labels.csv: labels 0..n-1."""
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = ["file,label"]
    for i in range(n):
        array = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
        name = f"img_{i:03d}{suffix}"
        Image.fromarray(array).save(images / name)
        rows.append(f"{name},{i % 1000}")
    labels = folder / "labels.csv"
    labels.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return images, labels


def store_fingerprint(out: Path) -> dict[str, str]:
    """Relative path -> content hash of every file in a store (the lock file excluded)."""
    if not out.exists():
        return {}
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file() and p.name != ".lock"}
