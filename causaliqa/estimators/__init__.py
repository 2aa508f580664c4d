"""Estimators bound to graph nodes: NR-IQA metrics, classifiers, zero-shot CLIP."""

from causaliqa.estimators.base import Estimator
from causaliqa.estimators.registry import (
    OUTPUTS, column_name, get_estimator, list_estimators, parse_binding, register_estimator,
)

__all__ = ["OUTPUTS", "Estimator", "column_name", "get_estimator", "list_estimators", "parse_binding", "register_estimator"]
