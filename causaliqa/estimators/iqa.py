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
    # up to 0.005 with the number of torch threads (on real images), so a value would depend on how a run, a resume or
    # a Ray actor batched it. In float64 both stay below 1e-10, at 3x BRISQUE's float32 cost. NIQE, PIQE and entropy
    # do not move. BRISQUE also gets an exactly normalised Gaussian window (see brisque_exact).
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
        if self.metric == "brisque":
            values = brisque_exact(self._model.net, x.double())
        else:
            values = self._model(x.double() if self.metric in self.in_float64 else x)
        return {"score": values.detach().reshape(-1).cpu().numpy().astype(np.float64)}

    def identity(self) -> dict:
        """Also names the computation when it is not pyiqa's default (a store of other values is re-scored, not mixed)."""
        identity = super().identity()
        if self.metric == "brisque":
            identity["computation"] = "float64, exact Gaussian window"
        elif self.metric in self.in_float64:
            identity["computation"] = "float64"
        return identity


FLAT = 1e-6  # |pixel - local mean| below this is rounding noise of a flat neighbourhood: an exact 0 (see brisque_exact)


def _gaussian_window(size: int = 7, sigma: float = 7 / 6) -> torch.Tensor:
    """MATLAB's fspecial('gaussian', size, sigma), normalised in float64 and kept in float64."""
    half = (size - 1) / 2
    y, x = np.ogrid[-half:half + 1, -half:half + 1]
    h = np.exp(-(x * x + y * y) / (2.0 * sigma * sigma))
    return torch.from_numpy(h / h.sum())[None, None]


def brisque_exact(net, x: torch.Tensor) -> torch.Tensor:
    """BRISQUE (Mittal et al. 2012) as pyiqa computes it, with the one step that is sensitive to rounding made exact.

    The sensitive step: the paired-product features fit an asymmetric generalised Gaussian, whose left and right
    spreads are the root mean squares of the negative and of the positive products. In a flat neighbourhood the
    normalised pixel (pixel - local mean) / (local sd + 1) is 0 in exact arithmetic, but rounding leaves +-1e-12,
    so its products are +-1e-24 and their signs, which depend on the precision, the batch and the threads, decide
    which side's mean they dilute. pyiqa's I19 moved from 66.84 (float32) to 63.93 (float64) this way, and in float32
    the same value moved with the rest of the batch. Here a deviation below ``FLAT`` (far below the smallest real one,
    a corner weight of the window times one grey level, 1.6e-4) is an exact 0, as it is in exact arithmetic, and the
    7 x 7 Gaussian window is normalised in float64 (pyiqa rounds it to float32, so it sums to 1 +- 1e-7 and the local
    variance E[x^2] - E[x]^2 is off by about 1e-7 x^2). On pyiqa's five calibration images the errors against the
    original implementation are 0.00, 0.00, 0.00, 0.55, 2.63 (mean 0.64), where pyiqa in float32 has 0.00, 0.00, 0.08,
    0.21, 5.42 (mean 1.14) and in float64 0.00, 0.00, 0.10, 0.11, 8.33; batch and thread changes move a value by less
    than 1e-10 (tests/test_iqa_calibration.py).

    ``net`` is pyiqa's BRISQUE module (support vectors, gamma, rho); ``x`` RGB in [0, 1], float64.
    """
    from pyiqa.archs.brisque_arch import rbf_kernel, scale_features
    from pyiqa.archs.func_util import estimate_aggd_param, estimate_ggd_param
    from pyiqa.matlab_utils import imresize
    from pyiqa.matlab_utils.functions import imfilter
    from pyiqa.utils.color_util import to_y_channel

    window = _gaussian_window(net.kernel_size, net.kernel_sigma).to(x)
    luma = to_y_channel(x, 255.0) if x.size(1) == 3 else x * 255
    features = []
    for _ in range(2):  # two scales
        mu = imfilter(luma, window, padding="same")
        sigma = (imfilter(luma * luma, window, padding="same") - mu * mu).abs().sqrt()
        deviation = luma - mu
        z = torch.where(deviation.abs() < FLAT, torch.zeros_like(deviation), deviation) / (sigma + 1)
        alpha, spread = estimate_ggd_param(z)
        scale = [alpha, spread.pow(2)]
        for shift in ((0, 1), (1, 0), (1, 1), (-1, 1)):
            a, left, right = estimate_aggd_param(z * torch.roll(z, shifts=shift, dims=(-2, -1)), return_sigma=True)
            eta = (right - left) * torch.exp(torch.lgamma(2.0 / a) - (torch.lgamma(1.0 / a) + torch.lgamma(3.0 / a)) / 2)
            scale.extend((a, eta, left.pow(2), right.pow(2)))
        features.append(torch.stack(scale, dim=-1))
        luma = imresize(luma, scale=0.5, antialiasing=True)
    features = torch.cat(features, dim=-1)
    kernel = rbf_kernel(scale_features(features), net.sv.to(x).t(), gamma=net.gamma)
    return kernel @ net.sv_coef.to(x) - net.rho


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
