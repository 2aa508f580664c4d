"""Experiment files: graphs + dataset + node bindings + analyses, validated against the graphs.

Relative paths inside the file (graphs, images, labels, out, report, estimator weight files after ``@``) are
relative to the experiment file's folder. ``${VAR}`` and ``${VAR:-default}`` in any string are replaced from the
environment, so data locations can stay out of the file. On the command line, ``--set dataset.images=/data/val``
overrides any field, and a path given there (``--set``, ``--out``, ``--report``) is relative to the current folder,
as every command-line path is.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field

from causaliqa.data.datasets import DatasetSpec
from causaliqa.errors import CausaliqaError, CausaliqaWarning
from causaliqa.graph.model import CausalGraph, did_you_mean
from causaliqa.verdict import PROXY_COLUMNS, PROXY_MEANING  # noqa: F401  (re-exported for callers)
from causaliqa.yamlio import read_yaml_mapping, validate_model

# what a node may bind besides an estimator output: data columns of the store
DATA_BINDINGS = {"images": None, "label": "label", "image_id": "image_id", "corruption": "corruption", "severity": "severity"}
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class CITestSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    alpha: float = Field(0.05, gt=0, lt=1)
    correction: Literal["holm", "bh"] = "holm"  # for the exploratory listing; verdicts use Holm within each graph
    max_given: int = Field(2, ge=0, le=4)
    queries: list[str] = []


class AnalysesSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    group_wise: bool = True
    point_wise: bool = True
    by_label: bool = True
    by_image: bool = True
    mixtures: bool = True
    n_boot: int = Field(1000, ge=10)  # bootstrap resamples of the group-wise correlations (other intervals: jackknives)
    folds: int = Field(5, ge=2)
    splits: int = Field(10, ge=1)  # repeated 80/20 splits by image id (point-wise and mixtures)
    clean_group: bool = False  # group-wise correlations over corruption x severity only, as the paper; True adds clean
    null_permutations: int = Field(200, ge=0)  # mixtures: permutations for the no-association band (0: none)
    equivalence_margin: float = Field(0.02, ge=0, lt=0.5)  # interventions: |AUC difference| within this counts as equal
    prior: bool = False  # quality as a prior: each method's error on held-out shifts (scores M's own max_prob, entropy too)
    ci_tests: CITestSpec = CITestSpec()


class ScoringSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    batch_size: int | None = Field(None, ge=1)  # None: 4 on CPU, 256 on CUDA
    device: str = "auto"
    workers: int | None = Field(None, ge=0)
    backend: Literal["local", "ray"] = "local"  # ray: the same rows computed on a Ray cluster (pip install causaliqa[ray])
    address: str | None = None  # ray only: auto, HOST:PORT or ray://HOST:PORT; none starts Ray on this machine
    actors: int | None = Field(None, ge=1)  # ray only: scoring actors (default: one per GPU; on CPUs, see cpus_per_actor)
    cpus_per_actor: float | None = Field(None, gt=0)  # ray only: CPUs (torch threads) per actor (default: up to 4, a quarter of the cluster left to decoding)


class InterventionVariant(BaseModel):
    """One changed computation of the node, and what each graph's story predicts for AUC(Q -> M) against the baseline."""

    model_config = ConfigDict(extra="forbid")
    spec: str
    predictions: dict[str, Literal["higher", "lower", "equal"]] = {}
    why: str = ""


class InterventionSpec(BaseModel):
    """Change how Q is computed while the images stay the same: a baseline computation and variants."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    node: Literal["Q"] = "Q"
    change: str = ""  # what is changed, in words (the report quotes it)
    graphs: list[str] = []  # graph files whose predictions this intervention states, besides the experiment's graphs
    baseline: str
    variants: list[InterventionVariant] = Field(min_length=1)
    n_perm: int = Field(500, ge=19)


class ExperimentSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    graphs: list[str] = Field(min_length=1)
    dataset: DatasetSpec
    fallback: Literal["none", "skimage"] = "none"
    bindings: dict[str, Union[str, list[str]]]
    estimator_options: dict[str, dict] = {}
    proxies: dict[str, Union[str, list[str]]] = {"X": ["image_id"]}
    analyses: AnalysesSpec = AnalysesSpec()
    scoring: ScoringSpec = ScoringSpec()
    seed: int = Field(0, ge=0, lt=2**63)  # every random stream (splits, resamples, folds, permutations) derives from it
    out: str
    report: str | None = None  # folder for the report files; default: out (set it when experiments share one store)
    interventions: list[InterventionSpec] = []


@dataclass(frozen=True)
class NodeBinding:
    node: str
    columns: tuple[str, ...]  # store columns (empty for X bound to images)
    kind: str  # binary | continuous | categorical | image
    estimators: tuple[str, ...] = ()  # estimator specs to score


@dataclass(frozen=True)
class Experiment:
    spec: ExperimentSpec
    source: str
    graphs: tuple[CausalGraph, ...]
    bindings: dict[str, NodeBinding]
    proxies: dict[str, tuple[str, ...]]
    stand_in: str = ""  # what replaced the missing images, when the user asked for stand-in data (else "")

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def out(self) -> Path | str:
        """The store: a local folder, or an object-storage URI (``s3://bucket/prefix``)."""
        from causaliqa.scoring.store import store_location

        return store_location(self.spec.out, f"{self.source}: out")

    @property
    def report_dir(self) -> Path:
        return Path(self.spec.report) if self.spec.report else self.out

    def columns(self, node: str) -> list[str]:
        return list(self.bindings[node].columns) if node in self.bindings else []

    def estimator_specs(self) -> list[str]:
        """Every estimator to score: the bindings' and the interventions' computations, and with ``analyses.prior``
        the task models' own confidences (AC, DoC and ATC need them); each once."""
        from causaliqa.estimators.spec import EstimatorSpec

        bound = [e for b in self.bindings.values() for e in b.estimators]
        changed = [s for i in self.spec.interventions for s in (i.baseline, *(v.spec for v in i.variants))]
        anchors = [str(EstimatorSpec.parse(e).with_output(o)) for e in (self.bindings["M"].estimators if "M" in self.bindings else ())
                   for o in ("max_prob", "entropy")] if self.spec.analyses.prior else []
        return list(dict.fromkeys(bound + changed + anchors))

    def intervention_columns(self) -> list[str]:
        from causaliqa.estimators.spec import EstimatorSpec

        return list(dict.fromkeys(EstimatorSpec.parse(s).column() for i in self.spec.interventions
                                  for s in (i.baseline, *(v.spec for v in i.variants))))

    def kinds(self) -> dict[str, str]:
        kinds = {c: b.kind for b in self.bindings.values() for c in b.columns}
        kinds.update({c: "categorical" for c in PROXY_COLUMNS})
        return kinds


def expand_variables(value, where: str, field: str = ""):
    """Replace ``${VAR}`` / ``${VAR:-default}`` in every string of a parsed YAML tree."""
    if isinstance(value, dict):
        return {expand_variables(k, where, field) if isinstance(k, str) else k:  # keys too (estimator_options keys are specs)
                expand_variables(v, where, f"{field}.{k}" if field else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_variables(v, where, f"{field}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def sub(match: re.Match) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is None:
            raise CausaliqaError(where, field, f"environment variable {name} to be set (or a default: ${{{name}:-...}})", "unset")
        return default

    return _VAR.sub(sub, value)


PATH_FIELDS = ("out", "report", "dataset.images", "dataset.labels")  # given on the command line: relative to the current folder


def apply_overrides(data: dict, overrides: list[str], where: str) -> dict:
    """``--set dataset.limit=8``: dotted key, YAML value. A path field set here is made absolute against the current
    folder (the file's own paths are relative to the file)."""
    for text in overrides:
        key, sep, raw = text.partition("=")
        if not sep or not key.strip():
            raise CausaliqaError("--set", None, "KEY=VALUE with a dotted KEY (dataset.images=/data/val)", repr(text))
        parts = key.strip().split(".")
        node = data
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise CausaliqaError("--set", key, "a path through mappings", f"{part!r} is not a mapping in {where}")
        try:
            node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            node[parts[-1]] = raw
        if key.strip() in PATH_FIELDS and isinstance(node[parts[-1]], str) and node[parts[-1]] and "://" not in node[parts[-1]]:
            node[parts[-1]] = os.path.abspath(os.path.expanduser(node[parts[-1]]))
    return data


def _resolve(base: Path, path: str) -> str:
    p = Path(path).expanduser()
    return os.path.normpath(p if p.is_absolute() else (base / p))


def _resolve_store(base: Path, text: str) -> str:
    """``out:`` is a folder relative to the experiment file, or a URI (file:// is read as its path)."""
    from causaliqa.scoring.store import store_location

    return str(store_location(text, "out")) if "://" in text else _resolve(base, text)


def _resolve_weights(base: Path, text: str) -> str:
    """A weights file after ``@`` is relative to the experiment file."""
    from causaliqa.estimators.spec import EstimatorSpec

    spec = EstimatorSpec.parse(text)
    return str(spec.with_weights(_resolve(base, spec.weights))) if spec.weights_kind == "file" else text


def _without_missing_weights(text: str) -> str:
    """Stand-in mode: a weights file that is not there is dropped (the library's default weights download)."""
    from causaliqa.estimators.spec import EstimatorSpec

    spec = EstimatorSpec.parse(text)
    if spec.weights_kind == "file" and not Path(spec.weights).exists():
        import warnings

        warnings.warn(f"{spec.weights} not found: {spec.base} uses its library's default weights (downloaded on first use)", CausaliqaWarning, stacklevel=2)
        return str(spec.with_weights(None))
    return text


def _resolve_paths(spec: ExperimentSpec, base: Path, stand_in: bool = False) -> ExperimentSpec:
    dataset = spec.dataset.model_copy(update={
        "images": _resolve(base, spec.dataset.images),
        "labels": _resolve(base, spec.dataset.labels) if spec.dataset.labels else None,
    })
    fix = (lambda s: _without_missing_weights(_resolve_weights(base, s))) if stand_in else (lambda s: _resolve_weights(base, s))
    bindings = {n: ([fix(s) for s in v] if isinstance(v, list) else fix(v)) for n, v in spec.bindings.items()}
    options = {fix(k) if "@" in k else k: v for k, v in spec.estimator_options.items()}  # keys are specs: the same fixes
    interventions = [i.model_copy(update={"baseline": fix(i.baseline), "graphs": [_resolve(base, g) for g in i.graphs],
                                          "variants": [v.model_copy(update={"spec": fix(v.spec)}) for v in i.variants]})
                     for i in spec.interventions]
    return spec.model_copy(update={"graphs": [_resolve(base, g) for g in spec.graphs], "dataset": dataset, "interventions": interventions,
                                   "bindings": bindings, "estimator_options": options, "out": _resolve_store(base, spec.out),
                                   "report": _resolve(base, spec.report) if spec.report else None})


def _bind_node(node: str, values: list[str], where: str, field: str) -> NodeBinding:
    """A node's binding from the estimators' class metadata (nothing is constructed or loaded here)."""
    from causaliqa.estimators.registry import estimator_class, resolve_spec

    if not values:
        raise CausaliqaError(where, field, "an estimator output or a data column", "an empty list")
    data = [v for v in values if v in DATA_BINDINGS]
    if data:
        if len(values) > 1:
            raise CausaliqaError(where, field, "one data column (images, label, image_id, corruption, severity)", values)
        if values[0] == "images":
            return NodeBinding(node, (), "image")
        return NodeBinding(node, (DATA_BINDINGS[values[0]],), "categorical")
    columns, kinds, specs = [], set(), []
    for i, text in enumerate(values):
        spec = resolve_spec(text, f"{where}: {field}[{i}]")
        kind = {"score": "continuous", "binary": "binary", "label": "categorical"}[estimator_class(spec).kinds[spec.output]]
        kinds.add(kind)
        columns.append(spec.column())
        specs.append(str(spec))
    if len(kinds) > 1:
        raise CausaliqaError(where, field, "outputs of one kind per node (all scores, or all correctness)", sorted(kinds))
    return NodeBinding(node, tuple(columns), kinds.pop(), tuple(specs))


def _check_bindings(exp: ExperimentSpec, graphs: list[CausalGraph], where: str) -> dict[str, NodeBinding]:
    for required in ("Q", "M"):
        if required not in exp.bindings:
            raise CausaliqaError(where, "bindings", f"a binding for node {required} (the paper's quality score and task performance)", f"nodes {sorted(exp.bindings)}")
    bindings = {}
    for node, value in exp.bindings.items():
        field = f"bindings.{node}"
        for graph in graphs:
            if node not in graph.nodes:
                raise CausaliqaError(where, field, f"a node of {graph.source}{did_you_mean(node, graph.nodes)}", repr(node))
            role = graph.nodes[node].role
            if role not in ("observed", "predicted"):
                raise CausaliqaError(where, field, f"an observed or predicted node ({node} is {role} in {graph.source})", repr(node))
        binding = _bind_node(node, value if isinstance(value, list) else [value], where, field)
        if node == "M" and binding.kind != "binary":
            raise CausaliqaError(where, field, "binary correctness outputs for M (e.g. efficientnet_lite0:correct)", value)
        if node == "Q" and binding.kind != "continuous":
            raise CausaliqaError(where, field, "score outputs for Q (an IQA score or a classifier's max_prob / entropy / max_logit)", value)
        bindings[node] = binding
    return bindings


def _check_proxies(exp: ExperimentSpec, bindings: dict[str, NodeBinding], graphs: list[CausalGraph], where: str) -> dict[str, tuple[str, ...]]:
    proxies = {}
    for node, value in exp.proxies.items():
        cols = tuple(value if isinstance(value, list) else [value])
        if node in bindings and bindings[node].kind != "image":
            raise CausaliqaError(where, f"proxies.{node}", "a node that cannot be measured directly (bound to images, or unbound)", f"{node} bound to {list(bindings[node].columns)}")
        if any(node not in g.nodes for g in graphs):
            graph = next(g for g in graphs if node not in g.nodes)
            raise CausaliqaError(where, f"proxies.{node}", f"a node of {graph.source}{did_you_mean(node, graph.nodes)}", repr(node))
        for col in cols:
            if col not in PROXY_COLUMNS:
                raise CausaliqaError(where, f"proxies.{node}", f"proxy columns from {', '.join(PROXY_COLUMNS)}", repr(col))
        proxies[node] = cols
    return proxies


def load_experiment(path: str | Path, overrides: list[str] = (), out: str | Path | None = None, report: str | Path | None = None,
                    stand_in: bool = False, require_data: bool = True) -> Experiment:
    """Read, expand, validate and bind an experiment file; every mistake is one line.

    ``out``/``report`` (command-line paths: relative to the current folder) replace the file's. The images must
    exist; with ``stand_in`` (``causaliqa demo``, ``run --stand-in``) and an experiment that declares
    ``fallback: skimage``, missing images are replaced by scikit-image's photographs, in a store of their own
    (``OUT-stand-in``), and every report and figure says so. ``require_data=False`` validates the file alone.
    """
    from causaliqa.graph import load_graph

    path = Path(path)
    where = str(path)
    extra = [f"{k}={os.path.abspath(v)}" if "://" not in str(v) else f"{k}={v}" for k, v in (("out", out), ("report", report)) if v]
    data = apply_overrides(read_yaml_mapping(path), [*overrides, *extra], where)
    data = expand_variables(data, where)
    spec = validate_model(ExperimentSpec, data, where)
    missing = not Path(_resolve(path.resolve().parent, spec.dataset.images)).exists()
    use_stand_in = stand_in and missing and spec.fallback != "none"
    spec = _resolve_paths(spec, path.resolve().parent, use_stand_in)
    note = ""
    if use_stand_in:
        from causaliqa.experiment.fallback import SKIMAGE_IMAGES

        note = (f"STAND-IN DATA: {spec.dataset.images} was not found, so this run used the {len(SKIMAGE_IMAGES)} photographs "
                f"scikit-image installs (illustrative only: no statement here is about ImageNet)")
        spec = spec.model_copy(update={"out": spec.out.rstrip("/") + "-stand-in",
                                       "report": spec.report.rstrip("/") + "-stand-in" if spec.report else None})
    if "://" in spec.out and not spec.report:
        raise CausaliqaError(where, "report", "a local folder for the report when out: is in object storage (or --report)",
                             f"out: {spec.out} and no report:")
    graphs = []
    for i, g in enumerate(spec.graphs):
        if not Path(g).exists():
            raise CausaliqaError(where, f"graphs[{i}]", "an existing graph file (relative to the experiment file)", g)
        graphs.append(load_graph(g))
    names = [g.name for g in graphs]
    if len(set(names)) != len(names):
        raise CausaliqaError(where, "graphs", "graphs with distinct names", names)
    bindings = _check_bindings(spec, graphs, where)
    proxies = _check_proxies(spec, bindings, graphs, where)
    allowed = sorted({n for n, b in bindings.items() if b.kind != "image"} | set(proxies))
    _check_queries(spec.analyses.ci_tests.queries, graphs, allowed, where)
    _check_interventions(spec, graphs, where)
    _check_options(spec, bindings, where)
    if require_data and missing and not use_stand_in:
        how = (" (or `causaliqa run --stand-in` for the offline stand-in photographs)" if spec.fallback != "none" else "")
        raise CausaliqaError(where, "dataset.images", f"an existing image folder{how}", f"{spec.dataset.images}: no such folder")
    return Experiment(spec, where, tuple(graphs), bindings, proxies, note)


def _check_interventions(spec: ExperimentSpec, graphs: list[CausalGraph], where: str) -> None:
    """Every computation an intervention names is a score output; every prediction names one of the graphs."""
    from causaliqa.graph import load_graph

    for i, intervention in enumerate(spec.interventions):
        field = f"interventions[{i}]"
        for j, path in enumerate(intervention.graphs):
            if not Path(path).exists():
                raise CausaliqaError(where, f"{field}.graphs[{j}]", "an existing graph file (relative to the experiment file)", path)
        names = [g.name for g in graphs] + [load_graph(path).name for path in intervention.graphs]
        if _bind_node("Q", [intervention.baseline], where, f"{field}.baseline").kind != "continuous":
            raise CausaliqaError(where, f"{field}.baseline", "a score output (a computation of Q)", intervention.baseline)
        for j, variant in enumerate(intervention.variants):
            binding = _bind_node("Q", [variant.spec], where, f"{field}.variants[{j}].spec")
            if binding.kind != "continuous":
                raise CausaliqaError(where, f"{field}.variants[{j}].spec", "a score output (a computation of Q)", variant.spec)
            for graph in variant.predictions:
                if graph not in names:
                    raise CausaliqaError(where, f"{field}.variants[{j}].predictions", f"one of the experiment's graphs{did_you_mean(graph, names)}", repr(graph))


def _check_queries(queries: list[str], graphs: list[CausalGraph], allowed: list[str], where: str) -> None:
    """User CI queries are checked against every graph and the bindings now, not after hours of scoring."""
    for i, text in enumerate(queries):
        field = f"analyses.ci_tests.queries[{i}]"
        for graph in graphs:
            query = graph.check_query(text, f"{where}: {field}")
        for node in sorted(query.nodes):
            if node not in allowed:
                raise CausaliqaError(where, field, f"a bound node or a proxied one{did_you_mean(node, allowed)} ({', '.join(allowed)})", repr(node))


def _check_options(spec: ExperimentSpec, bindings: dict[str, NodeBinding], where: str) -> None:
    from causaliqa.estimators.registry import check_options, resolve_spec

    bound = {str(resolve_spec(e).estimator) for b in bindings.values() for e in b.estimators}
    bound |= {str(resolve_spec(s).estimator) for i in spec.interventions for s in (i.baseline, *(v.spec for v in i.variants))}
    for key, options in spec.estimator_options.items():
        field = f"estimator_options.{key}"
        est = resolve_spec(key, f"{where}: {field}").estimator
        if str(est) not in bound:
            raise CausaliqaError(where, field, f"a bound estimator ({', '.join(sorted(bound))})", repr(key))
        if not isinstance(options, dict):
            raise CausaliqaError(where, field, "a mapping of option: value", type(options).__name__)
        check_options(est, options, f"{where}: {field}")
