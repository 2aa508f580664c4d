"""Analyse a score store: the paper's table (task model | IQA metric | AUC | CE | |KRCC| | |PLCC| | |SRCC|)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from causaliqa.errors import CausaliqaError
from causaliqa.scoring.store import load_scores
from causaliqa.serialize import Serializable
from causaliqa.stats import (
    group_correlation,
    grouped_predictability,
    pointwise_predictability,
)
from causaliqa.stats.correlation import GroupCorrelation
from causaliqa.stats.predictability import (
    GroupedPredictability,
    NullBand,
    PointwisePredictability,
    permutation_null,
)


@dataclass(frozen=True)
class PairAnalysis(Serializable):
    """All statistics of one (M column, Q column) pair."""

    m: str
    q: str
    n_rows: int
    group_wise: GroupCorrelation | None
    point_wise: PointwisePredictability
    by_label: GroupedPredictability | None
    by_image: GroupedPredictability | None
    n_images: int = 0


def analyse_pair(frame: pd.DataFrame, m: str, q: str, seed: int = 0, n_boot: int = 1000,
                 group_wise: bool = True, by_label: bool = True, by_image: bool = True, folds: int = 5,
                 splits: int = 10, clean_group: bool = False) -> PairAnalysis:
    """The paper's analyses of one (M, Q) pair; per-image CV needs at least 2 x ``folds`` variants per id.

    Group-wise correlations run over the (corruption, severity) groups, as the paper's 75; the clean images
    form a group only with ``clean_group``. Point-wise and per-group analyses use every row, clean included.
    """
    data = frame[["image_id", "label", "corruption", "severity", m, q]].dropna()
    if data.empty:
        raise CausaliqaError(m, None, f"rows with both {m} and {q}", "none")
    grouped = data if clean_group else data[data["corruption"] != "clean"]
    groups = grouped.groupby(["corruption", "severity"])[[q, m]].mean()
    gw = group_correlation(groups[q].to_numpy(), groups[m].to_numpy(), n_boot=n_boot, seed=seed) if group_wise and len(groups) >= 3 else None
    pw = pointwise_predictability(data[q].to_numpy(), data[m].to_numpy(), data["image_id"].to_numpy(), seed=seed, n_boot=n_boot,
                                  splits=splits)
    q_values, m_values = data[q].to_numpy(), data[m].to_numpy()
    per_label = per_image = None
    if by_label:
        per_label = grouped_predictability(q_values, m_values, data["label"].to_numpy(), by="label", k=folds, seed=seed, n_boot=n_boot)
    if by_image and data["image_id"].value_counts().max() >= 2 * folds:
        per_image = grouped_predictability(q_values, m_values, data["image_id"].to_numpy(), by="image_id", k=folds, seed=seed, n_boot=n_boot)
    return PairAnalysis(m, q, len(data), gw, pw, per_label, per_image, int(data["image_id"].nunique()))


def group_table(frame: pd.DataFrame, m_columns: list[str], q_columns: list[str]) -> pd.DataFrame:
    """Per (corruption, severity): mean of every Q, accuracy of every M, and the row count (paper Fig 3/5/7)."""
    cols = [*q_columns, *m_columns]
    table = frame.groupby(["corruption", "severity"])[cols].mean()
    table["n"] = frame.groupby(["corruption", "severity"]).size()
    return table.reset_index()


@dataclass(frozen=True)
class MixtureAnalysis(Serializable):
    """Paper §6.3: AUC of P(M | Q) on data sets where a fraction p_c of the images is mildly corrupted.

    Each mixture holds one variant per image id; its AUC is the point-wise procedure (repeated 80/20 splits
    by id, held-out AUC, which is unbiased under no association). ``null`` is the AUC's 95 % range with M
    permuted across ids, computed on the first mixture (all mixtures have the same ids).
    """

    json_properties = ('mean_auc',)

    m: str
    q: str
    fractions: tuple[float, ...]
    auc: tuple[float, ...]
    auc_ci: tuple[tuple[float, float], ...]
    q_mean: tuple[float, ...]
    accuracy: tuple[float, ...]
    null: NullBand | None = None

    @property
    def mean_auc(self) -> float:
        finite = [a for a in self.auc if a == a]
        return float(np.mean(finite)) if finite else float("nan")


def mixture_frame(scores: pd.DataFrame, members: pd.DataFrame) -> pd.DataFrame:
    """Score rows of every mixture member (a variant scored once appears in every mixture holding it)."""
    return members.merge(scores, on=["image_id", "corruption", "severity"], how="inner")


def analyse_mixtures(scores: pd.DataFrame, members: pd.DataFrame, m: str, q: str, seed: int = 0, n_boot: int = 1000,
                     splits: int = 10, n_perm: int = 200) -> MixtureAnalysis:
    data = mixture_frame(scores, members)[["p_c", "image_id", m, q]].dropna()
    fractions, aucs, cis, q_means, accs, null = [], [], [], [], [], None
    for p_c, part in data.groupby("p_c", sort=True):
        fractions.append(float(p_c))
        q_means.append(float(part[q].mean()))
        accs.append(float(part[m].mean()))
        args = (part[q].to_numpy(), part[m].to_numpy(), part["image_id"].to_numpy())
        pw = pointwise_predictability(*args, seed=seed, n_boot=n_boot, splits=splits)
        aucs.append(pw.auc)  # NaN when M takes one value
        cis.append(pw.auc_ci)
        if null is None and n_perm and part[m].nunique() == 2:
            null = permutation_null(*args, seed=seed, n_perm=n_perm, splits=splits)
    return MixtureAnalysis(m, q, tuple(fractions), tuple(aucs), tuple(cis), tuple(q_means), tuple(accs), null)


def analyse_store(out: str | Path, m_columns: list[str], q_columns: list[str], seed: int = 0, n_boot: int = 1000) -> list[PairAnalysis]:
    """Every (M, Q) pair of a store through the paper's analyses (``causaliqa analyze STORE --m ... --q ...``).

    >>> import tempfile
    >>> rng = np.random.default_rng(0)
    >>> q = rng.normal(size=400)
    >>> frame = pd.DataFrame({"image_id": np.repeat(np.arange(100), 4).astype(str),
    ...                       "corruption": np.tile(["clean", "noise", "noise", "blur"], 100),
    ...                       "severity": np.tile([0, 1, 2, 1], 100), "label": np.repeat(np.arange(100) % 10, 4),
    ...                       "q.score": q, "m.correct": (q + rng.normal(size=400) > 0).astype(int)})
    >>> store = Path(tempfile.mkdtemp())
    >>> frame.to_parquet(store / "scores.parquet")
    >>> [pair] = analyse_store(store, ["m.correct"], ["q.score"], n_boot=50)
    >>> pair.point_wise.auc > 0.7, pair.group_wise.n_groups, pair.by_label.n_groups
    (True, 3, 10)
    """
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
