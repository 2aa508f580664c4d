"""The paper's statistics: group-wise correlations, point-wise and grouped predictability."""

from causaliqa.stats.correlation import GroupCorrelation, group_correlation
from causaliqa.stats.grouped import grouped_predictability
from causaliqa.stats.logistic import BatchedLogit, fit_logit_batched
from causaliqa.stats.metrics import auc_score, cross_entropy
from causaliqa.stats.predictability import pointwise_predictability

__all__ = ["BatchedLogit", "GroupCorrelation", "auc_score", "cross_entropy", "fit_logit_batched", "group_correlation",
           "grouped_predictability", "pointwise_predictability"]
