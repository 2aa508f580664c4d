"""``causaliqa run``: score (reusing the store) -> the paper's analyses -> CI tests and verdicts -> report."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from causaliqa.analysis import (
    MixtureAnalysis,
    PairAnalysis,
    InterventionOutcome,
    analyse_all_mixtures,
    analyse_intervention,
    analyse_pairs,
    group_table,
    rank_metrics,
)
from causaliqa.errors import CausaliqaError
from causaliqa.experiment.config import PROXY_MEANING, Experiment
from causaliqa.experiment.fallback import dataset_or_fallback
from causaliqa.scoring.run import ScoreSummary
from causaliqa.serialize import Tabular
from causaliqa.verdict import VerdictTable, graph_verdicts


@dataclass(frozen=True)
class ExperimentResults(Tabular):
    """Everything an experiment computed; ``to_dict`` is ``results.json``, ``to_frame()`` the paper's table (one row
    per (M, Q) pair, with intervals)."""

    json_properties = ('proxy_meanings',)
    json_exclude = ('mixture_values',)
    @property
    def proxy_meanings(self) -> dict[str, str]:
        """What conditioning on each proxy column can and cannot show."""
        return {col: PROXY_MEANING[col] for cols in self.experiment.proxies.values() for col in cols}

    experiment: Experiment
    scoring: ScoreSummary | None
    n_rows: int
    pairs: tuple[PairAnalysis, ...]
    groups: pd.DataFrame
    mixtures: tuple[MixtureAnalysis, ...]
    verdict: VerdictTable | None
    verdict_note: str
    seconds: float
    mixture_values: pd.DataFrame | None = None  # p_c and every Q of the mixture rows (the report's Fig 21)
    interventions: tuple[InterventionOutcome, ...] = ()
    rankings: tuple = ()  # per M: the best Q and those it cannot be told apart from (simultaneous intervals)
    prior: tuple = ()  # per M: quality as a prior, each method's error on held-out shifts (analyses.prior)

    def to_frame(self) -> pd.DataFrame:
        from causaliqa.analysis import pair_rows

        return pd.DataFrame(pair_rows(self.pairs))


def experiment_dataset(exp: Experiment):
    """The experiment's dataset (or the offline fallback), read once."""
    from causaliqa.data.datasets import build_dataset

    return build_dataset(dataset_or_fallback(exp), f"{exp.source}: dataset")


def score_experiment(exp: Experiment, batch_size: int | None = None, device: str | None = None,
                     workers: int | None = None, progress: bool = True, rescore: bool = False, dataset=None,
                     ray: dict | None = None) -> ScoreSummary:
    """Score the experiment's variants with every bound estimator (rows already in the store are skipped).

    ``ray``: command-line overrides of ``scoring.backend``/``address``/``actors``/``cpus_per_actor``.
    """
    from causaliqa.scoring.bindings import make_bindings
    from causaliqa.scoring.ray_backend import RayOptions, check_backend
    from causaliqa.scoring.run import require_labels, resolve_device, score_images
    from causaliqa.scoring.store import check_store_path

    scoring = exp.spec.scoring.model_copy(update={k: v for k, v in (ray or {}).items() if v is not None})
    check_backend(scoring.backend, scoring.address, "--backend" if (ray or {}).get("backend") else f"{exp.source}: scoring.backend")
    resolve_device(device or scoring.device, "--device" if device else f"{exp.source}: scoring.device", here=scoring.backend == "local")
    check_store_path(exp.out, f"{exp.source}: out")
    bindings = make_bindings(exp.estimator_specs(), where=f"{exp.source}: bindings", options=exp.spec.estimator_options)
    dataset = dataset or experiment_dataset(exp)
    require_labels(list(dataset.records), bindings, f"{exp.source}: dataset.labels")
    return score_images(list(dataset.records), bindings, exp.out, batch_size=batch_size or scoring.batch_size,
                        device=device or scoring.device, workers=scoring.workers if workers is None else workers,
                        mixtures=list(dataset.members), progress=progress, rescore=rescore, backend=scoring.backend,
                        ray=RayOptions(scoring.address, scoring.actors, scoring.cpus_per_actor))


def plan_experiment(exp: Experiment, nodes: int, cpus_per_node: int, gpus_per_node: int = 0, actors: int | None = None,
                    cpus_per_actor: float | None = None, stages=None, everything: bool = False):
    """Expected wall time of scoring what the experiment's store still lacks (``everything``: all of it) on a cluster."""
    from causaliqa.scoring.bindings import make_bindings
    from causaliqa.scoring.plan import load_stage_costs, plan_run
    from causaliqa.scoring.store import STORE_FORMAT, load_scores, store_columns, store_format

    costs = load_stage_costs(stages)
    bindings = make_bindings(exp.estimator_specs(), where=f"{exp.source}: bindings", options=exp.spec.estimator_options)
    records = list(experiment_dataset(exp).records)
    columns = [c for b in bindings for c in b.columns]
    if not everything and store_format(exp.out) == STORE_FORMAT:
        stored = load_scores(exp.out, [c for c in columns if c in store_columns(exp.out)])
        if set(columns) <= set(stored.columns):
            done = set(map(tuple, stored.loc[stored[columns].notna().all(axis=1), ["image_id", "corruption", "severity"]]
                           .itertuples(index=False, name=None)))
            records = [r for r in records if r.key not in done]
    variants = [(r.corruption, r.severity, r.generated) for r in records]
    scoring = exp.spec.scoring
    plan = plan_run(variants, [b.estimator.spec.base for b in bindings], costs, nodes, cpus_per_node, gpus_per_node,
                    actors or scoring.actors, cpus_per_actor or scoring.cpus_per_actor)
    return plan, costs


def designed_rows(frame: pd.DataFrame, designed) -> pd.DataFrame:
    """The rows the experiment's dataset declares (not other runs' rows, not mixture-only variants)."""
    keys = pd.DataFrame(sorted(designed), columns=["image_id", "corruption", "severity"]).astype({"severity": frame["severity"].dtype})
    return frame.merge(keys, on=["image_id", "corruption", "severity"], how="inner")


def _verdict_frame(frame: pd.DataFrame, exp: Experiment) -> tuple[pd.DataFrame, str]:
    """Rows the CI tests use; corruption/severity statements leave out the clean rows (severity 0 only there)."""
    design = {"corruption", "severity"}
    used = {c for b in exp.bindings.values() for c in b.columns} | {c for cols in exp.proxies.values() for c in cols}
    if used & design:
        return frame[frame["corruption"] != "clean"], "clean images left out: their corruption and severity are set together"
    return frame, ""


def analyse_experiment(exp: Experiment, scoring: ScoreSummary | None = None, dataset=None, progress: bool = False) -> ExperimentResults:
    """The paper's analyses, CI tests and verdicts from the store, read once; everything the report needs is carried."""
    from causaliqa.analysis import mixture_frame
    from causaliqa.scoring.store import load_mixtures, load_scores, table_uri

    started = time.perf_counter()
    dataset = dataset or experiment_dataset(exp)
    bound = [c for b in exp.bindings.values() for c in b.columns] + [c for cols in exp.proxies.values() for c in cols]
    bound += exp.intervention_columns()
    if exp.spec.analyses.prior:
        from causaliqa.prior import anchor_columns

        bound += [c for m in exp.columns("M") for c in anchor_columns(m)]
    frame = load_scores(exp.out, columns=bound)  # only the columns the experiment binds, read once
    m_cols, q_cols = exp.columns("M"), exp.columns("Q")
    missing = [c for b in exp.bindings.values() for c in b.columns if c not in frame.columns]
    missing += [c for c in exp.intervention_columns() if c not in frame.columns]
    if missing:
        raise CausaliqaError(table_uri(exp.out, "scores"), "columns", "every bound column (run `causaliqa run` to score them)", missing)
    spec = exp.spec.analyses
    scored = designed_rows(frame, dataset.designed).dropna(subset=[*m_cols, *q_cols])
    if scored.empty:
        raise CausaliqaError(table_uri(exp.out, "scores"), None, "scored rows for the experiment's images", "none")
    pairs = tuple(analyse_pairs(scored, m_cols, q_cols, seed=exp.spec.seed, n_boot=spec.n_boot, group_wise=spec.group_wise,
                                by_label=spec.by_label, by_image=spec.by_image, folds=spec.folds, splits=spec.splits,
                                clean_group=spec.clean_group, progress=progress))
    members = load_mixtures(exp.out)
    mixtures: tuple[MixtureAnalysis, ...] = ()
    mixture_values = None
    if spec.mixtures and not members.empty:
        mixed = mixture_frame(frame, members)
        mixture_values = mixed[["p_c", *q_cols]]
        mixtures = tuple(analyse_all_mixtures(mixed, m_cols, q_cols, seed=exp.spec.seed, splits=spec.splits,
                                              n_perm=spec.null_permutations, progress=progress))
    # point-wise analyses use every variant; the verdict uses the designed variants, not the mixtures' duplicates
    verdict, note = None, ""
    if spec.ci_tests.enabled:
        data, note = _verdict_frame(scored, exp)
        columns = {n: list(b.columns) for n, b in exp.bindings.items() if b.kind != "image"}
        verdict = graph_verdicts(data, list(exp.graphs), columns, exp.kinds(), proxies={k: list(v) for k, v in exp.proxies.items()},
                                 alpha=spec.ci_tests.alpha, correction=spec.ci_tests.correction,
                                 max_given=spec.ci_tests.max_given, queries=spec.ci_tests.queries, clusters="image_id")
    interventions = _interventions(designed_rows(frame, dataset.designed), exp, m_cols, progress)
    prior = _prior(scored, m_cols, q_cols) if spec.prior else ()
    return ExperimentResults(exp, scoring, len(scored), pairs, group_table(scored, m_cols, q_cols), mixtures, verdict, note,
                             time.perf_counter() - started, mixture_values, interventions, rank_metrics(pairs), prior)


def _prior(frame: pd.DataFrame, m_cols: list[str], q_cols: list[str]) -> tuple:
    """Quality as a prior on each M (both held-out protocols); n/a without clean and corrupted rows."""
    from causaliqa.prior import evaluate_prior

    if frame["corruption"].nunique() < 2 or "clean" not in set(frame["corruption"]):
        return ()
    return tuple(evaluate_prior(frame, m, q_cols) for m in m_cols)


def _interventions(frame: pd.DataFrame, exp: Experiment, m_cols: list[str], progress: bool) -> tuple[InterventionOutcome, ...]:
    """Each intervention's variants against its baseline, for every M, on the designed rows (images held fixed)."""
    from tqdm import tqdm

    from causaliqa.estimators.spec import EstimatorSpec

    spec, out = exp.spec.analyses, []
    jobs = [(i, v, m) for i in exp.spec.interventions for v in i.variants for m in m_cols]
    for i, v, m in tqdm(jobs, desc="interventions", unit="comparison", disable=not progress or not jobs, leave=False):
        out.append(analyse_intervention(frame, i.name, i.change, m, EstimatorSpec.parse(i.baseline).column(),
                                        EstimatorSpec.parse(v.spec).column(), v.predictions, v.why, exp.spec.seed,
                                        spec.splits, i.n_perm, spec.equivalence_margin))
    return tuple(out)


def run_experiment(exp: Experiment, score: bool = True, batch_size: int | None = None, device: str | None = None,
                   workers: int | None = None, progress: bool = True, rescore: bool = False) -> tuple[ExperimentResults, dict[str, Path]]:
    """Score (unless ``score`` is False), analyse, write the report; returns the results and the files written."""
    from causaliqa.report import write_report
    from causaliqa.scoring.store import require_store

    if not score:
        require_store(exp.out)
    dataset = experiment_dataset(exp)  # the image folders are read once for scoring and analysis
    summary = score_experiment(exp, batch_size, device, workers, progress, rescore, dataset) if score else None
    results = analyse_experiment(exp, summary, dataset, progress)
    return results, write_report(results)
