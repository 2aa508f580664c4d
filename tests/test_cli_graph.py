"""The graph commands through typer's runner, and the figures they write."""

import json
from pathlib import Path
import xml.etree.ElementTree as ET

import pytest
from PIL import Image
from typer.testing import CliRunner

from causaliqa.cli import app

runner = CliRunner()


def test_check_prints_open_path_for_shared_features():
    result = runner.invoke(app, ["check", "graphs/shared_features.yaml", "Q _||_ M | X"])
    assert result.exit_code == 0
    assert "NOT separated" in result.output
    assert "open     Q <- Z -> Yhat -> M" in result.output
    assert "blocked  Q <- Z <- X -> Y -> M" in result.output
    assert "non-collider X is conditioned on" in result.output


def test_check_collider_reason():
    result = runner.invoke(app, ["check", "graphs/baseline.yaml", "Yhat _||_ Y | X"])
    assert result.output.splitlines()[0] == "baseline: Yhat _||_ Y | X  ->  separated"  # not "NOT separated"
    result = runner.invoke(app, ["check", "graphs/baseline.yaml", "Yhat _||_ Y | X, M"])
    assert "collider M is conditioned on" in result.output
    result = runner.invoke(app, ["check", "graphs/weak_task_guided.yaml", "Q _||_ Yhat | X"])
    assert "collider M with neither it nor a descendant conditioned" in result.output


@pytest.mark.parametrize("expect, code", [("separated", 0), ("connected", 1)])
def test_check_expect_exit_code(expect, code):
    result = runner.invoke(app, ["check", "graphs/baseline.yaml", "Q _||_ M | X", "--expect", expect])
    assert result.exit_code == code


def test_check_folder_reproduces_theory_table():
    result = runner.invoke(app, ["check", "graphs/"])
    assert result.exit_code == 0, result.output
    assert "28 of 28 claims hold in 11 graphs." in result.output  # the paper's 8 (19 claims) + 3 design-variable graphs
    assert "FAIL" not in result.output


def test_check_folder_fails_on_wrong_claim(tmp_path):
    (tmp_path / "g.yaml").write_text(
        'name: g\nnodes: {X: {}, Q: {}, M: {}}\nedges: ["X -> Q", "X -> M"]\n'
        'claims: [{query: "Q _||_ M", expect: separated}]\n'
    )
    result = runner.invoke(app, ["check", str(tmp_path)])
    assert result.exit_code == 1
    assert "FAIL" in result.output


def test_check_json():
    result = runner.invoke(app, ["check", "graphs/baseline.yaml", "Q _||_ M | X", "--json"])
    data = json.loads(result.output)
    assert data["separated"] is True and data["open_paths"] == [] and len(data["blocked_paths"]) == 2
    assert data["blocked_paths"][0]["is_open"] is False and data["blocked_paths"][0]["text"].startswith("Q ")


def test_compare_table():
    result = runner.invoke(app, ["compare", "graphs/", "--query", "Q _||_ M | X", "--query", "Q _||_ M | X, Y"])
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split()[1:] for line in result.output.splitlines()[2:]}
    assert rows["baseline"] == ["separated", "separated"]
    assert rows["weak_task_guided"] == ["connected", "separated"]
    assert rows["shared_features"] == ["connected", "connected"]


def test_implied_cli():
    result = runner.invoke(app, ["implied", "graphs/baseline.yaml", "--json"])
    statements = {d["text"] for d in json.loads(result.output)}
    assert "M _||_ Q | X" in statements  # a minimal separator per pair (dagitty's missing-edge list)
    result = runner.invoke(app, ["implied", "graphs/baseline.yaml", "--type", "basis"])
    assert "M _||_ " in result.output and "| Y, Yhat\n" in result.output  # the local Markov basis: M given its parents


def test_draw_figure_formats(tmp_path):
    for suffix in ("svg", "png", "pdf", "tex", "dot", "mmd"):
        out = tmp_path / f"g.{suffix}"
        result = runner.invoke(app, ["draw", "graphs/weak_task_guided.yaml", "-o", str(out)])
        assert result.exit_code == 0, result.output
        assert out.exists() and not list(tmp_path.glob(".*.tmp"))
    root = ET.parse(tmp_path / "g.svg").getroot()
    assert root.tag.endswith("svg")
    with Image.open(tmp_path / "g.png") as img:
        assert img.format == "PNG" and img.size[0] > 300 and img.size[1] > 300
    assert (tmp_path / "g.pdf").read_bytes().startswith(b"%PDF-")
    tex = (tmp_path / "g.tex").read_text()
    names = {ln.split("% ")[-1]: ln.split("(")[1].split(")")[0] for ln in tex.splitlines() if "\\node[" in ln}
    assert "\\begin{tikzpicture}" in tex and f"\\draw[->] ({names['T']}) -- ({names['Q']});" in tex and "$\\hat{Y}$" in tex
    dot = (tmp_path / "g.dot").read_text()
    assert '"T" -> "Y";' in dot and "shape=box" in dot
    assert "n1 --> n3" in (tmp_path / "g.mmd").read_text() and 'n1["T"]:::context' in (tmp_path / "g.mmd").read_text()


def test_draw_png_size_follows_dpi(tmp_path):
    from causaliqa import load_graph
    from causaliqa.draw import draw_graph

    g = load_graph("graphs/baseline.yaml")
    with Image.open(draw_graph(g, tmp_path / "a.png", dpi=50)) as small, Image.open(draw_graph(g, tmp_path / "b.png", dpi=100)) as big:
        assert abs(big.size[0] / small.size[0] - 2) < 0.1  # twice the dpi, twice the pixels, up to bbox rounding


def test_draw_folder_and_bad_suffix(tmp_path):
    result = runner.invoke(app, ["draw", "graphs/", "-o", str(tmp_path / "figs"), "--format", "png"])
    assert result.exit_code == 0
    assert len(list((tmp_path / "figs").glob("*.png"))) == len(list(Path("graphs").glob("*.yaml")))
    result = runner.invoke(app, ["draw", "graphs/baseline.yaml", "-o", str(tmp_path / "g.gif")])
    assert result.exit_code == 2 and "expected one of .svg .pdf .png .tex .dot .mmd, got '.gif'" in result.output


def test_layered_layout_keeps_causes_left():
    from causaliqa.draw import layered_layout
    from causaliqa.graph import CausalGraph

    g = CausalGraph.build(["A -> B", "B -> C", "A -> C", "D -> C"])
    pos = layered_layout(g)
    for a, b in g.edges:
        assert pos[a][0] < pos[b][0]
