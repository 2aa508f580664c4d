"""The dagitty bridge: every case that once changed a graph's meaning, written as dagitty writes it, with the roles,
positions and verdicts dagitty's own parser (GraphParser.parseDot over its dot grammar) gives; and a property test
of random exports with edge attributes, repeated statements and odd ids."""

from __future__ import annotations

import random

import pytest
from typer.testing import CliRunner

from causaliqa import CausaliqaError, from_dagitty, load_graph, to_dagitty
from causaliqa.cli import app
from causaliqa.graph import CausalGraph, Node

runner = CliRunner()

# (dagitty string, {dagitty id: (role, flags, position as dagitty reads it or None)}, [(query, dagitty's verdict)])
CASES = {
    "edge attributes belong to the edge": (
        'dag { S [selected,pos="0.7,0.1"] X [pos="0.1,0.1"] Y [pos="0.9,0.1"] X -> S [pos="0.4,0.3"] Y -> S }',
        {"S": ("selection", (), (0.7, 0.1)), "X": ("observed", (), (0.1, 0.1)), "Y": ("observed", (), (0.9, 0.1))},
        [("X _||_ Y", False)],
    ),
    "a latent node keeps its role after a curved edge": (
        'dag { U [latent] A -> U [pos="0.2,0.7"] U -> Y }',
        {"U": ("latent", (), None), "A": ("observed", (), None), "Y": ("observed", (), None)},
        [("A _||_ Y", False)],
    ),
    "[latent] after an edge is the edge's": (
        "dag { X -> U [latent] }",
        {"X": ("observed", (), None), "U": ("observed", (), None)},
        [],
    ),
    "a repeated node statement adds to the first": (
        'dag { A [latent] A [pos="1,2"] A -> B }',
        {"A": ("latent", (), (1.0, 2.0)), "B": ("observed", (), None)},
        [],
    ),
    "two flags on one node": (
        "dag { a [latent,selected] x -> a <- y }",
        {"a": ("selection", ("latent",), None), "x": ("observed", (), None), "y": ("observed", (), None)},
        [("x _||_ y", False)],
    ),
    "graph [bb] is the bounding box, not a node": (
        'dag G { graph [bb="0,0,100,100"] a -> b }',
        {"a": ("observed", (), None), "b": ("observed", (), None)},
        [],
    ),
    "bb= at the top": (
        'dag {\nbb="-3.687,-2.637,5.96,2.575"\nage [adjusted,pos="-0.929,-0.900"]\nsex [latent,pos="-2.995,-0.744"]\n'
        'type_obesity [exposure,pos="-2.883,0.520"]\nspo2 [outcome,pos="2.079,0.078"]\nage -> type_obesity\n'
        "sex -> type_obesity -> spo2\n}",
        {"age": ("observed", ("adjusted",), (-0.929, -0.9)), "sex": ("latent", (), (-2.995, -0.744)),
         "type_obesity": ("observed", ("exposure",), (-2.883, 0.52)), "spo2": ("observed", ("outcome",), (2.079, 0.078))},
        [("age _||_ sex", True), ("age _||_ spo2 | type_obesity", True)],
    ),
    # dagitty's example "Didelez et al, 2010" (S selected; curved edges carry positions)
    "Didelez et al. 2010": (
        'dag {\nAge [pos="-0.160,0.500"]\nHRT [exposure,pos="-2.200,-1.520"]\nOcc [pos="0.410,1.290"]\n'
        'S [selected,pos="-0.830,-1.540"]\nSmo [pos="-0.880,-0.010"]\nTCI [outcome,pos="-0.010,-1.540"]\n'
        'Age -> HRT [pos="-1.700,-0.500"]\nAge -> S\nAge -> Smo\nAge -> TCI\nHRT -> S\nHRT -> TCI [pos="-1.100,-2.000"]\n'
        "Occ -> S\nOcc -> Smo\nSmo -> TCI\n}",
        {"Age": ("observed", (), (-0.16, 0.5)), "HRT": ("observed", ("exposure",), (-2.2, -1.52)),
         "Occ": ("observed", (), (0.41, 1.29)), "S": ("selection", (), (-0.83, -1.54)),
         "Smo": ("observed", (), (-0.88, -0.01)), "TCI": ("observed", ("outcome",), (-0.01, -1.54))},
        [("Age _||_ Smo | Occ", False), ("Age _||_ Occ", False), ("HRT _||_ Occ | Age", False)],
    ),
    "the legacy digraph header": (
        "digraph { A -> B -> C }",
        {"A": ("observed", (), None), "B": ("observed", (), None), "C": ("observed", (), None)},
        [("A _||_ C | B", True)],
    ),
    "quoted ids, dots, unicode and a leading digit": (
        'dag { "DiätMutter" -> ADCY9.8 -> 1 ; "Body mass" [latent] "Body mass" -> 1 }',
        {"DiätMutter": ("observed", (), None), "ADCY9.8": ("observed", (), None), "1": ("observed", (), None),
         "Body mass": ("latent", (), None)},
        [('"DiätMutter" _||_ 1 | ADCY9.8', True)],
    ),
    "flag aliases and a subgraph": (
        "dag { u [u] e [e] o [o] s [s] { u e } -> o ; o -> s }",
        {"u": ("latent", (), None), "e": ("observed", ("exposure",), None), "o": ("observed", ("outcome",), None),
         "s": ("selection", (), None)},
        [("u _||_ e", False)],
    ),
    "a string with an escaped quote and a concatenation": (
        'dag { "say \\"hi\\"" [label="a" + "b"] "say \\"hi\\"" -> Z }',
        {'say "hi"': ("observed", (), None), "Z": ("observed", (), None)},
        [],
    ),
}


def _by_alias(g):
    return {(node.alias or n): node for n, node in g.nodes.items()}


@pytest.mark.parametrize("case", sorted(CASES))
def test_dagitty_cases_read_as_dagitty_reads_them(case):
    text, nodes, verdicts = CASES[case]
    g = from_dagitty(text)
    found = _by_alias(g)
    assert set(found) == set(nodes)
    for name, (role, flags, pos) in nodes.items():
        node = found[name]
        assert (node.role, tuple(sorted(node.flags))) == (role, flags), name
        if pos is None:
            assert node.id not in g.layout
        else:  # dagitty's y points down; causaliqa's up
            assert g.layout[node.id] == pytest.approx((pos[0], -pos[1]))
    for query, separated in verdicts:
        assert bool(g.is_separated(query)) == separated, query
    back = from_dagitty(to_dagitty(g))
    assert back.same_graph(g) and {n.alias for n in back.nodes.values()} >= {n.alias for n in g.nodes.values()} - {""}


def test_a_bidirected_edge_is_a_named_latent_common_cause():
    g = from_dagitty("dag { A <-> B ; A -> C }")
    [latent] = g.nodes_with_role("latent")
    assert set(g.edges) == {(latent, "A"), (latent, "B"), ("A", "C")}
    assert any(f"A <-> B read as a latent common cause {latent}" in note for note in g.notes)
    assert not g.is_separated("B _||_ C") and [str(i) for i in g.implied_independencies()] == ["C _||_ B | A"]


def test_renamed_ids_keep_their_dagitty_name_as_label_and_in_queries():
    g = from_dagitty('dag { "DiätMutter" -> ADCY9.8 -> 1 }')
    assert {n: node.label for n, node in g.nodes.items()} == {"DiatMutter": "DiätMutter", "ADCY9_8": "ADCY9.8", "n1": "1"}
    assert bool(g.is_separated("DiatMutter _||_ n1 | ADCY9_8")) and bool(g.is_separated('"DiätMutter" _||_ 1 | ADCY9.8'))
    assert 'ADCY9.8 [label="ADCY9.8",cid="ADCY9_8"]' in to_dagitty(g)


@pytest.mark.parametrize("layout, written", [
    ({"A": (1.5e-05, 2.0)}, 'pos="0.000015,-2"'),  # not 1.5e-05, which dagitty reads as -5
    ({"A": (-1e20, 3.25)}, 'pos="-100000000000000000000,-3.25"'),
    ({"A": (0.1 + 0.2, -1 / 3)}, 'pos="0.30000000000000004,0.3333333333333333"'),
])
def test_positions_are_written_without_exponents_and_read_back_exactly(layout, written):
    g = CausalGraph.build(["A -> B"], layout=layout)
    text = to_dagitty(g)
    assert written in text and "e-" not in text and "e+" not in text
    assert from_dagitty(text).layout == g.layout


@pytest.mark.parametrize("label", ["a ] b", 'say "hi"', "x [latent] y", "Ŷ", "a,b=c"])
def test_labels_with_brackets_and_quotes_survive_the_round_trip(label):
    g = CausalGraph.build(["A -> B"], nodes={"A": Node("A", label=label), "B": Node("B")})
    assert from_dagitty(to_dagitty(g)).nodes["A"].label == label


@pytest.mark.parametrize("node_id", ["graph", "node"])
def test_ids_dagitty_refuses_are_written_under_another_name(node_id):
    g = CausalGraph.build([f"{node_id} -> B"], nodes={node_id: Node(node_id, "latent"), "B": Node("B")})
    text = to_dagitty(g)
    assert f"\n{node_id} " not in text and f'cid="{node_id}"' in text
    back = from_dagitty(text)
    assert back.same_graph(g) and back.nodes[node_id].role == "latent"


def test_a_label_dagitty_cannot_store_is_refused_in_one_line():
    g = CausalGraph.build(["A -> B"], nodes={"A": Node("A", label="ends with \\"), "B": Node("B")})
    with pytest.raises(CausaliqaError, match="expected text dagitty can store"):
        to_dagitty(g)


# ---- a property test: random exports as dagitty.net writes them ----------------------------------------------------
ODD = ["A", "b_2", "ADCY9.8", "1", "-3", "DiätMutter", "Body mass", 'q"x', "x.y.z", "Ŷ", "z", "W_1", "_u", "7up"]


def _dagitty_name(name: str) -> str:
    import re

    return name if re.fullmatch(r"-?[0-9A-Za-z_.]+", name) else '"' + name.replace('"', '\\"') + '"'


def _random_export(rng: random.Random):
    """A random DAG as a dagitty string: shuffled statements, flags split over repeated node statements, curved
    edges with [pos=...], chains, ';' separators; and what dagitty reads from it."""
    names = rng.sample(ODD, rng.randint(2, len(ODD)))
    edges = [(a, b) for i, a in enumerate(names) for b in names[i + 1:] if rng.random() < 0.3]
    truth, statements = {}, []
    for name in names:
        flags = {f for f in ("latent", "selected", "exposure", "outcome", "adjusted") if rng.random() < 0.15}
        pos = (round(rng.uniform(-5, 5), rng.randint(0, 4)), round(rng.uniform(-5, 5), rng.randint(0, 4))) if rng.random() < 0.7 else None
        attrs = sorted(flags) + ([f'pos="{pos[0]},{pos[1]}"'] if pos else [])
        rng.shuffle(attrs)
        cut = rng.randint(0, len(attrs))
        for part in (attrs[:cut], attrs[cut:]):  # one attribute list, or two repeated statements
            if part or not attrs:
                statements.append(f"{_dagitty_name(name)} [{','.join(part)}]" if part else _dagitty_name(name))
        role = "selection" if "selected" in flags else "latent" if "latent" in flags else "observed"
        rest = flags - {"selected"} if role == "selection" else flags - {"latent"} if role == "latent" else flags
        truth[name] = (role, tuple(sorted(rest)), pos)
    for a, b in edges:
        if rng.random() < 0.5:
            statements.append(f'{_dagitty_name(a)} -> {_dagitty_name(b)} [pos="{rng.uniform(-1, 1):.3f},{rng.uniform(-1, 1):.3f}"]')
        else:
            statements.append(f"{_dagitty_name(b)} <- {_dagitty_name(a)}")
    rng.shuffle(statements)
    sep = rng.choice(["\n", " ", " ; "])
    return "dag {" + sep + sep.join(statements) + sep + "}", truth, edges


@pytest.mark.parametrize("seed", range(60))
def test_random_exports_keep_structure_roles_positions_and_round_trip(seed):
    text, truth, edges = _random_export(random.Random(seed))
    g = from_dagitty(text)
    found = _by_alias(g)
    assert set(found) == set(truth)
    for name, (role, flags, pos) in truth.items():
        node = found[name]
        assert (node.role, tuple(sorted(node.flags))) == (role, flags)
        assert g.layout.get(node.id) == (None if pos is None else (float(pos[0]), -float(pos[1])))
    assert set(g.edges) == {(found[a].id, found[b].id) for a, b in edges}
    back = from_dagitty(to_dagitty(g))
    assert back.same_graph(g)
    assert {n: node.alias for n, node in back.nodes.items()} == {n: node.alias for n, node in g.nodes.items()}


# ---- the commands take .dagitty files --------------------------------------------------------------------------------
def test_graph_commands_accept_dagitty_files(tmp_path):
    path = tmp_path / "didelez.dagitty"
    path.write_text(CASES["Didelez et al. 2010"][0], encoding="utf-8")
    result = runner.invoke(app, ["check", str(path), "Age _||_ Smo | Occ"])
    assert result.exit_code == 0 and "didelez: Age _||_ Smo | Occ, S  ->  NOT separated" in result.output
    result = runner.invoke(app, ["implied", str(path)])
    assert result.exit_code == 0 and "implied independencies in didelez" in result.output
    result = runner.invoke(app, ["compare", str(path), "graphs/baseline.yaml", "--query", "HRT _||_ Occ | Age"])
    assert result.exit_code == 0 and "didelez   connected" in result.output and "n/a (missing Age, HRT, Occ)" in result.output
    result = runner.invoke(app, ["draw", str(path), "-o", str(tmp_path / "d.svg")])
    assert result.exit_code == 0 and (tmp_path / "d.svg").exists()
    result = runner.invoke(app, ["adjust", str(path)])  # exposure and outcome from the file's own markers
    assert result.exit_code == 0 and "total effect HRT -> TCI" in result.output
    loaded = load_graph(path)
    assert loaded.name == "didelez" and loaded.nodes["S"].role == "selection"


def test_implied_lists_no_statement_with_a_latent_node():
    g = from_dagitty("dag { x -> m -> y m [latent] }")
    assert [str(i) for i in g.implied_independencies()] == []
    assert [str(i) for i in g.implied_independencies(all_separators=True)] == []
    g = from_dagitty("dag { x -> y <- z -> w }")
    assert {str(i) for i in g.implied_independencies(all_separators=True)} == {"z _||_ x", "w _||_ x", "y _||_ w | z"}


def test_all_separators_lists_every_minimal_separator():
    # two parallel chains x -> a -> y and x -> b -> y plus x -> c -> y: one minimal separator, {a, b, c}; with
    # a diamond behind, two (dagitty's listMinimalImplications lists both)
    g = CausalGraph.build(["x -> a", "x -> b", "a -> m", "b -> m", "m -> y"])
    assert {str(i) for i in g.implied_independencies(all_separators=True) if {i.left, i.right} == {"x", "y"}} == {
        "y _||_ x | m", "y _||_ x | a, b"}
