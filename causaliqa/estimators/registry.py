"""One registry of estimators: ``register_estimator``, ``get_estimator``, ``list_estimators``.

Names resolve in this order: an exact registered name (``tv``, ``efficientnet_lite0``), a family
prefix (``iqa:brisque``, ``clip:ViT-B-32@openai``), a torchvision classifier (``resnet34``).
``@`` selects weights: ``resnet34@random``, ``clip:ViT-B-32@/path/ckpt.pt``, ``iqa:niqe@/path/params.mat``.
The registry knows nothing of the estimator modules: ``causaliqa.estimators`` imports them, and they
register themselves.
"""

from __future__ import annotations

import fnmatch
import inspect
from typing import Callable

from causaliqa.errors import CausaliqaError
from causaliqa.estimators.spec import OUTPUTS, EstimatorSpec

_REGISTRY: dict[str, Callable[..., "object"]] = {}
_FAMILIES: dict[str, Callable[..., "object"]] = {}
COMMON_OPTIONS = ("seed", "preprocess")  # every estimator takes these (see Estimator.seed, estimators/preprocess.py)

__all__ = ["OUTPUTS", "estimator_class", "get_estimator", "list_estimators", "register_estimator", "resolve_spec"]


def register_estimator(name: str, family: bool = False):
    """Class decorator: ``@register_estimator("tv")`` or ``@register_estimator("iqa", family=True)``."""

    def wrap(cls):
        (_FAMILIES if family else _REGISTRY)[name] = cls
        return cls

    return wrap


def _torchvision_classifiers() -> list[str]:
    import torchvision

    return sorted(torchvision.models.list_models(module=torchvision.models))


# pyiqa lists these as no-reference, but none is a quality score of one image
NOT_PER_IMAGE = {
    "fid": "a distance between the feature distributions of two image sets",
    "fid_dinov2": "a distance between the feature distributions of two image sets",
    "sfid": "a distance between the feature distributions of two image sets",
    "inception_score": "a score of a whole set of generated images",
    "clipscore": "the agreement of an image with a caption, which needs a caption per image",
}


def _pyiqa_nr_metrics() -> list[str]:
    import pyiqa

    return sorted(m for m in pyiqa.list_models(metric_mode="NR") if m not in NOT_PER_IMAGE)


def estimator_class(spec: EstimatorSpec, where: str = "estimator"):
    """The class that implements ``spec`` (not constructed), or a one-line error with a hint."""
    if spec.family is None and spec.name in _REGISTRY:
        return _REGISTRY[spec.name]
    if spec.family is not None and spec.family in _FAMILIES:
        return _FAMILIES[spec.family]
    if spec.family is None and spec.name in _torchvision_classifiers():
        return _FAMILIES["torchvision"]
    from causaliqa.graph.model import did_you_mean

    known = list(_REGISTRY) + _torchvision_classifiers() + [f"iqa:{m}" for m in _pyiqa_nr_metrics()] + ["clip:ViT-B-32@openai"]
    raise CausaliqaError(where, None, f"a known estimator{did_you_mean(spec.base, known)}; see `causaliqa estimators`", repr(str(spec)))


def resolve_spec(text: str | EstimatorSpec, where: str = "estimator") -> EstimatorSpec:
    """Parse, check the estimator exists and the output is one it has; fill in the default output."""
    spec = text if isinstance(text, EstimatorSpec) else EstimatorSpec.parse(text, where)
    cls = estimator_class(spec, where)
    if spec.family is not None and hasattr(cls, "check_name"):
        cls.check_name(spec.name, where)
    outputs = cls.outputs
    if spec.output is None:
        return spec.with_output(outputs[0])
    if spec.output not in outputs:
        from causaliqa.graph.model import did_you_mean

        raise CausaliqaError(where, None, f"an output of {spec.base} ({', '.join(outputs)}){did_you_mean(spec.output, outputs)}",
                             repr(spec.output))
    return spec


def check_options(spec: EstimatorSpec, options: dict, where: str) -> None:
    """Estimator options must be keyword arguments the class takes (or a common option)."""
    cls = estimator_class(spec, where)
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "where", "weights", "arch", "metric", "model")]
    for key in options:
        if key not in accepted and key not in COMMON_OPTIONS:
            raise CausaliqaError(where, str(key), f"an option of {spec.base} ({', '.join(list(COMMON_OPTIONS) + accepted)})", repr(key))
    if "preprocess" in options:
        from causaliqa.estimators.preprocess import check_preprocess

        check_preprocess(options["preprocess"], where)
    if "seed" in options:
        seed = options["seed"]
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
            raise CausaliqaError(where, "seed", "a whole number from 0 to 2**63 - 1", repr(seed))


def get_estimator(spec: str | EstimatorSpec, where: str = "estimator", **options):
    """Build (not load) the estimator for ``spec``; weights load on first use.

    ``seed`` (default 0) seeds random initialisation (``@random``) so a resumed run builds the same network.
    """
    spec = resolve_spec(spec, where).estimator
    check_options(spec, options, where)
    seed = int(options.pop("seed", 0))
    preprocess = options.pop("preprocess", None)
    cls = estimator_class(spec, where)
    try:
        if spec.family is None and spec.name in _REGISTRY:
            estimator = cls(weights=spec.weights, **options)
        else:
            estimator = cls(spec.name, weights=spec.weights, where=where, **options)
    except (TypeError, ValueError) as err:  # an option value of the wrong type or shape
        raise CausaliqaError(where, "options", f"option values {spec.base} takes ({', '.join(map(str, options)) or 'none given'})",
                             f"{type(err).__name__}: {err}") from None
    estimator.spec = spec
    estimator.seed = seed
    if preprocess is not None:
        estimator.preprocess = preprocess
        estimator.options = {**estimator.options, "preprocess": preprocess}  # part of the column's identity
    return estimator


def list_estimators(pattern: str = "*") -> list[str]:
    """Registered names, pyiqa NR metrics (``iqa:*``), torchvision classifiers and the CLIP family."""
    names = sorted(_REGISTRY) + [f"iqa:{m}" for m in _pyiqa_nr_metrics()] + _torchvision_classifiers() + ["clip:<model>@<pretrained|checkpoint>"]
    return [n for n in names if fnmatch.fnmatch(n, pattern)]
