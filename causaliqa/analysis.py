"""Analyse a score store: the paper's table (task model | IQA metric | AUC | CE | |KRCC| | |PLCC| | |SRCC|)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from causaliqa.errors import CausaliqaError
from causaliqa.scoring.store import load_scores
from causaliqa.stats import group_correlation, grouped_predictability, pointwise_predictability
from causaliqa.stats.correlation import GroupCorrelation
from causaliqa.stats.predictability import GroupedPredictability, PointwisePredictability


@dataclass(frozen=True)
class PairAnalysis:
    """All statistics of one (M column, Q column) pair."""

    m: str
    q: str
    n_rows: int
    group_wise: GroupCorrelation | None
    point_wise: PointwisePredictability
    by_label: GroupedPredictability | None
    by_image: GroupedPredictability | None

    def row(self) -> list:
        gw = self.group_wise
        corr = [abs(gw.kendall.estimate), abs(gw.pearson.estimate), abs(gw.spearman.estimate)] if gw else ["n/a"] * 3
        return [self.m, self.q, self.point_wise.auc, self.point_wise.cross_entropy, *corr]

    def to_dict(self) -> dict:
        return {
            "m": self.m, "q": self.q, "n_rows": self.n_rows,
            "group_wise": self.group_wise.to_dict() if self.group_wise else None,
            "point_wise": self.point_wise.to_dict(),
            "by_label": self.by_label.to_dict() if self.by_label else None,
            "by_image": self.by_image.to_dict() if self.by_image else None,
        }


TABLE_HEADER = ["task model (M)", "IQA metric (Q)", "AUC", "CE", "|KRCC|", "|PLCC|", "|SRCC|"]


def analyse_pair(frame: pd.DataFrame, m: str, q: str, seed: int = 0, n_boot: int = 1000, per_group: bool = True) -> PairAnalysis:
    data = frame[["image_id", "label", "corruption", "severity", m, q]].dropna()
    if data.empty:
        raise CausaliqaError(m, None, f"rows with both {m} and {q}", "none")
    groups = data.groupby(["corruption", "severity"])[[q, m]].mean()
    gw = group_correlation(groups[q].to_numpy(), groups[m].to_numpy(), n_boot=n_boot, seed=seed) if len(groups) >= 3 else None
    pw = pointwise_predictability(data[q].to_numpy(), data[m].to_numpy(), data["image_id"].to_numpy(), seed=seed, n_boot=n_boot)
    by_label = by_image = None
    if per_group:
        by_label = grouped_predictability(data[q].to_numpy(), data[m].to_numpy(), data["label"].to_numpy(), by="label", seed=seed)
        if data["image_id"].value_counts().max() >= 10:
            by_image = grouped_predictability(data[q].to_numpy(), data[m].to_numpy(), data["image_id"].to_numpy(), by="image_id", seed=seed)
    return PairAnalysis(m, q, len(data), gw, pw, by_label, by_image)


def analyse_store(out: str | Path, m_columns: list[str], q_columns: list[str], seed: int = 0, n_boot: int = 1000) -> list[PairAnalysis]:
    frame = load_scores(out)
    for col in [*m_columns, *q_columns]:
        if col not in frame.columns:
            from causaliqa.graph.model import did_you_mean

            raise CausaliqaError(str(Path(out) / "scores.parquet"), "columns", f"a scored column{did_you_mean(col, frame.columns)}", repr(col))
    for col in m_columns:
        values = set(np.unique(frame[col].dropna()))
        if not values <= {0, 1}:
            raise CausaliqaError(col, None, "a binary correctness column for M (an estimator's ':correct' output)", sorted(values)[:5])
    return [analyse_pair(frame, m, q, seed, n_boot) for m in m_columns for q in q_columns]
