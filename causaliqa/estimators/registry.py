"""One registry of estimators: ``register_estimator``, ``get_estimator``, ``list_estimators``.

Names resolve in this order: an exact registered name (``tv``, ``efficientnet_lite0``), a family
prefix (``iqa:brisque``, ``clip:ViT-B-32@openai``), a torchvision classifier (``resnet34``).
``@`` selects weights: ``resnet34@random``, ``clip:ViT-B-32@/path/ckpt.pt``, ``iqa:niqe@/path/params.mat``.
"""

from __future__ import annotations

import fnmatch
from typing import Callable

from causaliqa.errors import CausaliqaError

_REGISTRY: dict[str, Callable[..., "object"]] = {}
_FAMILIES: dict[str, Callable[..., "object"]] = {}
OUTPUTS = ("score", "correct", "max_prob", "entropy", "max_logit", "pred")


def register_estimator(name: str, family: bool = False):
    """Class decorator: ``@register_estimator("tv")`` or ``@register_estimator("iqa", family=True)``."""

    def wrap(cls):
        (_FAMILIES if family else _REGISTRY)[name] = cls
        return cls

    return wrap


def _torchvision_classifiers() -> list[str]:
    import torchvision

    return sorted(torchvision.models.list_models(module=torchvision.models))


def _pyiqa_nr_metrics() -> list[str]:
    import pyiqa

    return sorted(pyiqa.list_models(metric_mode="NR"))


def split_weights(name: str) -> tuple[str, str | None]:
    base, sep, weights = name.partition("@")
    return base, (weights if sep else None)


def get_estimator(name: str, where: str = "estimator", **options):
    """Build (not load) the estimator called ``name``; weights load on first use."""
    _ensure_builtin()
    base, weights = split_weights(name)
    if base in _REGISTRY:
        return _REGISTRY[base](weights=weights, **options)
    family, sep, rest = base.partition(":")
    if sep and family in _FAMILIES:
        return _FAMILIES[family](rest, weights=weights, where=where, **options)
    if base in _torchvision_classifiers():
        return _FAMILIES["torchvision"](base, weights=weights, where=where, **options)
    from causaliqa.graph.model import did_you_mean

    known = list(_REGISTRY) + _torchvision_classifiers() + [f"iqa:{m}" for m in _pyiqa_nr_metrics()] + ["clip:ViT-B-32@openai"]
    raise CausaliqaError(where, None, f"a known estimator{did_you_mean(base, known)}; see `causaliqa estimators`", repr(name))


def list_estimators(pattern: str = "*") -> list[str]:
    """Registered names, pyiqa NR metrics (``iqa:*``), torchvision classifiers and the CLIP family."""
    _ensure_builtin()
    names = sorted(_REGISTRY) + [f"iqa:{m}" for m in _pyiqa_nr_metrics()] + _torchvision_classifiers() + ["clip:<model>@<pretrained|checkpoint>"]
    return [n for n in names if fnmatch.fnmatch(n, pattern)]


def parse_binding(spec: str, where: str = "estimator") -> tuple[str, str]:
    """``efficientnet_lite0:correct`` -> (``efficientnet_lite0``, ``correct``); ``iqa:brisque`` -> (``iqa:brisque``, ``score``)."""
    head, sep, tail = spec.rpartition(":")
    if sep and tail in OUTPUTS and head and head not in _FAMILIES_PREFIXES:
        return head, tail
    return spec, "score"


_FAMILIES_PREFIXES = ("iqa", "clip")


def column_name(estimator: str, output: str) -> str:
    """Parquet column for an estimator output: ``iqa:brisque`` + ``score`` -> ``iqa:brisque.score``."""
    return f"{estimator}.{output}"


def _ensure_builtin() -> None:
    if not _REGISTRY:
        import causaliqa.estimators.classifiers  # noqa: F401  (registers)
        import causaliqa.estimators.iqa  # noqa: F401
