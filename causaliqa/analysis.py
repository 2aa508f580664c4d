"""Analyse a score store: the paper's table (task model | IQA metric | AUC | CE | |KRCC| | |PLCC| | |SRCC|)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from causaliqa.errors import CausaliqaError
from causaliqa.scoring.store import load_scores, write_scores  # noqa: F401  (write_scores: the doctest's)
from causaliqa.serialize import Serializable, Tabular
from causaliqa.stats import (
    group_correlation,
    grouped_predictability,
    pointwise_predictability,
)
from causaliqa.stats.correlation import GroupCorrelation
from causaliqa.stats.grouped import GroupedPredictability, group_folds
from causaliqa.stats.paired import PairedAUCDifference, paired_auc_difference
from causaliqa.stats.threads import kernels_own_the_cores
from causaliqa.stats.predictability import (
    JACKKNIFE_GROUPS,
    NullBand,
    PointwisePredictability,
    SplitPlan,
    band_from_values,
    id_codes,
    id_permutations,
    permutation_null,
    split_plan,
)


def pair_rows(pairs) -> list[dict]:
    """One flat record per pair: the paper's table with intervals and sample sizes (n/a as NaN)."""
    nan = float("nan")
    rows = []
    for p in pairs:
        pw, gw = p.point_wise, p.group_wise
        row = {"m": p.m, "q": p.q, "rows": p.n_rows, "images": p.n_images, "auc": pw.auc, "auc_low": pw.auc_ci[0],
               "auc_high": pw.auc_ci[1], "ce": pw.cross_entropy, "ce_low": pw.cross_entropy_ci[0], "ce_high": pw.cross_entropy_ci[1]}
        for name in ("kendall", "pearson", "spearman"):
            c = getattr(gw, name) if gw else None
            row |= {name: c.estimate if c else nan, f"{name}_low": c.ci_low if c else nan, f"{name}_high": c.ci_high if c else nan}
        row["groups"] = gw.n_groups if gw else 0
        for attr in ("by_label", "by_image"):
            g = getattr(p, attr)
            ok = g is not None and g.estimable
            row |= {f"mauc_{attr}": g.mean_auc if ok else nan, f"mauc_{attr}_low": g.auc_ci[0] if ok else nan,
                    f"mauc_{attr}_high": g.auc_ci[1] if ok else nan}
        rows.append(row)
    return rows


@dataclass(frozen=True)
class PairAnalysis(Tabular):
    """All statistics of one (M column, Q column) pair. ``to_frame()``: one row (the paper's table, with intervals)."""

    m: str
    q: str
    n_rows: int
    group_wise: GroupCorrelation | None
    point_wise: PointwisePredictability
    by_label: GroupedPredictability | None
    by_image: GroupedPredictability | None
    n_images: int = 0
    sample: str = ""  # pairs with the same sample key were analysed on the same rows, with the same resamples

    def to_frame(self):
        return pd.DataFrame(pair_rows([self]))


STAGES = ("group-wise", "point-wise", "per-label CV", "per-image CV")


def analyse_pair(frame: pd.DataFrame, m: str, q: str, seed: int = 0, n_boot: int = 1000,
                 group_wise: bool = True, by_label: bool = True, by_image: bool = True, folds: int = 5,
                 splits: int = 10, clean_group: bool = False) -> PairAnalysis:
    """The paper's analyses of one (M, Q) pair (see :func:`analyse_pairs`)."""
    return analyse_pairs(frame, [m], [q], seed, n_boot, group_wise, by_label, by_image, folds, splits, clean_group)[0]


class _Rows:
    """The rows a set of pairs shares (both columns present) and the work every pair on them reuses:
    integer id and label codes, the point-wise split plan, the CV folds of each M."""

    def __init__(self, data: pd.DataFrame, seed: int, n_boot: int, splits: int, folds: int):
        self.data = data
        self.ids = id_codes(data["image_id"].to_numpy())[1]
        self.labels = id_codes(data["label"].to_numpy())[1]
        self.seed, self.n_boot, self.splits, self.k = seed, n_boot, splits, folds
        self._plan = None
        self._folds: dict[tuple[str, str], np.ndarray] = {}
        self._q_orders: tuple[str, list] = ("", [])

    def q_orders(self, q: str) -> list:
        """Each split's held-out rows sorted by ``q`` (filled by the first M of this Q; one Q kept at a time)."""
        if self._q_orders[0] != q:
            self._q_orders = (q, [])
        return self._q_orders[1]

    @property
    def plan(self) -> SplitPlan:
        if self._plan is None:
            self._plan = split_plan(self.ids, self.seed, 0.2, JACKKNIFE_GROUPS, self.splits)
        return self._plan

    def folds(self, m: str, by: str) -> np.ndarray:
        """Per label: folds over image ids (an image's variants never on both sides); per image: over its variants."""
        if (m, by) not in self._folds:
            groups, units = (self.labels, self.ids) if by == "label" else (self.ids, None)
            self._folds[m, by] = group_folds(self.data[m].to_numpy(), groups, self.k, self.seed, units)
        return self._folds[m, by]


def analyse_pairs(frame: pd.DataFrame, m_columns: list[str], q_columns: list[str], seed: int = 0, n_boot: int = 1000,
                  group_wise: bool = True, by_label: bool = True, by_image: bool = True, folds: int = 5,
                  splits: int = 10, clean_group: bool = False, progress: bool = False,
                  timings: dict[str, float] | None = None) -> list[PairAnalysis]:
    """The paper's analyses of every (M, Q) pair, stage by stage; pairs on the same rows share their random draws.

    Group-wise correlations run over the (corruption, severity) groups, as the paper's 75; the clean images
    form a group only with ``clean_group``. Point-wise and per-group analyses use every row, clean included;
    per-image CV needs at least 2 x ``folds`` variants per id. Each pair's result is what it would get alone:
    the shared split plan and folds are the draws the pair's own ``seed`` makes. ``timings`` receives the
    seconds each stage took.
    """
    import hashlib

    pairs = [(m, q) for m in m_columns for q in q_columns]
    rows: dict[bytes, _Rows] = {}
    pair_rows, samples = [], []
    for m, q in pairs:
        present = frame[m].notna().to_numpy() & frame[q].notna().to_numpy()
        key = np.packbits(present).tobytes()
        if key not in rows:
            data = frame.loc[present, ["image_id", "label", "corruption", "severity", *m_columns, *q_columns]]
            if data.empty:
                raise CausaliqaError(m, None, f"rows with both {m} and {q}", "none")
            rows[key] = _Rows(data.reset_index(drop=True), seed, n_boot, splits, folds)
        pair_rows.append(rows[key])
        samples.append(hashlib.sha1(key).hexdigest()[:12])
    wanted = {"group-wise": group_wise, "point-wise": True, "per-label CV": by_label, "per-image CV": by_image}
    results: dict[str, list] = {}
    with kernels_own_the_cores():
        for stage in STAGES:
            _run_stage(stage, wanted[stage], pairs, pair_rows, clean_group, progress, timings, results)
    return [PairAnalysis(m, q, len(r.data), results["group-wise"][i], results["point-wise"][i], results["per-label CV"][i],
                         results["per-image CV"][i], int(r.ids.max()) + 1, samples[i])
            for i, ((m, q), r) in enumerate(zip(pairs, pair_rows))]


def _run_stage(stage, wanted, pairs, pair_rows, clean_group, progress, timings, results) -> None:
    """One stage for every pair (a progress bar per stage), Q-major so a Q's sorted orders serve all its Ms."""
    from tqdm import tqdm

    started = time.perf_counter()
    order = sorted(range(len(pairs)), key=lambda i: pairs[i][1])
    bar = tqdm(order, desc=stage, unit="pair", disable=not progress, leave=False, dynamic_ncols=True)
    done = {i: _stage(stage, pair_rows[i], *pairs[i], clean_group) if wanted else None for i in bar}
    results[stage] = [done[i] for i in range(len(pairs))]
    if timings is not None:
        timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - started


def _stage(stage: str, rows: _Rows, m: str, q: str, clean_group: bool):
    data, seed, n_boot = rows.data, rows.seed, rows.n_boot
    q_values, m_values = data[q].to_numpy(dtype=np.float64), data[m].to_numpy(dtype=np.float64)
    if stage == "group-wise":
        grouped = data if clean_group else data[data["corruption"] != "clean"]
        groups = grouped.groupby(["corruption", "severity"])[[q, m]].mean()
        return group_correlation(groups[q].to_numpy(), groups[m].to_numpy(), n_boot=n_boot, seed=seed) if len(groups) >= 3 else None
    if stage == "point-wise":
        return pointwise_predictability(q_values, m_values, rows.ids, seed=seed, splits=rows.splits, plan=rows.plan,
                                        q_orders=rows.q_orders(q))
    if stage == "per-label CV":
        return grouped_predictability(q_values, m_values, rows.labels, by="label", k=rows.k, seed=seed,
                                      folds=rows.folds(m, "label"), units=rows.ids)
    if np.bincount(rows.ids).max() < 2 * rows.k:
        return None
    return grouped_predictability(q_values, m_values, rows.ids, by="image_id", k=rows.k, seed=seed,
                                  folds=rows.folds(m, "image_id"))


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
    by id, held-out AUC, which is unbiased under no association). ``nulls`` holds, per p_c, the band where its AUC
    lands with M permuted across ids (the statistic recomputed on the same splits; exact 95 % coverage under no
    association, see :class:`~causaliqa.stats.predictability.NullBand`); ``mean_null`` the same band for the mean
    over p_c (each permutation applied to every mixture, as the ids are shared).
    """

    json_properties = ('mean_auc', 'outside_null')

    m: str
    q: str
    fractions: tuple[float, ...]
    auc: tuple[float, ...]
    auc_ci: tuple[tuple[float, float], ...]
    q_mean: tuple[float, ...]
    accuracy: tuple[float, ...]
    nulls: tuple[NullBand | None, ...] = ()
    mean_null: NullBand | None = None

    @property
    def mean_auc(self) -> float:
        finite = [a for a in self.auc if a == a]
        return float(np.mean(finite)) if finite else float("nan")

    @property
    def outside_null(self) -> int:
        """How many p_c values' AUC lies outside their own no-association band."""
        return sum(1 for a, n in zip(self.auc, self.nulls) if n is not None and a == a and not n.contains(a))


def mixture_frame(scores: pd.DataFrame, members: pd.DataFrame) -> pd.DataFrame:
    """Score rows of every mixture member (a variant scored once appears in every mixture holding it)."""
    return members.merge(scores, on=["image_id", "corruption", "severity"], how="inner")


def analyse_mixtures(scores: pd.DataFrame, members: pd.DataFrame, m: str, q: str, seed: int = 0,
                     splits: int = 10, n_perm: int = 200) -> MixtureAnalysis:
    """Paper §6.3 for one (M, Q) pair (see :func:`analyse_all_mixtures`)."""
    return analyse_all_mixtures(mixture_frame(scores, members), [m], [q], seed, splits, n_perm)[0]


def analyse_all_mixtures(data: pd.DataFrame, m_columns: list[str], q_columns: list[str], seed: int = 0,
                         splits: int = 10, n_perm: int = 200, progress: bool = False,
                         timings: dict[str, float] | None = None) -> list[MixtureAnalysis]:
    """Paper §6.3 for every pair, from :func:`mixture_frame`'s rows: per fraction p_c the point-wise AUC and its
    permutation-null band, and the band of the mean over p_c. Mixtures over the same ids share one split plan and
    one set of permutations."""
    from tqdm import tqdm

    started = time.perf_counter()
    parts = [(float(p_c), part.reset_index(drop=True)) for p_c, part in data.groupby("p_c", sort=True)]
    shared = _MixtureDraws([id_codes(part["image_id"].to_numpy())[1] for _, part in parts], seed, splits)
    pairs = sorted([(m, q) for m in m_columns for q in q_columns], key=lambda pair: pair[1])  # Q-major: shared orders
    with kernels_own_the_cores():
        done = {(m, q): _mixture_pair(m, q, parts, shared, n_perm)
                for m, q in tqdm(pairs, desc="mixtures", unit="pair", disable=not progress, leave=False, dynamic_ncols=True)}
    out = [done[m, q] for m in m_columns for q in q_columns]
    if timings is not None:
        timings["mixtures"] = timings.get("mixtures", 0.0) + time.perf_counter() - started
    return out


class _MixtureDraws:
    """What every pair's mixtures share: each fraction's id codes, one split plan per id set (all fractions hold
    the same ids), and each split's held-out rows sorted by the current Q."""

    def __init__(self, codes: list[np.ndarray], seed: int, splits: int):
        self.codes, self.seed, self.splits = codes, seed, splits
        self.plans: dict[bytes, SplitPlan] = {}
        self.q_orders: dict[tuple[str, int], list] = {}
        self._permutations: dict[tuple[int, int], np.ndarray] = {}

    def permutations(self, ids: np.ndarray, n_perm: int) -> np.ndarray:
        """The null's id permutations, drawn once per id count (every mixture holds the same ids)."""
        key = (int(ids.max()) + 1, n_perm)
        if key not in self._permutations:
            self._permutations[key] = id_permutations(key[0], n_perm, self.seed)
        return self._permutations[key]

    def plan(self, ids: np.ndarray) -> SplitPlan:
        key = ids.tobytes()
        if key not in self.plans:
            self.plans[key] = split_plan(ids, self.seed, 0.2, JACKKNIFE_GROUPS, self.splits)
        return self.plans[key]

    def orders(self, q: str, fraction: int) -> list:
        if self.q_orders and next(iter(self.q_orders))[0] != q:
            self.q_orders.clear()  # one Q's orders kept at a time
        return self.q_orders.setdefault((q, fraction), [])


def _mixture_pair(m: str, q: str, parts, shared: _MixtureDraws, n_perm: int) -> MixtureAnalysis:
    fractions, aucs, cis, q_means, accs, nulls = [], [], [], [], [], []
    for i, (p_c, part) in enumerate(parts):
        present = (part[m].notna() & part[q].notna()).to_numpy()
        fractions.append(p_c)
        if present.sum() < 2:  # nothing scored for this mixture (yet): no statistic
            aucs.append(float("nan"))
            cis.append((float("nan"), float("nan")))
            q_means.append(float("nan"))
            accs.append(float("nan"))
            nulls.append(None)
            continue
        ids = shared.codes[i] if present.all() else id_codes(part["image_id"].to_numpy()[present])[1]
        q_values, m_values = part[q].to_numpy(dtype=np.float64)[present], part[m].to_numpy(dtype=np.float64)[present]
        q_means.append(float(q_values.mean()))
        accs.append(float(m_values.mean()))
        plan = shared.plan(ids)
        pw = pointwise_predictability(q_values, m_values, ids, seed=shared.seed, splits=shared.splits,
                                      plan=plan, q_orders=shared.orders(q, i) if present.all() else None)
        aucs.append(pw.auc)  # NaN when M takes one value
        cis.append(pw.auc_ci)
        nulls.append(permutation_null(q_values, m_values, ids, seed=shared.seed, plan=plan, permutations=shared.permutations(ids, n_perm))
                     if n_perm and np.unique(m_values).size == 2 else None)
    return MixtureAnalysis(m, q, tuple(fractions), tuple(aucs), tuple(cis), tuple(q_means), tuple(accs), tuple(nulls),
                           _mean_band(nulls, parts, shared))


def _mean_band(nulls, parts, shared) -> NullBand | None:
    """The band of the mean over p_c: the same permutations of the (shared) ids applied to every mixture."""
    if not nulls or any(n is None for n in nulls) or len({p["image_id"].size for _, p in parts}) != 1:
        return None
    from causaliqa.stats.predictability import nanmean_rows

    return band_from_values(nanmean_rows(np.stack([n.values for n in nulls])))


@dataclass(frozen=True)
class StoreAnalysis(Tabular):
    """``causaliqa analyze STORE``: every pair's statistics, the store's mixtures (when it holds some), and the
    seconds each stage took (``timings``: group-wise, point-wise, per-label CV, per-image CV, mixtures, read)."""

    pairs: tuple[PairAnalysis, ...]
    mixtures: tuple[MixtureAnalysis, ...]
    timings: dict
    n_rows: int
    rankings: tuple = ()

    def to_frame(self):
        """One row per (M, Q) pair: the paper's table with intervals and sample sizes."""
        return pd.DataFrame(pair_rows(self.pairs))


def analyse_store(out: str | Path, m_columns: list[str], q_columns: list[str], seed: int = 0, n_boot: int = 1000,
                  splits: int = 10, mixtures: bool = True, n_perm: int = 200, progress: bool = False,
                  version: int | None = None) -> StoreAnalysis:
    """Every (M, Q) pair of a store through the paper's analyses (``causaliqa analyze STORE --m ... --q ...``).

    Every stored row is used (a store has no experiment to say which variants are designed; ``causaliqa run``
    leaves out mixture-only variants). Only the needed columns are read, once; they are checked from the files'
    schema before any data is. ``version``: the scores table as it was at that version (``--as-of``).

    >>> import tempfile
    >>> rng = np.random.default_rng(0)
    >>> q = rng.normal(size=400)
    >>> frame = pd.DataFrame({"image_id": np.repeat(np.arange(100), 4).astype(str),
    ...                       "corruption": np.tile(["clean", "noise", "noise", "blur"], 100),
    ...                       "severity": np.tile([0, 1, 2, 1], 100), "label": np.repeat(np.arange(100) % 10, 4),
    ...                       "q.score": q, "m.correct": (q + rng.normal(size=400) > 0).astype(int)})
    >>> store = Path(tempfile.mkdtemp())
    >>> write_scores(store, frame)
    >>> [pair] = analyse_store(store, ["m.correct"], ["q.score"], n_boot=50).pairs
    >>> pair.point_wise.auc > 0.7, pair.group_wise.n_groups, pair.by_label.n_groups
    (True, 3, 10)
    """
    from causaliqa.scoring.store import check_estimator_columns, load_mixtures, store_columns, table_uri

    available = store_columns(out, version)
    for col in [*m_columns, *q_columns]:
        if col not in available:
            from causaliqa.graph.model import did_you_mean

            raise CausaliqaError(table_uri(out, "scores"), "columns", f"a scored column{did_you_mean(col, available)}", repr(col))
    check_estimator_columns(out, [*m_columns, *q_columns], version)
    started = time.perf_counter()
    frame = load_scores(out, columns=[*m_columns, *q_columns], version=version)
    timings = {"read": time.perf_counter() - started}
    if frame.empty:
        raise CausaliqaError(table_uri(out, "scores"), None, "scored rows to analyse", "a store without rows")
    for flag, cols in (("--q", q_columns), ("--m", m_columns)):
        for col in cols:
            if not pd.api.types.is_numeric_dtype(frame[col]) or pd.api.types.is_bool_dtype(frame[col]) and flag == "--q":
                raise CausaliqaError("causaliqa analyze", flag, "a numeric score column (an estimator's output such as tv.score)",
                                     f"{col!r}, a column of {frame[col].dtype} values")
            if frame[col].notna().any() and not np.isfinite(frame[col].dropna().to_numpy(dtype=np.float64)).all():
                raise CausaliqaError("causaliqa analyze", flag, "finite values", f"{col!r} holds infinities")
    for col in m_columns:
        values = set(np.unique(frame[col].dropna()))
        if not values <= {0, 1}:
            raise CausaliqaError("causaliqa analyze", "--m", "a binary correctness column for M (an estimator's ':correct' output)",
                                 f"{col!r} with values such as {', '.join(f'{float(v):g}' for v in sorted(values)[:5])}")
    members = load_mixtures(out) if mixtures else pd.DataFrame()
    pairs = analyse_pairs(frame, m_columns, q_columns, seed, n_boot, splits=splits, progress=progress, timings=timings)
    mix = []
    if len(members):
        mix = analyse_all_mixtures(mixture_frame(frame, members), m_columns, q_columns, seed, splits, n_perm, progress, timings)
    return StoreAnalysis(tuple(pairs), tuple(mix), timings, len(frame), rank_metrics(pairs))


OUTCOMES = ("lower", "equal", "higher")


@dataclass(frozen=True)
class InterventionOutcome(Serializable):
    """One changed computation of Q against its baseline, for one M: the paired comparison, what the interval shows
    and each graph's prediction judged against it.

    With the equivalence margin d, the outcomes are regions of the AUC difference: ``lower`` (< -d), ``equal``
    (within +-d) and ``higher`` (> d). ``observed`` is the region holding the whole 95 % CI, else
    ``inconclusive``. A prediction ``agrees`` when the CI lies inside its region (it excludes the other
    outcomes), ``disagrees`` when the CI misses its region entirely, and is ``inconclusive`` otherwise."""

    name: str
    change: str
    comparison: PairedAUCDifference
    observed: str
    predictions: dict
    agreement: dict
    why: str = ""
    margin: float = 0.02


def _region(outcome: str, margin: float) -> tuple[float, float]:
    return {"lower": (-np.inf, -margin), "equal": (-margin, margin), "higher": (margin, np.inf)}[outcome]


def observed_change(result: PairedAUCDifference, margin: float = 0.02) -> str:
    """The outcome region that holds the whole CI of the AUC difference, else ``inconclusive`` (see
    :class:`InterventionOutcome`); NaN intervals are inconclusive."""
    lo, hi = result.ci
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "inconclusive"
    for outcome in OUTCOMES:
        low, high = _region(outcome, margin)
        if low <= lo and hi <= high:
            return outcome
    return "inconclusive"


def judge_prediction(predicted: str, result: PairedAUCDifference, margin: float = 0.02) -> str:
    """``agrees`` (CI inside the predicted region), ``disagrees`` (CI outside it) or ``inconclusive``."""
    lo, hi = result.ci
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "inconclusive"
    low, high = _region(predicted, margin)
    if low <= lo and hi <= high:
        return "agrees"
    if hi < low or lo > high:
        return "disagrees"
    return "inconclusive"


def analyse_intervention(frame: pd.DataFrame, name: str, change: str, m: str, baseline: str, variant: str,
                         predictions: dict[str, str], why: str = "", seed: int = 0, splits: int = 10,
                         n_perm: int = 500, margin: float = 0.02) -> InterventionOutcome:
    """The paired AUC difference of ``variant`` against ``baseline`` on the rows holding M and both, with each graph's
    prediction judged against its interval (``inconclusive`` when the interval does not settle it)."""
    data = frame[["image_id", m, baseline, variant]].dropna()
    if data.empty:
        raise CausaliqaError(name, None, f"rows with {m}, {baseline} and {variant}", "none")
    result = paired_auc_difference(data[baseline].to_numpy(), data[variant].to_numpy(), data[m].to_numpy(),
                                   data["image_id"].to_numpy(), (m, baseline, variant), seed, splits, n_perm)
    agreement = {g: judge_prediction(p, result, margin) for g, p in predictions.items()}
    return InterventionOutcome(name, change, result, observed_change(result, margin), dict(predictions), agreement, why, margin)


@dataclass(frozen=True)
class MetricRanking(Serializable):
    """The Q columns of one M ranked by point-wise AUC, with what the data can and cannot tell apart.

    ``differences`` maps each other Q to (AUC of the best minus its AUC, simultaneous CI): jackknife intervals of
    the paired replicates at level 1 - 0.05 / (k - 1) each (Bonferroni over the k - 1 comparisons with the best), so
    all of them hold together with 95 % confidence. ``tied`` holds the Qs whose interval includes 0."""

    m: str
    order: tuple[str, ...]
    best: str
    tied: tuple[str, ...]
    beaten: tuple[str, ...]
    differences: dict
    simultaneous_level: float


def rank_metrics(pairs) -> tuple[MetricRanking, ...]:
    """One ranking per M over the Q columns analysed on the same rows as its best one (paired resamples)."""
    out = []
    for m in dict.fromkeys(p.m for p in pairs):
        mine = sorted((p for p in pairs if p.m == m and np.isfinite(p.point_wise.auc)), key=lambda p: -p.point_wise.auc)
        if len(mine) < 2:
            continue
        best = mine[0]
        others = [p for p in mine[1:] if p.sample == best.sample and p.point_wise.auc_resamples is not None]
        if not others:
            continue
        from causaliqa.stats.predictability import jackknife_interval

        differences, tied, beaten = {}, [], []
        for p in others:
            diff = best.point_wise.auc_resamples - p.point_wise.auc_resamples
            gap = float(best.point_wise.auc - p.point_wise.auc)
            lo, hi = jackknife_interval(gap, diff, 1 - 0.05 / len(others), bounds=(-1.0, 1.0))
            differences[p.q] = (gap, (float(lo), float(hi)))
            (beaten if lo > 0 else tied).append(p.q)
        out.append(MetricRanking(m, tuple(p.q for p in mine), best.q, tuple(tied), tuple(beaten), differences, 0.95))
    return tuple(out)
