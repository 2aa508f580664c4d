"""Draw data from a random linear / logistic structural model over a graph (for calibrating the CI tests).

Every node is a linear function of its parents plus Gaussian noise, standardised; ``binary`` nodes
are Bernoulli with a logistic link; ``categorical`` nodes take ``levels`` values with probabilities
from a softmax of random linear functions of their parents (roots: uniform). Edge weights are drawn
once per data set (|w| in [0.4, 0.9], random sign). Latent nodes are drawn and then dropped.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from causaliqa.errors import CausaliqaError
from causaliqa.graph.model import CausalGraph, did_you_mean


def _check_nodes(graph: CausalGraph, names, option: str) -> set[str]:
    names = set(names)
    for name in sorted(names):
        if name not in graph.nodes:
            raise CausaliqaError(graph.name, option, f"a node of the graph{did_you_mean(name, graph.nodes)}", repr(name))
    return names


def _numeric(values: np.ndarray, kind: str, levels: int) -> np.ndarray:
    """What a parent contributes to its children: standardised value (categorical: level effects)."""
    if kind == "categorical":
        return (values - (levels - 1) / 2) / max((levels - 1) / 2, 1)
    sd = values.std()
    return (values - values.mean()) / (sd if sd > 0 else 1.0)


def simulate(graph: CausalGraph, n: int, seed: int = 0, binary=None, categorical=(), levels: int = 4,
             keep_latent: bool = False) -> pd.DataFrame:
    """``n`` rows drawn from a random structural model over ``graph``; one column per kept node.

    ``binary`` defaults to M (task correctness) where the graph has it.
    """
    if n < 2:
        raise CausaliqaError("simulate", "n", "at least 2 rows", n)
    binary = _check_nodes(graph, (["M"] if "M" in graph.nodes else []) if binary is None else binary, "binary")
    categorical = _check_nodes(graph, categorical, "categorical")
    if binary & categorical:
        raise CausaliqaError("simulate", "binary/categorical", "a node in only one of them", sorted(binary & categorical))
    rng = np.random.default_rng(seed)
    kinds = {node: "binary" if node in binary else "categorical" if node in categorical else "continuous" for node in graph.nodes}
    values: dict[str, np.ndarray] = {}
    for node in graph.topological_order():
        parents = sorted(graph.parents(node))
        signal = np.zeros((n, levels if kinds[node] == "categorical" else 1))
        for parent in parents:
            x = _numeric(values[parent], kinds[parent], levels)
            weights = rng.uniform(0.4, 0.9, signal.shape[1]) * rng.choice([-1, 1], signal.shape[1])
            signal += x[:, None] * weights
        if kinds[node] == "continuous":
            values[node] = signal[:, 0] + rng.normal(size=n)
        elif kinds[node] == "binary":
            values[node] = (rng.random(n) < 1 / (1 + np.exp(-1.5 * signal[:, 0]))).astype(np.int64)
        else:
            logits = 1.5 * signal
            prob = np.exp(logits - logits.max(1, keepdims=True))
            prob /= prob.sum(1, keepdims=True)
            values[node] = (rng.random((n, 1)) > prob.cumsum(1)).sum(1).clip(0, levels - 1)
    keep = [v for v in graph.nodes if keep_latent or graph.nodes[v].role != "latent"]
    return pd.DataFrame({v: values[v] for v in keep})


def column_kinds(graph: CausalGraph, binary=("M",), categorical=()) -> dict[str, str]:
    return {v: "binary" if v in binary else "categorical" if v in categorical else "continuous" for v in graph.nodes}


DESIGN_COLUMNS = {"C": "corruption", "S": "severity", "X0": "image_id", "Y": "label"}


def simulate_design(graph: CausalGraph, images: int, corruptions: int = 5, severities: int = 3, seed: int = 0,
                    deterministic=("X", "Y"), binary=("M",), labels: int = 10) -> pd.DataFrame:
    """A full-factorial IQA design drawn from a graph over design variables: every image id (X0) under
    every (corruption C, severity S) cell, one row each. X0 is a latent content value per image, C a random effect
    per level, S its level; every other node is a linear function of its parents plus N(0, 1) noise, except the
    ``deterministic`` ones (no noise: the image X is a function of X0, C and S; the label Y a function of the
    content, so constant within an image, binned into ``labels`` classes) and ``binary`` ones (logistic).
    Columns: image_id, corruption, severity, label and every other observed or predicted node."""
    for node in ("C", "S", "X0"):
        if node not in graph.nodes:
            raise CausaliqaError(graph.name, "nodes", "the design variables C, S and X0 (see graphs/design_*.yaml)", f"no {node}")
    if images < 2:
        raise CausaliqaError("simulate", "images", "at least 2 images", images)
    rng = np.random.default_rng(seed)
    image = np.repeat(np.arange(images), corruptions * severities)
    corruption = np.tile(np.repeat(np.arange(corruptions), severities), images)
    severity = np.tile(np.arange(1, severities + 1), images * corruptions)
    values = {"X0": rng.normal(size=images)[image], "C": rng.normal(size=corruptions)[corruption],
              "S": _numeric(severity.astype(np.float64), "continuous", 0)}
    n = image.size
    for node in graph.topological_order():
        if node in values:
            continue
        signal = np.zeros(n)
        for parent in sorted(graph.parents(node)):
            signal += _numeric(values[parent], "continuous", 0) * rng.uniform(0.6, 1.0) * rng.choice([-1, 1])
        if node in binary:
            values[node] = (rng.random(n) < 1 / (1 + np.exp(-1.5 * signal))).astype(np.int64)
        elif node in deterministic:
            values[node] = signal
        else:
            values[node] = signal + rng.normal(size=n)
    frame = pd.DataFrame({"image_id": np.char.add("img", image.astype(str)), "corruption": np.char.add("c", corruption.astype(str)),
                          "severity": severity})
    if "Y" in values:
        cuts = np.quantile(values["Y"], np.linspace(0, 1, labels + 1)[1:-1])
        frame["label"] = np.searchsorted(cuts, values["Y"])
    for node in graph.nodes:
        if node not in DESIGN_COLUMNS and node != "X" and graph.nodes[node].role != "latent":
            frame[node] = values[node]
    return frame


def design_power(truth: CausalGraph, graphs: list[CausalGraph], images: int, sims: int = 20, seed: int = 0,
                 queries=("Q _||_ X0 | C, S", "Q _||_ M | C, S", "Q _||_ M | X0"), alpha: float = 0.05,
                 corruptions: int = 5, severities: int = 3) -> dict[str, float]:
    """How often each graph is falsified (Holm within its family, tests clustered by image) over ``sims`` designs
    of ``images`` images drawn from ``truth``: its level where it is the truth, its power where it is wrong."""
    from causaliqa.verdict import graph_verdicts

    counts = {g.name: 0 for g in graphs}
    for i in range(sims):
        data = simulate_design(truth, images, corruptions, severities, seed + i)
        nodes = {**DESIGN_COLUMNS, "Q": "Q", "M": "M"}
        columns = {node: [col] for node, col in nodes.items() if col in data.columns}
        kinds = {"corruption": "categorical", "severity": "categorical", "image_id": "categorical", "label": "categorical",
                 "Q": "continuous", "M": "binary"}
        table = graph_verdicts(data, graphs, columns, kinds, alpha=alpha, queries=list(queries), clusters="image_id")
        for verdict in table.verdicts:
            counts[verdict.graph] += verdict.falsified
    return {name: count / sims for name, count in counts.items()}
