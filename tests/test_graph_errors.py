"""Every user mistake: one line naming file, field, expected and got; exit 2; no traceback."""

import pytest
from typer.testing import CliRunner

from causaliqa import CausaliqaError, load_graph, parse_query
from causaliqa.cli import app

runner = CliRunner()

GOOD = """name: g
nodes: {X: {}, Q: {role: predicted}, M: {role: predicted}}
edges: ["X -> Q", "X -> M"]
"""

CASES = {
    "unknown_node_in_edge": (GOOD.replace('"X -> M"', '"X -> Mm"'), r"edges\[1\]: expected a declared node \(did you mean 'M'\?\), got 'Mm'"),
    "malformed_edge": (GOOD.replace('"X -> M"', '"X => M"'), r"edges\[1\]: expected an edge like 'A -> X', got 'X => M'"),
    "cycle": (GOOD.replace('"X -> M"', '"Q -> X"'), r"edges: expected an acyclic graph, got a cycle X -> Q -> X"),
    "unknown_role": (GOOD.replace("role: predicted}, M", "role: hidden}, M"), r"nodes.Q.role: expected one of observed, predicted, latent, selection, context, got 'hidden'"),
    "duplicate_node": ("name: g\nnodes:\n  X: {}\n  X: {}\nedges: []\n", r"line 4: expected each key once, got duplicate 'X'"),
    "not_yaml": ("name: [unclosed\n", r"expected valid YAML"),
    "not_mapping": ("- a\n- b\n", r"expected a YAML mapping at the top level, got list"),
    "unknown_field": (GOOD + "colour: red\n", r"colour: expected one of the known fields \(name, title, description, nodes, edges, layout, claims\), got an unknown field"),
    "missing_field": ("name: g\nnodes: {X: {}}\n", r"edges: expected this required field, got nothing"),
    "unknown_node_in_claim": (GOOD + 'claims: [{query: "Q _||_ Mx | X"}]\n', r"claims\[0\]: expected a node of graph 'g' \(did you mean 'M'\?\), got 'Mx'"),
}


@pytest.mark.parametrize("case", CASES, ids=str)
def test_bad_graph_file(tmp_path, case):
    text, message = CASES[case]
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CausaliqaError, match=message):
        load_graph(path)
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}")


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(CausaliqaError, match="expected an existing file, got no such file"):
        load_graph(tmp_path / "nope.yaml")
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(CausaliqaError, match="expected a readable UTF-8 text file"):
        load_graph(binary)


@pytest.mark.parametrize(
    "query, message",
    [
        ("Q _||_ Q | X", r"expected disjoint sides and conditioning set, got \['Q'\]"),
        ("Q _||_ M | Q", r"expected disjoint sides"),
        ("Q M | X", r"expected an independence operator"),
        ("_||_ M", r"left side: expected at least one node id"),
        ("Q _||_ M | X | Y", r"expected a single '\|'"),
        ("Q-1 _||_ M", r"left side: expected node ids"),
        ("Q _||_ Nope | X", r"expected a node of graph 'baseline'"),
    ],
)
def test_bad_query_on_cli(query, message):
    result = runner.invoke(app, ["check", "graphs/baseline.yaml", query])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    import re

    assert re.search(message, result.output), result.output


@pytest.mark.parametrize(
    "text, left, right, given, separated",
    [
        ("Q _||_ M | X", {"Q"}, {"M"}, {"X"}, True),
        ("Q ⟂ M | X, Y", {"Q"}, {"M"}, {"X", "Y"}, True),
        ("Q ⊥ M", {"Q"}, {"M"}, set(), True),
        ("Q _||_ M |", {"Q"}, {"M"}, set(), True),
        ("{Q1, Q2} _||_ M | X", {"Q1", "Q2"}, {"M"}, {"X"}, True),
        ("Q !_||_ M | X", {"Q"}, {"M"}, {"X"}, False),
        ("Q _|_ {M, Y}", {"Q"}, {"M", "Y"}, set(), True),
    ],
)
def test_query_grammar(text, left, right, given, separated):
    q = parse_query(text)
    assert (set(q.left), set(q.right), set(q.given), q.expect_separated) == (left, right, given, separated)
    assert parse_query(str(q)) == q
