"""Adjustment sets and minimal separators against their definitions (brute force over every subset) and pgmpy."""

from __future__ import annotations

import itertools
import random

import networkx as nx
import pytest
from typer.testing import CliRunner

from causaliqa import CausaliqaError
from causaliqa.cli import app
from causaliqa.graph import CausalGraph, Node
from causaliqa.graph.adjust import adjustment_sets, is_adjustment_set
from causaliqa.graph.separators import d_separators, minimal_d_separators

runner = CliRunner()


def _random_graph(rng: random.Random, n_max: int = 8) -> CausalGraph:
    n = rng.randint(3, n_max)
    names = [f"V{i}" for i in range(n)]
    edges = [(a, b) for i, a in enumerate(names) for b in names[i + 1:] if rng.random() < rng.choice([0.25, 0.4, 0.55])]
    roles = {v: "latent" if rng.random() < 0.15 else "selection" if rng.random() < 0.07 else "observed" for v in names}
    return CausalGraph.build(edges, nodes={v: Node(v, roles[v]) for v in names})


def _brute_force(graph: CausalGraph, x: set[str], y: set[str]):
    candidates = [v for v, node in graph.nodes.items() if node.role == "observed" and v not in x | y]
    valid = [frozenset(s) for k in range(len(candidates) + 1) for s in itertools.combinations(candidates, k)
             if is_adjustment_set(graph, x, y, s)]
    minimal = {s for s in valid if not any(t < s for t in valid)}
    return set(valid), minimal


@pytest.mark.parametrize("seed", range(40))
def test_adjustment_sets_equal_the_definition_by_brute_force(seed):
    rng = random.Random(seed)
    graph = _random_graph(rng)
    observed = [v for v, node in graph.nodes.items() if node.role == "observed"]
    for _ in range(4):
        if len(observed) < 2:
            return
        x, y = rng.sample(observed, 2)
        if rng.random() < 0.3 and len(observed) > 3:  # sets of exposures too
            x = {x, rng.choice([v for v in observed if v != y])}
        x, y = ({x} if isinstance(x, str) else set(x)), {y}
        valid, minimal = _brute_force(graph, x, y)
        got_min = adjustment_sets(graph, sorted(x), sorted(y), limit=None)
        got_all = adjustment_sets(graph, sorted(x), sorted(y), minimal=False, limit=None)
        assert {frozenset(s) for s in got_min.sets} == minimal
        assert {frozenset(s) for s in got_all.sets} == valid
        assert bool(got_min.sets) == bool(got_min.reason == "")


def test_back_door_sets_from_pgmpy_are_valid_adjustment_sets():
    """pgmpy lists back-door sets (no descendant of X at all), a subset of the valid adjustment sets."""
    from pgmpy.inference.CausalInference import CausalInference

    checked = 0
    for seed in range(150):
        rng = random.Random(100 + seed)
        names = [f"V{i}" for i in range(rng.randint(4, 8))]
        graph = CausalGraph.build([(a, b) for i, a in enumerate(names) for b in names[i + 1:] if rng.random() < 0.4],
                                  nodes={v: Node(v) for v in names})
        x, y = rng.sample(names, 2)
        if y in nx.ancestors(graph.to_networkx(), x):
            continue
        inference = CausalInference(graph.to_pgmpy())
        ours = {frozenset(s) for s in adjustment_sets(graph, x, y, minimal=False, limit=None).sets}
        for backdoor in inference.get_all_backdoor_adjustment_sets(x, y):
            assert frozenset(backdoor) in ours
            checked += 1
    assert checked > 20


@pytest.mark.parametrize("seed", range(40))
def test_minimal_d_separators_equal_brute_force(seed):
    rng = random.Random(500 + seed)
    graph = _random_graph(rng)
    g = graph.to_networkx()
    fixed = set(graph.selection_nodes)
    hidden = set(graph.nodes_with_role("latent"))
    for a, b in itertools.combinations(graph.nodes, 2):
        if {a, b} & (fixed | hidden) or g.has_edge(a, b) or g.has_edge(b, a):
            continue
        allowed = [v for v in graph.nodes if v not in (a, b) and v not in fixed | hidden]
        seps = [set(s) for k in range(len(allowed) + 1) for s in itertools.combinations(allowed, k)
                if nx.is_d_separator(g, {a}, {b}, set(s) | fixed)]
        assert set(minimal_d_separators(g, a, b, fixed, allowed)) == {frozenset(s | fixed) for s in seps if not any(t < s for t in seps)}
        assert set(d_separators(g, {a}, {b}, fixed, set(allowed) | fixed)) == {frozenset(s | fixed) for s in seps}
        for sep in minimal_d_separators(g, a, b, fixed, allowed):
            assert nx.is_minimal_d_separator(g, {a}, {b}, sep, included=fixed)


def test_adjust_cli_explains_when_no_set_exists(tmp_path):
    path = tmp_path / "u.dagitty"
    path.write_text("dag { U [latent] U -> X U -> Y X -> Y X [exposure] Y [outcome] }", encoding="utf-8")
    result = runner.invoke(app, ["adjust", str(path)])
    assert result.exit_code == 0
    assert "no valid adjustment set for the total effect X -> Y: every set of observed nodes leaves a back-door path open (it runs through latent nodes: U)" in result.output
    result = runner.invoke(app, ["adjust", "graphs/shared_features.yaml", "--exposure", "Q", "--outcome", "M", "--json"])
    assert result.exit_code == 0 and '"sets"' in result.output


@pytest.mark.parametrize("args, message", [
    (["--exposure", "Nope", "--outcome", "M"], "--exposure: expected a node of graph 'baseline'"),
    (["--exposure", "Q"], "--outcome: expected a node of graph 'baseline' (or a node marked [outcome] in a dagitty file), got none"),
    (["--exposure", "A", "--outcome", "M"], "--exposure: expected an observed node"),
    (["--exposure", "Q", "--outcome", "Q"], "--outcome: expected nodes other than the exposure"),
])
def test_adjust_mistakes_are_one_line(args, message):
    result = runner.invoke(app, ["adjust", "graphs/baseline.yaml", *args])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_a_selection_node_below_the_effect_leaves_no_set():
    graph = CausalGraph.build(["X -> Y", "Y -> S"], nodes={"X": Node("X"), "Y": Node("Y"), "S": Node("S", "selection")})
    result = adjustment_sets(graph, "X", "Y")
    assert result.sets == () and "selection node(s) S descend from a node on a causal path" in result.reason
    with pytest.raises(CausaliqaError):
        adjustment_sets(graph, "S", "Y")
