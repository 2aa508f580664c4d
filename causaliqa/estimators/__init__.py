"""Estimators bound to graph nodes: NR-IQA metrics, classifiers, zero-shot CLIP.

As in torchvision, this package imports the estimator modules, which register themselves; the
registry itself imports none of them.
"""

from causaliqa.estimators import classifiers, iqa  # noqa: F401  (registers the built-in estimators)
from causaliqa.estimators.base import Estimator
from causaliqa.estimators.registry import get_estimator, list_estimators, register_estimator, resolve_spec
from causaliqa.estimators.spec import OUTPUTS, EstimatorSpec, split_column

__all__ = ["OUTPUTS", "Estimator", "EstimatorSpec", "get_estimator", "list_estimators", "register_estimator",
           "resolve_spec", "split_column"]
