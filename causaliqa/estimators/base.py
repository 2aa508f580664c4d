"""What every estimator is: metadata as class attributes, lazy weights, a batched ``score``."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch


class Estimator:
    """Scores a batch of prepared images (uint8, N x 3 x 224 x 224) into named outputs.

    Class attributes declare what it produces: ``outputs``, ``higher_is_better`` per output, and
    ``kinds`` per output (``score`` for Q, ``binary`` for M, ``label`` for predicted classes).
    """

    outputs: ClassVar[tuple[str, ...]] = ("score",)
    higher_is_better: ClassVar[dict[str, bool | None]] = {"score": True}
    kinds: ClassVar[dict[str, str]] = {"score": "score"}
    needs_labels: ClassVar[bool] = False

    def __init__(self, name: str) -> None:
        self.name = name
        self.device = torch.device("cpu")
        self._loaded = False

    @property
    def key(self) -> str:
        """Column prefix: the name, with a checkpoint path shortened to its file stem."""
        from pathlib import Path

        base, sep, weights = self.name.partition("@")
        if sep and ("/" in weights or "." in weights):
            return f"{base}@{Path(weights).stem}"
        return self.name

    def to(self, device: str | torch.device) -> "Estimator":
        self.device = torch.device(device)
        if self._loaded:
            self._loaded = False  # reload on the new device at first use
        return self

    def ensure_loaded(self) -> None:
        if not self._loaded:
            self.load()
            self._loaded = True

    def load(self) -> None:  # pragma: no cover - overridden
        """Build the model and load weights onto ``self.device``."""

    def score(self, images: torch.Tensor, labels: np.ndarray) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def describe(self) -> dict:
        return {
            "name": self.name,
            "outputs": list(self.outputs),
            "higher_is_better": dict(self.higher_is_better),
            "kinds": dict(self.kinds),
        }


def to_float(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 NCHW on any device -> float32 in [0, 1] on ``device`` (non-blocking from pinned memory)."""
    x = images.to(device, non_blocking=True)
    return x.float().div_(255.0)
