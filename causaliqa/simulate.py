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
