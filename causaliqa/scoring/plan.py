"""How long a scoring run takes on a cluster, from per-stage costs measured on one core (``make bench``).

The model is the Ray backend's own layout (``actor_layout``, which the backend uses too): decode + corrupt run as CPU
tasks on the CPUs the scoring actors leave free; the actors (one per GPU on GPU clusters, else actors of up to 4 CPUs
each) run every estimator.
The two stages stream, so the run takes as long as the slower of them, plus Ray's start-up. Costs scale linearly
with cores (measured with one torch thread); an estimator or a GPU without a measurement is named, not guessed.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from causaliqa.errors import CausaliqaError
from causaliqa.serialize import Serializable

DECODE_CPUS = 0.5  # CPUs a decode task reserves: decoding and corrupting cost a fraction of the estimators
ACTOR_CPUS = 4.0  # CPUs (torch threads) of a CPU scoring actor by default
DECODE_SHARE = 0.25  # share of a CPU cluster left to decode tasks by default


@dataclass(frozen=True)
class Layout:
    """How the Ray backend spreads a cluster: scoring actors, their CPUs (torch threads) and GPUs, and the CPUs left
    to decode tasks."""

    actors: int
    cpus_per_actor: float
    gpus_per_actor: float
    decode_cpus: float

    @property
    def threads(self) -> int:
        return max(1, math.ceil(self.cpus_per_actor))


def actor_layout(cpus: float, gpus: int = 0, actors: int | None = None, cpus_per_actor: float | None = None,
                 node_cpus: float | None = None) -> Layout:
    """The default layout, or the one asked for: one actor per GPU; on CPUs, actors of up to 4 CPUs (and no more
    than the largest node has, ``node_cpus``) that leave a quarter of the cluster (at least half a CPU) to decoding.

    >>> actor_layout(2), actor_layout(128).actors, actor_layout(64, gpus=8).actors, actor_layout(4, node_cpus=2)
    (Layout(actors=1, cpus_per_actor=1.5, gpus_per_actor=0.0, decode_cpus=0.5), 24, 8, Layout(actors=1, cpus_per_actor=2.0, gpus_per_actor=0.0, decode_cpus=2.0))
    """
    cpus = float(cpus)
    node_cpus = float(node_cpus or cpus)
    if cpus_per_actor and cpus_per_actor > node_cpus:  # Ray would wait for such a node for ever
        raise CausaliqaError("--cpus-per-actor", None, f"at most the CPUs of the largest node ({node_cpus:g})", f"{cpus_per_actor:g}")
    if gpus:
        n = actors or gpus
        cpa = cpus_per_actor or 1.0
        return Layout(n, cpa, 1.0 if gpus >= n else 0.0, max(DECODE_CPUS, cpus - n * cpa))
    reserve = max(DECODE_CPUS, DECODE_SHARE * cpus)
    cpa = float(cpus_per_actor or min(ACTOR_CPUS, node_cpus, max(DECODE_CPUS, cpus - reserve)))
    n = actors or max(1, math.floor((cpus - reserve) / cpa))
    return Layout(n, cpa, 0.0, max(DECODE_CPUS, cpus - n * cpa))


DEFAULT_STAGES = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "stages.json"
DEFAULT_STARTUP = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "ray.json"


@dataclass(frozen=True)
class StageCosts:
    """Seconds per image on one CPU core (decode, corrupt:NAME:SEVERITY, estimate:BASE) and on one GPU."""

    cpu: dict[str, float]
    gpu: dict[str, float]
    startup_s: float
    source: str


@dataclass(frozen=True)
class StageTime(Serializable):
    stage: str
    where: str
    work_s: float  # seconds of one core (or one GPU)
    units: float  # cores or GPUs working on it
    seconds: float
    top: str  # what costs most inside the stage


@dataclass(frozen=True)
class Plan(Serializable):
    variants: int
    nodes: int
    cpus_per_node: int
    gpus_per_node: int
    actors: int
    stages: tuple[StageTime, ...]
    startup_s: float
    wall_s: float
    bottleneck: str
    balanced_actors: int | None
    not_measured: tuple[str, ...]


def load_stage_costs(stages: str | Path | None = None, startup: str | Path | None = None) -> StageCosts:
    """Read ``results/stages.json`` (and Ray's start-up from ``results/ray.json`` when present)."""
    path = Path(stages) if stages else DEFAULT_STAGES
    if not path.exists():
        raise CausaliqaError("--stages", None, "per-stage costs measured by `make bench` (benchmarks/results/stages.json)",
                             f"no file {path}")
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))["rows"]
        cpu = {r["stage"]: float(r["seconds_per_image"]) for r in rows if r["device"] == "cpu" and r.get("seconds_per_image")}
        gpu = {r["stage"]: float(r["seconds_per_image"]) for r in rows if r["device"] != "cpu" and r.get("seconds_per_image")}
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CausaliqaError(str(path), None, "a stages.json written by benchmarks/bench_stages.py", f"{type(err).__name__}: {err}") from None
    return StageCosts(cpu, gpu, _startup(Path(startup) if startup else DEFAULT_STARTUP), str(path))


def _startup(path: Path) -> float:
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))["rows"]
        return float(next(r["ours_s"] for r in rows if r["workload"].startswith("ray start-up")))  # instance + workers up
    except (OSError, ValueError, KeyError, StopIteration):
        return 0.0


def _corruption_cost(costs: StageCosts, corruption: str, severity: int) -> float | None:
    measured = {int(k.rsplit(":", 1)[1]): v for k, v in costs.cpu.items() if k.startswith(f"corrupt:{corruption}:")}
    if not measured:
        return None
    return measured[min(measured, key=lambda s: (abs(s - severity), s))]  # the nearest measured severity


def _split(work: dict[str, float]) -> tuple[float, str]:
    total = sum(work.values())
    if not total:
        return 0.0, ""
    name, biggest = max(work.items(), key=lambda kv: kv[1])
    return total, f"{name} {100 * biggest / total:.0f}%"


def plan_run(variants: list[tuple[str, int, bool]], estimators: list[str], costs: StageCosts, nodes: int, cpus_per_node: int,
             gpus_per_node: int = 0, actors: int | None = None, cpus_per_actor: float | None = None) -> Plan:
    """Expected wall time of scoring ``variants`` ((corruption, severity, generated) each) with ``estimators`` (bases).

    >>> costs = StageCosts({"decode": 0.01, "corrupt:gaussian_noise:3": 0.02, "estimate:tv": 0.03}, {}, 5.0, "x")
    >>> plan = plan_run([("gaussian_noise", 3, True)] * 1000, ["tv"], costs, nodes=2, cpus_per_node=2)
    >>> [(s.stage, s.units, round(s.seconds, 1)) for s in plan.stages], plan.bottleneck, round(plan.wall_s, 1)
    ([('decode + corrupt', 2.0, 15.0), ('estimators', 2.0, 15.0)], 'decode + corrupt', 20.0)
    """
    cpus, gpus = nodes * cpus_per_node, nodes * gpus_per_node
    missing: list[str] = []
    counts = Counter((c, s) for c, s, generated in variants if generated and c != "clean")
    prepare = {"decode": len(variants) * costs.cpu.get("decode", 0.0)}
    if "decode" not in costs.cpu:
        missing.append("decode")
    for (corruption, severity), n in sorted(counts.items()):
        cost = _corruption_cost(costs, corruption, severity)
        if cost is None:
            missing.append(f"corrupt:{corruption}")
        else:
            prepare[corruption] = prepare.get(corruption, 0.0) + n * cost
    device = "gpu" if gpus else "cpu"
    table = costs.gpu if gpus else costs.cpu
    scoring = {}
    for base in dict.fromkeys(estimators):
        cost = table.get(f"estimate:{base}")
        if cost is None:
            missing.append(f"estimate:{base} ({device}{', not measured here' if gpus else ''})")
        else:
            scoring[base] = len(variants) * cost
    layout = actor_layout(cpus, gpus, actors, cpus_per_actor, cpus_per_node)
    n_actors, free_cpus = layout.actors, layout.decode_cpus
    actor_units = n_actors if gpus else n_actors * layout.cpus_per_actor
    prepare_s, prepare_top = _split(prepare)
    scoring_s, scoring_top = _split(scoring)
    stages = (StageTime("decode + corrupt", f"CPU tasks on {free_cpus:g} CPUs", prepare_s, free_cpus, prepare_s / free_cpus, prepare_top),
              StageTime("estimators", f"{n_actors} actor(s) on {'GPUs' if gpus else f'{layout.cpus_per_actor:g} CPU(s) each'}",
                        scoring_s, actor_units, scoring_s / actor_units, scoring_top))
    slowest = max(stages, key=lambda s: s.seconds)
    balanced = None if gpus else _balanced_actors(prepare_s, scoring_s, cpus, layout.cpus_per_actor)
    return Plan(len(variants), nodes, cpus_per_node, gpus_per_node, n_actors, stages, costs.startup_s,
                costs.startup_s + slowest.seconds, slowest.stage, balanced, tuple(missing))


def _balanced_actors(prepare_s: float, scoring_s: float, cpus: int, cpus_per_actor: float) -> int:
    """The number of CPU actors that makes the slower stage fastest."""
    best, best_s = 1, float("inf")
    for n in range(1, max(1, int(cpus // cpus_per_actor)) + 1):
        free = max(DECODE_CPUS, cpus - n * cpus_per_actor)
        seconds = max(prepare_s / free, scoring_s / (n * cpus_per_actor))
        if seconds < best_s:
            best, best_s = n, seconds
    return best


def plan_lines(plan: Plan, costs: StageCosts) -> list[str]:
    """The plan as printed by ``causaliqa plan``."""
    from causaliqa.table import format_table

    if plan.variants == 0:
        return ["nothing to score: the store has every variant of this experiment (--all plans them all)"]
    rows = [[s.stage, s.where, f"{s.work_s:,.0f}", f"{s.seconds:,.0f}", s.top] for s in plan.stages]
    lines = [f"{plan.variants:,} variants on {plan.nodes} node(s) x {plan.cpus_per_node} CPUs x {plan.gpus_per_node} GPUs "
             f"(stage costs: {costs.source})",
             format_table(["stage", "runs on", "work (core-s)", "seconds", "largest share"], rows),
             f"Ray start-up: {plan.startup_s:.0f} s" + ("" if plan.startup_s else " (not measured: run make bench)"),
             f"expected wall time: {_duration(plan.wall_s)}; bottleneck: {plan.bottleneck}"]
    if plan.balanced_actors and plan.balanced_actors != plan.actors:
        lines.append(f"suggestion: --actors {plan.balanced_actors} balances the two stages")
    if plan.not_measured:
        lines.append("not measured here (left out, so the time is a lower bound): " + ", ".join(plan.not_measured))
    return lines


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
