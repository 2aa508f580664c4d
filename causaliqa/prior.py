"""Quality as a prior on performance (the paper's stated purpose): a task model's accuracy on unlabelled images,
predicted from quality scores fitted on labelled reference images, beside the methods people use for it today
(AC, DoC, ATC; :mod:`causaliqa.stats.accuracy`), the honest test of each on shifts it has not seen, and a dataset's
quality profile against the reference's (corruption, severity) cells.

Conventions: intervals are 95 % percentile intervals of an image-id bootstrap that resamples the reference's images
and the target's images together (all variants of an image move together); the estimand is the task model's
accuracy on the population the target images come from. A prediction is only as good as its method's assumption
(see :mod:`causaliqa.stats.accuracy`); ``evaluate_prior`` measures that.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from causaliqa.errors import CausaliqaError
from causaliqa.serialize import Serializable, Tabular
from causaliqa.stats import accuracy as acc
from causaliqa.stats.streams import stream

METHODS = ("logistic", "isotonic")  # fitted on Q; "logistic (all Q)" is added with several Q
ANCHORS = ("AC", "DoC", "ATC-MC", "ATC-NE")  # from the task model's own outputs


# ---- which graph says what -------------------------------------------------------------------------------------
def causal_reading(q: str, m: str) -> str:
    """Which of the paper's graphs says that Q can carry information about M, for this kind of Q."""
    from causaliqa.estimators.spec import EstimatorSpec, split_column

    q_key, _ = split_column(q)
    m_key, _ = split_column(m)
    try:
        q_spec, m_spec = EstimatorSpec.parse(q_key), EstimatorSpec.parse(m_key)
    except Exception:  # a column no estimator wrote (a store made by hand)
        return "no graph of the paper covers this column; the prior is only what the data show"
    if q_spec.family == "iqa" or q_spec.name == "tv":
        return ("baseline (Fig. 1): an NR-IQA metric reads the image X and nothing of the task, so given X it says nothing "
                "about M; as a prior it works only as far as a shift moves both Q and M through X")
    if q_spec.family == "clip":
        return ("weak task-guided (Fig. 6): Q uses the task's label set, so Q and M stay dependent given X")
    if q_spec.name == m_spec.name and q_spec.weights == m_spec.weights:
        return "the task model's own output (Yhat -> Q): Q is computed from M's own prediction"
    return ("strong task-guided / shared features (Figs. 2, 4): Q and M are computed from shared features of X, so Q "
            "carries information about M given X")


# ---- results -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AccuracyEstimate(Serializable):
    """One method's predicted accuracy of the task model on one group of target rows."""

    method: str
    q: str
    group: str
    accuracy: float
    ci: tuple[float, float]
    rows: int
    images: int
    actual: float = float("nan")  # the target's own accuracy, when it has labels (an evaluation)


@dataclass(frozen=True)
class PriorPrediction(Tabular):
    """``causaliqa predict``: every method's predicted accuracy of ``m``'s task model on the target, overall and per
    (corruption, severity) group; ``reading`` says per Q which graph lets it carry information about M."""

    m: str
    reference_rows: int
    reference_images: int
    reference_accuracy: float
    target_rows: int
    target_images: int
    estimates: tuple[AccuracyEstimate, ...]
    reading: dict
    n_boot: int
    seconds: float = 0.0
    notes: tuple[str, ...] = ()
    risk: pd.DataFrame | None = field(default=None, repr=False, compare=False)

    json_exclude = ("risk",)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{"method": e.method, "q": e.q, "group": e.group, "accuracy": e.accuracy, "ci_low": e.ci[0],
                              "ci_high": e.ci[1], "rows": e.rows, "images": e.images, "actual": e.actual} for e in self.estimates])


# ---- reading and checking ------------------------------------------------------------------------------------------
def anchor_columns(m: str) -> tuple[str, str]:
    """The task model's own max probability and entropy columns (``efficientnet_lite0.correct`` ->
    ``efficientnet_lite0.max_prob``, ``efficientnet_lite0.entropy``)."""
    from causaliqa.estimators.spec import split_column

    key, _ = split_column(m)
    return f"{key}.max_prob", f"{key}.entropy"


def check_frames(reference: pd.DataFrame, target: pd.DataFrame, m: str, q_columns: list[str], where: tuple[str, str],
                 overlap: bool = True) -> None:
    """Every mistake one line, before any fit: labels, columns, variance, overlapping ranges."""
    ref_where, target_where = where
    if m not in reference.columns or reference[m].notna().sum() == 0:
        raise CausaliqaError(ref_where, "--m", f"a reference store with labelled rows scored for {m} (score it with --labels "
                             "and the task model's :correct output)", "no such column" if m not in reference.columns else "no scored rows")
    values = set(np.unique(reference[m].dropna()))
    if not values <= {0, 1}:
        raise CausaliqaError(ref_where, "--m", "a binary correctness column (an estimator's :correct output)", f"{m!r} with values such as {sorted(values)[:3]}")
    if "label" in reference.columns and (reference.loc[reference[m].notna(), "label"] < 0).any():
        raise CausaliqaError(ref_where, "--m", "labelled reference rows", "rows scored without labels (label -1)")
    if len(values) < 2:
        raise CausaliqaError(ref_where, "--m", "reference rows with both correct and wrong predictions", f"only {int(next(iter(values)))}s")
    for q in q_columns:
        for frame, place in ((reference, ref_where), (target, target_where)):
            if q not in frame.columns or frame[q].notna().sum() == 0:
                raise CausaliqaError(place, "--q", f"a scored column {q} (score it with the same estimator)", "no such column"
                                     if q not in frame.columns else "no scored rows")
            if not pd.api.types.is_numeric_dtype(frame[q]) or pd.api.types.is_bool_dtype(frame[q]):
                raise CausaliqaError(place, "--q", "a numeric score column", f"{q!r} of {frame[q].dtype} values")
        ref_q = reference[q].dropna().to_numpy(dtype=np.float64)
        if np.ptp(ref_q) == 0:
            raise CausaliqaError(ref_where, "--q", "a score that varies on the reference (a constant cannot predict anything)",
                                 f"{q} = {ref_q[0]:g} on every row")
        target_q = target[q].dropna().to_numpy(dtype=np.float64)
        if overlap and (target_q.max() < ref_q.min() or target_q.min() > ref_q.max()):
            raise CausaliqaError(target_where, "--q", f"target scores that overlap the reference's range of {q} "
                                 f"[{ref_q.min():g}, {ref_q.max():g}] (beyond it a prior only extrapolates)",
                                 f"[{target_q.min():g}, {target_q.max():g}]")


def read_store_frame(store: str | Path, columns: list[str], where: str) -> pd.DataFrame:
    from causaliqa.scoring.store import load_scores, require_store, store_columns

    path = require_store(store, where)
    available = set(store_columns(path))
    frame = load_scores(path, columns=[c for c in columns if c in available])
    if frame.empty:
        raise CausaliqaError(str(path), None, "scored rows", "a store without rows")
    return frame


# ---- predicting ---------------------------------------------------------------------------------------------------
def _codes(frame: pd.DataFrame) -> np.ndarray:
    return pd.factorize(frame["image_id"].astype(str), sort=True)[0]


def _groups(frame: pd.DataFrame) -> list[tuple[str, np.ndarray]]:
    """("all", every row), then one per (corruption, severity) when the target has more than one."""
    out = [("all", np.ones(len(frame), dtype=bool))]
    if {"corruption", "severity"} <= set(frame.columns):
        cells = frame.groupby(["corruption", "severity"], sort=True).indices
        if len(cells) > 1:
            for (c, s), idx in cells.items():
                mask = np.zeros(len(frame), dtype=bool)
                mask[idx] = True
                out.append((f"{c}" if c == "clean" else f"{c} severity {int(s)}", mask))
    return out


def _probabilities(method: str, q_ref, m_ref, q_target, w_ref) -> np.ndarray:
    if method == "isotonic":
        return acc.isotonic_probabilities(q_ref, m_ref, q_target, w_ref)
    return acc.logistic_probabilities(q_ref, m_ref, q_target, w_ref)


def _label(method: str, q, conf_col: str, entropy_col: str) -> str:
    if isinstance(q, str):
        return q
    if method == "logistic (all Q)":
        return ", ".join(q)
    return f"-{entropy_col}" if method == "ATC-NE" else conf_col


def _method_draws(method: str, q, reference, target, m, w_ref, w_target) -> tuple[np.ndarray, np.ndarray | None]:
    """(B, n_target) per-row predicted correctness (fitted methods; None for the anchors) and, for anchors, the (B,)
    accuracies of the whole target; fitted methods are averaged per group by the caller."""
    m_ref = reference[m].to_numpy(dtype=np.float64)
    if method in ("logistic", "isotonic", "logistic (all Q)"):
        cols = list(q) if isinstance(q, tuple) else [q]
        p = _probabilities("isotonic" if method == "isotonic" else "logistic", reference[cols].to_numpy(np.float64), m_ref,
                           target[cols].to_numpy(np.float64), w_ref)
        return p, None
    conf_col, entropy_col = q
    if method == "AC":
        return np.broadcast_to(target[conf_col].to_numpy(np.float64), w_target.shape), None
    if method == "DoC":
        shift = acc.average_confidence(reference[conf_col].to_numpy(np.float64), w_ref)
        base = acc._weighted_mean(m_ref, w_ref) - shift  # per-row value: the target's confidence plus this offset
        return target[conf_col].to_numpy(np.float64)[None, :] + base[:, None], None  # (the group mean is clipped)
    score_col = conf_col if method == "ATC-MC" else entropy_col
    sign = 1.0 if method == "ATC-MC" else -1.0  # negative entropy: higher is more confident
    threshold = acc.atc_threshold(sign * reference[score_col].to_numpy(np.float64), m_ref, w_ref)
    above = (sign * target[score_col].to_numpy(np.float64))[None, :] > threshold[:, None]
    return above.astype(np.float64), None


def predict_accuracy(reference: pd.DataFrame, target: pd.DataFrame, m: str, q_columns: list[str], methods=METHODS,
                     anchors: bool = True, n_boot: int = 200, seed: int = 0, groups: bool = True,
                     where: tuple[str, str] = ("--reference", "--target"), overlap: bool = True) -> PriorPrediction:
    """Every method's predicted accuracy of ``m``'s task model on ``target`` (overall and per group), with 95 %
    intervals from ``n_boot`` resamples of reference and target images; and a per-row risk table (1 - predicted P(M))."""
    started = time.perf_counter()
    check_frames(reference, target, m, q_columns, where, overlap)
    reference = reference.dropna(subset=[m, *q_columns]).reset_index(drop=True)
    target = target.dropna(subset=q_columns).reset_index(drop=True)
    rng = stream(seed, "prior_resamples")
    ref_codes, target_codes = _codes(reference), _codes(target)
    jobs = [(method, q) for q in q_columns for method in methods]
    if len(q_columns) > 1 and "logistic" in methods:
        jobs.append(("logistic (all Q)", tuple(q_columns)))
    notes = []
    conf_col, entropy_col = anchor_columns(m)
    if anchors:
        have = [c for c in (conf_col, entropy_col) if c in reference.columns and c in target.columns
                and reference[c].notna().all() and target[c].notna().all()]
        if len(have) == 2:
            jobs += [(a, (conf_col, entropy_col)) for a in ANCHORS]
        else:
            notes.append(f"AC, DoC and ATC need the task model's own {conf_col} and {entropy_col} in both stores (score them "
                         "with the task model's :max_prob and :entropy outputs): left out")
    risk = target[[c for c in ("image_id", "corruption", "severity") if c in target.columns]].copy()
    actual = target[m].to_numpy(dtype=np.float64) if m in target.columns and target[m].notna().all() and \
        ("label" not in target.columns or (target["label"] >= 0).all()) else None
    cells = _groups(target) if groups else _groups(target)[:1]
    draws: dict[tuple[int, int], list[np.ndarray]] = {}
    # resamples in chunks, so a paper-size store (millions of rows) never holds more than ~2e7 weights at once
    chunk = max(1, min(n_boot + 1, 20_000_000 // max(len(reference) + len(target), 1)))
    for start in range(0, n_boot + 1, chunk):
        size = min(chunk, n_boot + 1 - start)
        w_ref = acc.id_weights(ref_codes, size - (start == 0), rng, data=start == 0)
        w_target = acc.id_weights(target_codes, size - (start == 0), rng, data=start == 0)
        for j, (method, q) in enumerate(jobs):
            p, _ = _method_draws(method, q, reference, target, m, w_ref, w_target)
            for g, (_, mask) in enumerate(cells):
                draws.setdefault((j, g), []).append(np.clip(acc._weighted_mean(p[:, mask], w_target[:, mask]), 0.0, 1.0))
            if start == 0 and (method in METHODS or method == "logistic (all Q)"):
                risk[f"risk {method} {_label(method, q, conf_col, entropy_col)}"] = 1.0 - p[0]
    estimates = []
    for j, (method, q) in enumerate(jobs):
        label = _label(method, q, conf_col, entropy_col)
        for g, (name, mask) in enumerate(cells):
            values = np.concatenate(draws[j, g])
            finite = values[1:][np.isfinite(values[1:])]
            ci = tuple(float(x) for x in np.quantile(finite, [0.025, 0.975])) if finite.size else (float("nan"), float("nan"))
            estimates.append(AccuracyEstimate(method, label, name, float(values[0]), ci, int(mask.sum()),
                                              int(target.loc[mask, "image_id"].nunique()),
                                              float(actual[mask].mean()) if actual is not None else float("nan")))
    reading = {q: causal_reading(q, m) for q in q_columns}
    if any(method in ANCHORS for method, _ in jobs):
        reading[conf_col] = causal_reading(conf_col, m)
    return PriorPrediction(m, len(reference), int(reference["image_id"].nunique()), float(reference[m].mean()), len(target),
                           int(target["image_id"].nunique()), tuple(estimates), reading, n_boot,
                           time.perf_counter() - started, tuple(notes), risk)


# ---- evaluating on shifts a method has not seen --------------------------------------------------------------------
@dataclass(frozen=True)
class MethodError(Serializable):
    protocol: str
    method: str
    q: str
    mae: float  # mean absolute error over groups, in accuracy points (0-100)
    ci: tuple[float, float]
    groups: int
    uses_task_model: bool


@dataclass(frozen=True)
class PriorEvaluation(Tabular):
    """``causaliqa predict --evaluate``: every method's error on labelled shifts it was not fitted on.

    Protocols: ``clean -> each group`` (ATC's: fit on the clean rows, predict each (corruption, severity) group) and
    ``leave one corruption out`` (fit on clean + the other corruptions, predict each severity of the held-out one).
    ``errors``: MAE in accuracy points per (protocol, method, Q) with a 95 % percentile interval from resampling the
    groups (groups share images, so the interval is indicative); ``rows``: every (protocol, method, Q, group)."""

    m: str
    errors: tuple[MethodError, ...]
    rows: pd.DataFrame = field(repr=False, compare=False)
    seconds: float = 0.0
    reading: dict = field(default_factory=dict)
    skipped: tuple[str, ...] = ()  # fits that could not be made, with the reason

    json_exclude = ()

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{"protocol": e.protocol, "method": e.method, "q": e.q, "mae": e.mae, "ci_low": e.ci[0],
                              "ci_high": e.ci[1], "groups": e.groups, "uses_task_model": e.uses_task_model} for e in self.errors])

    def best(self, protocol: str, task_model: bool | None = None) -> MethodError | None:
        mine = [e for e in self.errors if e.protocol == protocol and (task_model is None or e.uses_task_model == task_model)
                and np.isfinite(e.mae)]
        return min(mine, key=lambda e: e.mae) if mine else None


def _uses_task_model(method: str, q: str, m: str) -> bool:
    from causaliqa.estimators.spec import split_column

    return method in ANCHORS or any(split_column(c)[0] == split_column(m)[0] for c in q.split(", ") if c)


def evaluate_prior(frame: pd.DataFrame, m: str, q_columns: list[str], methods=METHODS, anchors: bool = True,
                   n_boot: int = 1000, seed: int = 0) -> PriorEvaluation:
    """Both protocols on one labelled store (see :class:`PriorEvaluation`)."""
    started = time.perf_counter()
    frame = frame.dropna(subset=[m, *q_columns]).reset_index(drop=True)
    if "corruption" not in frame.columns or frame["corruption"].nunique() < 2 or "clean" not in set(frame["corruption"]):
        raise CausaliqaError("--evaluate", None, "a store with clean rows and corrupted ones (the shifts a method is tested on)",
                             f"corruptions {sorted(set(frame.get('corruption', pd.Series(dtype=str))))}")
    records = []

    skipped = []

    def run(protocol: str, reference: pd.DataFrame, target: pd.DataFrame) -> None:
        try:  # an evaluation measures extrapolation too: target scores beyond the reference's range are kept
            result = predict_accuracy(reference, target, m, q_columns, methods, anchors, n_boot=0, groups=True, overlap=False)
        except CausaliqaError as err:  # this fit is impossible (one class on the reference, a constant score): said, not fatal
            skipped.append(f"{protocol}: {err.expected}")
            return
        for e in result.estimates:
            if e.group != "all" or target["corruption"].nunique() == 1 and target["severity"].nunique() == 1:
                group = e.group if e.group != "all" else f"{target['corruption'].iloc[0]} severity {int(target['severity'].iloc[0])}"
                records.append({"protocol": protocol, "method": e.method, "q": e.q, "group": group,
                                "corruption": group.split(" severity")[0], "predicted": e.accuracy, "actual": e.actual})

    clean = frame[frame["corruption"] == "clean"]
    run("clean -> each group", clean, frame[frame["corruption"] != "clean"])
    for corruption in sorted(set(frame["corruption"]) - {"clean"}):
        run("leave one corruption out", frame[frame["corruption"] != corruption], frame[frame["corruption"] == corruption])
    rows = pd.DataFrame(records, columns=["protocol", "method", "q", "group", "corruption", "predicted", "actual"])
    rows["error"] = 100 * (rows["predicted"] - rows["actual"]).abs()
    rng = stream(seed, "prior_resamples")
    errors = []
    for (protocol, method, q), part in rows.groupby(["protocol", "method", "q"], sort=False):
        e = part["error"].to_numpy()
        boots = e[rng.integers(0, len(e), (n_boot, len(e)))].mean(1) if n_boot and len(e) > 1 else np.array([np.nan])
        errors.append(MethodError(protocol, method, q, float(e.mean()), tuple(float(x) for x in np.nanquantile(boots, [0.025, 0.975])),
                                  len(e), _uses_task_model(method, q, m)))
    reading = {q: causal_reading(q, m) for q in q_columns}
    return PriorEvaluation(m, tuple(errors), rows, time.perf_counter() - started, reading, tuple(dict.fromkeys(skipped)))


# ---- a dataset's quality profile ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class QualityProfile(Serializable):
    """Per Q: the reference cells whose Q distributions lie nearest the target's (Wasserstein-1 distance in units of
    the reference's standard deviation of Q), and the share of target rows outside the reference's range."""

    q: str
    nearest: tuple[tuple[str, float], ...]
    outside_range: float
    target_median: float
    reference_range: tuple[float, float]
    reading: str


@dataclass(frozen=True)
class DatasetProfile(Tabular):
    profiles: tuple[QualityProfile, ...]
    target_rows: int
    prediction: PriorPrediction | None = None

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{"q": p.q, "nearest": p.nearest[0][0] if p.nearest else "", "distance": p.nearest[0][1] if p.nearest else np.nan,
                              "outside_range": p.outside_range, "target_median": p.target_median} for p in self.profiles])


def profile_dataset(target: pd.DataFrame, reference: pd.DataFrame, q_columns: list[str], m: str | None = None,
                    n_boot: int = 200, seed: int = 0) -> DatasetProfile:
    """Where the target's quality distribution sits among the reference's cells, and (with ``m``) the prior's
    predicted accuracy of the task model on it."""
    from scipy.stats import wasserstein_distance

    profiles = []
    for q in q_columns:
        for frame, where in ((reference, "--reference"), (target, "store")):
            if q not in frame.columns or frame[q].notna().sum() == 0:
                raise CausaliqaError(where, "--q", f"a scored column {q}", "no such column" if q not in frame.columns else "no scored rows")
        t = target[q].dropna().to_numpy(dtype=np.float64)
        r = reference[q].dropna().to_numpy(dtype=np.float64)
        scale = r.std() if r.std() > 0 else 1.0
        distances = []
        for (c, s), part in reference.dropna(subset=[q]).groupby(["corruption", "severity"]):
            name = "clean" if c == "clean" else f"{c} severity {int(s)}"
            distances.append((name, float(wasserstein_distance(t, part[q].to_numpy(dtype=np.float64)) / scale)))
        distances.sort(key=lambda x: x[1])
        outside = float(np.mean((t < r.min()) | (t > r.max())))
        profiles.append(QualityProfile(q, tuple(distances[:3]), outside, float(np.median(t)), (float(r.min()), float(r.max())),
                                       causal_reading(q, m) if m else ""))
    prediction = predict_accuracy(reference, target, m, q_columns, ("logistic",), anchors=False, n_boot=n_boot, seed=seed,
                                  groups=False, where=("--reference", "store")) if m else None
    return DatasetProfile(tuple(profiles), len(target), prediction)
