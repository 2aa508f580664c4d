"""Preprocessing applied to a batch before an estimator sees it (``estimator_options: {SPEC: {preprocess: NAME}}``),
so one estimator can be computed another way on the same images (interventions on the quality computation). Batches are uint8 NCHW."""

from __future__ import annotations

import torch

from causaliqa.errors import CausaliqaError


def grayscale(batch: torch.Tensor) -> torch.Tensor:
    """Luma (ITU-R BT.601: 0.299 R + 0.587 G + 0.114 B, as PIL's ``convert("L")``), copied to the three channels."""
    weights = torch.tensor([0.299, 0.587, 0.114], dtype=torch.float32, device=batch.device).view(1, 3, 1, 1)
    luma = (batch.float() * weights).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
    return luma.expand(-1, 3, -1, -1).contiguous()


def downscale2(batch: torch.Tensor) -> torch.Tensor:
    """Half the width and height by 2 x 2 area averaging (odd edges dropped): less detail, the same content."""
    x = torch.nn.functional.avg_pool2d(batch.float(), 2)
    return x.round().clamp(0, 255).to(torch.uint8)


PREPROCESS = {"grayscale": grayscale, "downscale2": downscale2}


def check_preprocess(name, where: str) -> str:
    if not isinstance(name, str) or name not in PREPROCESS:
        from causaliqa.graph.model import did_you_mean

        hint = did_you_mean(name, PREPROCESS) if isinstance(name, str) else ""
        raise CausaliqaError(where, "preprocess", f"one of {', '.join(PREPROCESS)}{hint}", repr(name))
    return name


def apply_preprocess(name: str | None, batch: torch.Tensor) -> torch.Tensor:
    return batch if name is None else PREPROCESS[name](batch)
