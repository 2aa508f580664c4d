"""Claims, selection semantics, exporters and bridges on every legal graph, odd inputs."""

from __future__ import annotations

import random
import shutil
import subprocess
import time

import pytest
from PIL import Image
from typer.testing import CliRunner

from causaliqa import from_dagitty, load_graph, to_dagitty
from causaliqa.cli import app
from causaliqa.draw import draw_graph
from causaliqa.graph.layout import node_positions
from causaliqa.draw.render import ROLE_STYLE, to_dot, to_mermaid, to_tikz
from causaliqa.errors import CausaliqaError
from causaliqa.graph.model import CausalGraph, Node
from test_dsep_random import random_dag

runner = CliRunner()

HOSTILE_IDS = ["node", "edge", "graph", "end", "subgraph", "strict", "digraph", "x_a_b", "A_B", "AB"]


def hostile_graph() -> CausalGraph:
    nodes = {n: Node(n) for n in HOSTILE_IDS}
    nodes["node"] = Node("node", "predicted", label='say "hi"')
    nodes["AB"] = Node("AB", "latent", label="50% & $x$ {y} #1 <b>\nline")
    nodes["end"] = Node("end", "selection")
    nodes["strict"] = Node("strict", "context")
    edges = [("node", "edge"), ("edge", "graph"), ("x_a_b", "end"), ("A_B", "AB"), ("AB", "subgraph"), ("strict", "digraph")]
    return CausalGraph.build(edges, name="hostile", nodes=nodes)


def write_graph(tmp_path, text: str):
    path = tmp_path / "g.yaml"
    path.write_text(text)
    return path


# ---- claims -------------------------------------------------------------------------------------
def test_negated_claim_with_expect_connected_passes_and_keeps_its_bang(tmp_path):
    path = write_graph(tmp_path, 'name: neg\nnodes: {A: {}, X: {}, Q: {}}\nedges: ["A -> X", "X -> Q"]\n'
                                 'claims:\n  - {query: "A !_||_ Q", expect: connected}\n  - {query: "A !_||_ Q"}\n'
                                 '  - {query: "A _||_ Q | X"}\n')
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output.count("A !_||_ Q ") == 2 and "FAIL" not in result.output and "3 of 3 claims hold" in result.output


def test_negated_claim_contradicted_by_expect_is_an_error(tmp_path):
    path = write_graph(tmp_path, 'name: neg\nnodes: {A: {}, Q: {}}\nedges: ["A -> Q"]\n'
                                 'claims:\n  - {query: "A !_||_ Q", expect: separated}\n')
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 2
    assert "claims[0].expect: expected 'connected' or nothing for the dependence claim 'A !_||_ Q', got 'separated'" in result.output


# ---- selection semantics (dagitty's 'selected') -------------------------------------------------
def test_selection_nodes_are_always_conditioned_on_as_dagitty_does():
    g = CausalGraph.build(["A -> S", "B -> S"], nodes={"A": Node("A"), "B": Node("B"), "S": Node("S", "selection")})
    j = g.is_separated("A _||_ B")
    assert not j and j.given == {"S"} and [p.text() for p in j.open_paths] == ["A -> S <- B"]
    assert "S [selected]" in to_dagitty(g)
    assert [str(i) for i in g.implied_independencies()] == []  # A and B are dependent under selection
    context = CausalGraph.build(["A -> S", "B -> S"], nodes={"A": Node("A"), "B": Node("B"), "S": Node("S", "context")})
    assert context.is_separated("A _||_ B")


def test_paper_fig6_models_the_task_as_context_so_its_claims_hold():
    g = load_graph("graphs/weak_task_guided.yaml")
    assert g.nodes["T"].role == "context" and "context" in g.description
    assert not g.is_separated("Q _||_ M | X") and g.is_separated("Q _||_ M | X, Y")


# ---- exporters ----------------------------------------------------------------------------------
@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz dot not installed (apt-get install graphviz)")
def test_dot_output_parses_with_graphviz_on_hostile_ids_and_labels(tmp_path):
    g = hostile_graph()
    (tmp_path / "g.dot").write_text(to_dot(g))
    plain = subprocess.run(["dot", "-Tplain", str(tmp_path / "g.dot")], capture_output=True, text=True)
    assert plain.returncode == 0, plain.stderr
    node_lines = [ln.split()[1].strip('"') for ln in plain.stdout.splitlines() if ln.startswith("node ")]
    assert sorted(node_lines) == sorted(HOSTILE_IDS)
    assert sum(ln.startswith("edge ") for ln in plain.stdout.splitlines()) == len(g.edges)
    assert 'say \\"hi\\"' in to_dot(g)


def test_tikz_names_are_distinct_and_labels_escaped():
    g = hostile_graph()
    text = to_tikz(g)
    names = [ln.split("(")[1].split(")")[0] for ln in text.splitlines() if "\\node[" in ln]
    assert len(set(names)) == len(HOSTILE_IDS)  # A_B and AB no longer collide
    assert "x\\_a\\_b" in text and "$x_a_b$" not in text
    assert "50\\% \\& \\$x\\$ \\{y\\} \\#1 <b> line" in text
    for line in text.splitlines():
        if "\\node[" in line:
            body = line.split("%")[0] if "\\%" not in line else line
            assert body.count("{") - body.count("\\{") == body.count("}") - body.count("\\}")


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="no TeX engine installed")
def test_tikz_compiles(tmp_path):
    doc = "\\documentclass{standalone}\\usepackage{tikz}\\usetikzlibrary{arrows.meta,patterns}\\begin{document}" + to_tikz(hostile_graph()) + "\\end{document}"
    (tmp_path / "g.tex").write_text(doc)
    result = subprocess.run(["pdflatex", "-interaction=nonstopmode", "g.tex"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:]


def test_mermaid_uses_safe_names_and_entity_escaped_labels():
    text = to_mermaid(hostile_graph())
    lines = [ln.strip() for ln in text.splitlines()[1:] if not ln.strip().startswith("classDef")]
    import re

    for line in lines:
        assert re.match(r'^n\d+(\(\(".*"\)\)|\[".*"\]):::\w+$', line) or re.match(r"^n\d+ --> n\d+$", line), line
        inner = line.split('"', 1)[1].rsplit('"', 1)[0] if '"' in line else ""
        assert '"' not in inner
    assert "end" not in [ln.split("(")[0].split("[")[0] for ln in lines]
    assert "#34;hi#34;" in text


@pytest.mark.parametrize("fmt", ["png", "svg", "pdf"])
def test_figures_draw_hostile_ids_and_an_empty_graph(tmp_path, fmt):
    draw_graph(hostile_graph(), tmp_path / f"h.{fmt}")
    empty = CausalGraph.build([], name="empty", nodes={})
    draw_graph(empty, tmp_path / f"e.{fmt}")
    assert (tmp_path / f"h.{fmt}").stat().st_size > 500 and (tmp_path / f"e.{fmt}").stat().st_size > 100
    if fmt == "png":
        assert Image.open(tmp_path / "h.png").size[0] < 4000


def test_large_graph_figures_are_refused_with_a_pointer_to_dot(tmp_path):
    edges = [(f"n{i}", f"n{i + 1}") for i in range(499)]
    g = CausalGraph.build(edges, name="chain")
    with pytest.raises(CausaliqaError, match="a graph of at most 120 nodes for a drawn figure .*dot -Tsvg.*got 500 nodes"):
        draw_graph(g, tmp_path / "big.png")
    draw_graph(g, tmp_path / "big.dot")


def test_selection_swatch_differs_from_predicted_and_partial_layout_never_overlaps():
    sel, pred = ROLE_STYLE["selection"], ROLE_STYLE["predicted"]
    assert (sel["shape"], sel["hatch"]) != (pred["shape"], pred["hatch"])
    g = CausalGraph.build(["A -> B", "A -> C", "C -> D"], layout={"B": (1.0, 0.5)})
    pos = node_positions(g)
    assert pos["B"] == (1.0, 0.5)
    points = list(pos.values())  # 0.5: node_positions' own collision distance
    assert all(abs(a[0] - b[0]) >= 0.5 or abs(a[1] - b[1]) >= 0.5 for i, a in enumerate(points) for b in points[i + 1:])


# ---- bridges ------------------------------------------------------------------------------------
def test_to_pgmpy_keeps_every_node_edge_and_latent_on_random_graphs():
    rng = random.Random(3)
    for _ in range(500):
        g = random_dag(rng)
        names = list(g.nodes)
        latent = set(rng.sample(names, rng.randint(0, len(names))))
        g = CausalGraph.build(g.edges, nodes={n: Node(n, "latent" if n in latent else "observed") for n in names})
        dag = g.to_pgmpy()
        assert set(dag.nodes()) == set(names) and set(dag.edges()) == set(g.edges) and set(dag.latents) == latent
    lonely = CausalGraph.build([], nodes={"A": Node("A", "latent"), "B": Node("B")})
    assert set(lonely.to_pgmpy().nodes()) == {"A", "B"} and lonely.to_pgmpy().latents == {"A"}


DAGITTY_NET_EXPORT = '''dag {
bb="-3.687,-2.637,5.96,2.575"
age [adjusted,pos="-0.929,-0.900"]
sex [latent,pos="-2.995,-0.744"]
type_obesity [exposure,pos="-2.883,0.520"]
spo2 [outcome,pos="2.079,0.078"]
age -> type_obesity
sex -> type_obesity -> spo2
}'''


def test_from_dagitty_reads_what_dagitty_net_writes():
    g = from_dagitty(DAGITTY_NET_EXPORT)
    assert set(g.nodes) == {"age", "sex", "type_obesity", "spo2"} and g.nodes["sex"].role == "latent"
    assert set(g.edges) == {("age", "type_obesity"), ("sex", "type_obesity"), ("type_obesity", "spo2")}
    assert g.layout["age"] == (-0.929, 0.9)


@pytest.mark.parametrize("text, message", [
    ("dag { A [latent }", "expected [attributes] closed by ], got the end of the text"),
    ("dag { A -> -> B }", "expected a node id or {nodes}, got '->'"),
    (None, "expected a dagitty string 'dag { A -> X }', got NoneType"),
    ("dag { A -- B }", "an undirected edge is not a DAG edge, got --"),
    ("dag { A @-> B }", "a partially directed edge is not a DAG edge, got @->"),
    ('dag { A [pos="1"] }', 'A pos: expected pos="x,y" with two numbers, got \'1\''),
    ("graph { A -> B }", "got a graph of type 'graph' (causaliqa reads DAGs only)"),
    ("pdag { A -> B }", "got a graph of type 'pdag'"),
    ("dag { node -> B }", "node 'node': expected a variable name other than 'graph' or 'node'"),
    ('dag { "A -> B }', 'expected a closing " for the string'),
    ("dag { A -> B", "expected a closing '}' at the end"),
    ("", "expected a dagitty string 'dag { A -> X }', got an empty string"),
    ("dag { A -> B -> A }", "expected an acyclic graph, got a cycle"),
    ('dag { A [cid="x y"] }', "A cid: expected a unique causaliqa id"),
])
def test_from_dagitty_rejects_malformed_strings_in_one_line(text, message):
    with pytest.raises(CausaliqaError) as err:
        from_dagitty(text)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_dagitty_round_trip_keeps_roles_labels_and_exact_layout():
    for path in sorted(__import__("pathlib").Path("graphs").glob("*.yaml")):
        g = load_graph(path)
        h = from_dagitty(to_dagitty(g))
        assert {n: (x.role, x.label) for n, x in h.nodes.items()} == {n: (x.role, x.label) for n, x in g.nodes.items()}
        assert set(h.edges) == set(g.edges)
        assert h.layout == {n: (float(x), float(y)) for n, (x, y) in g.layout.items()}
    odd = CausalGraph.build(["A -> B"], layout={"A": (0.1234567891, 1 / 3), "B": (2.0, -7.25)})
    assert from_dagitty(to_dagitty(odd)).layout == {"A": (0.1234567891, 1 / 3), "B": (2.0, -7.25)}


# ---- other input --------------------------------------------------------------------------------
def test_empty_query_is_an_error():
    result = runner.invoke(app, ["check", "graphs/baseline.yaml", ""])
    assert result.exit_code == 2 and "expected a query such as 'Q _||_ M | X', got an empty string" in result.output


def test_yaml_11_booleans_stay_node_ids(tmp_path):
    path = write_graph(tmp_path, 'name: yb\nnodes: {No: {}, "on": {}, yes: {}, X: {}}\nedges: ["No -> X", "on -> X", "yes -> No"]\n')
    g = load_graph(path)
    assert set(g.nodes) == {"No", "on", "yes", "X"} and g.is_separated("on _||_ yes")


def test_implied_all_pairs_on_a_500_node_chain_is_bounded(tmp_path):
    lines = "\n".join(f'  - "n{i} -> n{i + 1}"' for i in range(499))
    path = write_graph(tmp_path, "name: chain\nnodes: {" + ", ".join(f"n{i}: {{}}" for i in range(500)) + "}\nedges:\n" + lines + "\n")
    started = time.perf_counter()
    result = runner.invoke(app, ["implied", str(path), "--limit", "200"])
    assert result.exit_code == 0 and "# 200 implied independencies in chain (stopped at --limit 200; more exist)" in result.output
    assert time.perf_counter() - started < 30


def test_check_paths_flags_bound_and_silence_the_explanation():
    result = runner.invoke(app, ["check", "graphs/shared_features.yaml", "Q _||_ M | X", "--paths", "1"])
    assert result.exit_code == 0
    assert "open     Q <- Z -> Yhat -> M" in result.output and "... and 1 more blocked path" in result.output
    quiet = runner.invoke(app, ["check", "graphs/shared_features.yaml", "Q _||_ M | X", "--no-paths"])
    assert quiet.output.strip() == "shared_features: Q _||_ M | X  ->  NOT separated"
