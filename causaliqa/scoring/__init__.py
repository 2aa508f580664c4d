"""The scoring pass and its Parquet store."""

from causaliqa.scoring.bindings import make_bindings
from causaliqa.scoring.run import Binding, ScoreSummary, score_images
from causaliqa.scoring.store import load_failures, load_mixtures, load_scores

__all__ = ["Binding", "ScoreSummary", "load_failures", "load_mixtures", "load_scores", "make_bindings", "score_images"]
