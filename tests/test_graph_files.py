"""Every graph in graphs/: Markov condition, the paper's claims, drawing, dagitty round trip."""

import networkx as nx
import pytest

from causaliqa import from_dagitty, load_graph, to_dagitty
from causaliqa.graph.claims import check_claims
from conftest import GRAPHS

REQUIRED = {"baseline", "shared_features", "strong_task_guided", "weak_task_guided", "nr_iqa", "fr_iqa",
            "latent_features", "common_corruptions"}


def test_all_paper_graphs_are_declared():
    assert REQUIRED <= {load_graph(p).name for p in GRAPHS}


@pytest.mark.parametrize("path", GRAPHS, ids=lambda p: p.stem)
def test_markov_condition(path):
    """Each node is d-separated from its non-descendants given its parents (as networkx tests it)."""
    graph = load_graph(path)
    g = graph.to_networkx()
    for node in g:
        parents = set(g.predecessors(node))
        non_desc = set(g) - nx.descendants(g, node) - {node} - parents
        if non_desc:
            assert graph.is_separated({node}, non_desc, parents, explain=False)
            assert nx.is_d_separator(g, {node}, non_desc, parents)


@pytest.mark.parametrize("path", GRAPHS, ids=lambda p: p.stem)
def test_claims_hold(path):
    graph = load_graph(path)
    assert graph.claims, "every paper graph states at least one claim"
    for result in check_claims([graph]):
        assert result.ok, result


@pytest.mark.parametrize("path", GRAPHS, ids=lambda p: p.stem)
def test_dagitty_round_trip(path):
    graph = load_graph(path)
    back = from_dagitty(to_dagitty(graph))
    assert set(back.edges) == set(graph.edges)
    assert {n: v.role for n, v in graph.nodes.items()} == {n: v.role for n, v in back.nodes.items()}  # predicted kept
    assert back.layout == {n: tuple(xy) for n, xy in graph.layout.items()}


def test_dagitty_parses_chains_and_attributes():
    g = from_dagitty('dag { A [latent,pos="0,1"] A -> X -> Y  Q <- X ; T [selected] T -> Y }')
    assert set(g.edges) == {("A", "X"), ("X", "Y"), ("X", "Q"), ("T", "Y")}
    assert g.nodes["A"].role == "latent" and g.nodes["T"].role == "selection"
    assert g.layout["A"] == (0.0, -1.0)


def test_shared_features_open_path_is_explained():
    judgement = load_graph([p for p in GRAPHS if p.stem == "shared_features"][0]).is_separated("Q _||_ M | X")
    assert not judgement
    open_paths = [p.text() for p in judgement.open_paths]
    assert open_paths == ["Q <- Z -> Yhat -> M"]
    blocked = [p for p in judgement.paths if not p.is_open]
    assert all("non-collider X is conditioned on" in p.why() for p in blocked)


def test_weak_task_guided_conditioning_on_y_blocks():
    graph = load_graph([p for p in GRAPHS if p.stem == "weak_task_guided"][0])
    assert graph.is_separated("Q _||_ M | X, Y")
    j = graph.is_separated("Q _||_ M | X")
    assert [p.text() for p in j.open_paths] == ["Q <- T -> Y -> M"]


def test_judgement_is_frozen_and_serialisable():
    graph = load_graph(GRAPHS[0])
    j = graph.is_separated("Q _||_ M | X")
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        j.separated = False
    d = j.to_dict()
    assert d["separated"] is bool(j) and d["blocked_paths"] and d["given"] == ["X"]


def test_a_built_graph_cannot_be_changed_behind_its_networkx_twin():
    g = load_graph(GRAPHS[0])
    with pytest.raises(TypeError):
        g.nodes["Z"] = g.nodes["X"]  # read-only view
    with pytest.raises(TypeError):
        g.layout["X"] = (0.0, 0.0)
