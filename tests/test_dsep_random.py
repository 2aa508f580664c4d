"""Our d-separation, path explanations and implied independencies against networkx and pgmpy."""

import itertools
import random

import networkx as nx
import pytest
from pgmpy.base import DAG

from causaliqa.graph import CausalGraph, Node

N_GRAPHS = 200


def random_dag(rng: random.Random) -> CausalGraph:
    """A random DAG on 2-12 nodes (edges only from earlier to later names), isolated nodes kept."""
    n = rng.randint(2, 12)
    names = [f"V{i}" for i in range(n)]
    p = rng.uniform(0.1, 0.5)
    edges = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :] if rng.random() < p]
    rng.shuffle(edges)
    return CausalGraph.build(edges, name="random", nodes={name: Node(name) for name in names})


def random_query(rng: random.Random, names: list[str]):
    shuffled = rng.sample(names, len(names))
    k = rng.randint(0, max(0, len(names) - 2))
    x, y, z = shuffled[0], shuffled[1], set(shuffled[2 : 2 + k])
    return x, y, z


def check_random_graph(seed: int) -> int:
    rng = random.Random(seed)
    graph = random_dag(rng)
    g = graph.to_networkx()
    pg = DAG(ebunch=list(graph.edges))
    pg.add_nodes_from(graph.nodes)
    names = list(graph.nodes)
    complete = 0
    for _ in range(5):
        x, y, z = random_query(rng, names)
        judgement = graph.is_separated({x}, {y}, z, max_paths=100_000)
        assert bool(judgement) == nx.is_d_separator(g, {x}, {y}, z)
        assert bool(judgement) == (not pg.is_dconnected(x, y, observed=list(z)))
        # the explanation agrees with the verdict: separated iff no listed path is open
        if judgement.open_paths:
            assert not judgement
        if not judgement.paths_truncated:
            assert bool(judgement) == (len(judgement.open_paths) == 0)
            complete += 1
    return complete


def test_verdicts_agree_with_networkx_and_pgmpy():
    complete = sum(check_random_graph(seed) for seed in range(N_GRAPHS))
    assert complete >= 0.9 * 5 * N_GRAPHS  # nearly every unbounded explanation finishes within its time budget


@pytest.mark.parametrize("seed", range(0, N_GRAPHS, 4))
def test_implied_independencies_hold_and_are_minimal(seed):
    rng = random.Random(1000 + seed)
    graph = random_dag(rng)
    pg = DAG(ebunch=list(graph.edges))
    pg.add_nodes_from(graph.nodes)
    g = graph.to_networkx()
    nonadjacent = {
        frozenset(p) for p in itertools.combinations(graph.nodes, 2) if not g.has_edge(*p) and not g.has_edge(*p[::-1])
    }
    missing_edge = graph.implied_independencies()
    assert {frozenset((i.left, i.right)) for i in missing_edge} == nonadjacent  # one per non-adjacent pair (no latents)
    for ind in graph.implied_independencies("basis"):  # the local Markov basis: v _||_ non-descendants | parents
        assert set(ind.given) == graph.parents(ind.left)
        assert not any(pg.is_dconnected(ind.left, r, observed=list(ind.given)) for r in ind.right_side)
        assert set(ind.right_side) == set(graph.nodes) - nx.descendants(g, ind.left) - graph.parents(ind.left) - {ind.left}
    for ind in missing_edge:
        assert not pg.is_dconnected(ind.left, ind.right, observed=list(ind.given))
        for drop in ind.given:  # minimal: no proper subset obtained by dropping one node separates
            rest = [v for v in ind.given if v != drop]
            assert pg.is_dconnected(ind.left, ind.right, observed=rest)
        reference = pg.minimal_dseparator(ind.left, ind.right)
        if reference is not None:  # pgmpy's own minimal separator separates by our engine too (a cross-check)
            assert graph.is_separated({ind.left}, {ind.right}, set(reference), explain=False)


def test_pgmpy_local_independencies_match_basis_on_paper_graph():
    from conftest import GRAPHS
    from causaliqa import load_graph

    graph = load_graph([p for p in GRAPHS if p.stem == "baseline"][0])
    pg = graph.to_pgmpy()
    for node in graph.nodes:
        for assertion in pg.local_independencies([node]).get_assertions():
            event1, event2, given = assertion.get_assertion()
            for other in event2:
                assert graph.is_separated(set(event1), {other}, set(given), explain=False)
