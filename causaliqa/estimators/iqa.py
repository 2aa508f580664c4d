"""No-reference IQA estimators: any pyiqa NR metric, and total variation (the paper's TV baseline)."""

from __future__ import annotations

import numpy as np
import torch

from causaliqa.errors import CausaliqaError
from causaliqa.estimators.base import Estimator, check_weights_file, to_float
from causaliqa.estimators.registry import NOT_PER_IMAGE, register_estimator


@register_estimator("iqa", family=True)
class PyiqaMetric(Estimator):
    """``iqa:<metric>`` for any pyiqa no-reference metric; ``iqa:<metric>@<file>`` loads local weights.

    Direction comes from pyiqa's own ``lower_better``. Offline BRISQUE/NIQE: pass the parameter
    files, e.g. ``iqa:brisque@../shared/weights/brisque_svm_weights.pth``.
    """

    weight_suffixes = (".pth", ".pt", ".mat", ".npz", ".bin", ".safetensors")
    default_weights = "pyiqa default"
    # metrics computed in float64: in float32, pyiqa's BRISQUE moves by up to 0.01 with the rest of the batch and by
    # up to 0.005 with the number of torch threads (on real images; float64 differs from float32 by up to 0.07), so a
    # value would depend on how a run, a resume or a Ray actor batched it. In float64 both stay below 1e-10, at 3x
    # BRISQUE's float32 cost (about 33 ms per 224x224 image on one core). NIQE, PIQE and entropy do not move.
    in_float64 = frozenset({"brisque"})

    @classmethod
    def check_name(cls, metric: str, where: str) -> None:
        """Any pyiqa no-reference metric that scores one image, with a did-you-mean hint."""
        import pyiqa
        from pyiqa.default_model_configs import DEFAULT_CONFIGS

        if metric in NOT_PER_IMAGE:
            raise CausaliqaError(where, None, "a per-image no-reference quality metric (Q scores each image)",
                                 f"{metric!r}, {NOT_PER_IMAGE[metric]}")
        if metric not in DEFAULT_CONFIGS or DEFAULT_CONFIGS[metric].get("metric_mode") != "NR":
            from causaliqa.graph.model import did_you_mean

            nr = [m for m in pyiqa.list_models(metric_mode="NR") if m not in NOT_PER_IMAGE]
            raise CausaliqaError(where, None, f"a pyiqa no-reference metric{did_you_mean(metric, nr)}", repr(metric))

    def __init__(self, metric: str, weights: str | None = None, where: str = "estimator") -> None:
        from pyiqa.default_model_configs import DEFAULT_CONFIGS

        super().__init__(f"iqa:{metric}" + (f"@{weights}" if weights else ""))
        self.check_name(metric, where)
        if self.spec.weights_kind in ("tag", "random"):
            raise CausaliqaError(where, str(self.spec.estimator), f"a local weights file for {metric} (or no @)", repr(weights))
        if weights:
            check_weights_file(self.spec, self.weight_suffixes, where)
        self.metric = metric
        self.weights = weights
        lower = bool(DEFAULT_CONFIGS[metric].get("lower_better", False))
        self.higher_is_better = {"score": not lower}
        self._model = None

    def load(self) -> None:
        import pyiqa

        kwargs = {"pretrained_model_path": self.weights} if self.weights else {}
        self._model = pyiqa.create_metric(self.metric, device=self.device, as_loss=False, **kwargs)
        if self.metric in self.in_float64:
            self._model = self._model.double()
        self.higher_is_better = {"score": not self._model.lower_better}

    @torch.inference_mode()
    def score(self, images: torch.Tensor, labels: np.ndarray) -> dict[str, np.ndarray]:
        self.ensure_loaded()
        x = to_float(images, self.device)
        values = self._model(x.double() if self.metric in self.in_float64 else x)
        return {"score": values.detach().float().reshape(-1).cpu().numpy().astype(np.float64)}

    def identity(self) -> dict:
        """Also names the precision when it is float64 (a store of float32 values is then re-scored, not mixed)."""
        identity = super().identity()
        if self.metric in self.in_float64:
            identity["computation"] = "float64"
        return identity


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of horizontally and vertically adjacent pixels, per image.

    Normalisation: on [0, 1] intensities, averaged over channels and pixel pairs (not summed), so
    the value does not depend on image size; 0 for a flat image, at most 2.
    """
    dx = (x[..., :, 1:] - x[..., :, :-1]).abs().mean(dim=(1, 2, 3))
    dy = (x[..., 1:, :] - x[..., :-1, :]).abs().mean(dim=(1, 2, 3))
    return dx + dy


@register_estimator("tv")
class TotalVariation(Estimator):
    """Total variation (anisotropic, mean-normalised on [0, 1]); high for noise, low for blur."""

    higher_is_better = {"score": False}

    def __init__(self, weights: str | None = None) -> None:
        super().__init__("tv")
        if weights:
            raise CausaliqaError("tv", None, "no weights (tv has none)", repr(weights))

    def load(self) -> None:
        pass

    @torch.inference_mode()
    def score(self, images: torch.Tensor, labels: np.ndarray) -> dict[str, np.ndarray]:
        x = to_float(images, self.device)
        return {"score": total_variation(x).double().cpu().numpy()}
