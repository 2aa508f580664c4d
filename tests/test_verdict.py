"""Simulated data from a known graph: the true graph is not falsified, a wrong one is; `causaliqa simulate`."""

import pandas as pd
import pytest
from typer.testing import CliRunner

from causaliqa.cli import app
from causaliqa.errors import CausaliqaError
from causaliqa.graph import load_graph
from causaliqa.simulate import column_kinds, simulate
from causaliqa.verdict import graph_verdicts

runner = CliRunner()


def test_simulate_is_seeded_and_typed():
    graph = load_graph("graphs/common_corruptions.yaml")
    a = simulate(graph, 500, seed=3, categorical=["C", "S"])
    b = simulate(graph, 500, seed=3, categorical=["C", "S"])
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(simulate(graph, 500, seed=4, categorical=["C", "S"]))
    assert set(a["M"].unique()) <= {0, 1} and set(a["C"].unique()) <= {0, 1, 2, 3}
    assert "A" not in load_graph("graphs/baseline.yaml").nodes or "A" not in simulate(load_graph("graphs/baseline.yaml"), 10).columns
    with pytest.raises(CausaliqaError, match="binary: expected a node of the graph \\(did you mean 'Yhat'\\?\\), got 'Yhta'"):
        simulate(graph, 10, binary=["Yhta"])


@pytest.mark.parametrize("truth, wrong", [("shared_features", "baseline"), ("strong_task_guided", "baseline")])
def test_true_graph_survives_and_wrong_graph_is_falsified(truth, wrong):
    graphs = [load_graph(f"graphs/{n}.yaml") for n in (truth, wrong)]
    data = simulate(graphs[0], 3000, seed=11)
    table = graph_verdicts(data, graphs, {v: [v] for v in data.columns}, column_kinds(graphs[0]))
    verdict = {v.graph: v for v in table.verdicts}
    assert verdict[truth] and not verdict[truth].falsified
    assert verdict[wrong].falsified
    assert any(t.falsifies(wrong) and "Q" in (t.statement.left, t.statement.right) for t in table.tests)
    # every test that falsifies was predicted independent by the wrong graph and dependent by the truth
    for t in table.tests:
        if t.falsifies(wrong):
            assert t.predictions[wrong] and not t.predictions[truth]


def test_proxy_tests_never_falsify():
    graphs = [load_graph("graphs/baseline.yaml")]
    data = simulate(load_graph("graphs/shared_features.yaml"), 2000, seed=2)
    data["image_id"] = (data["X"] * 3).round()  # a coarse stand-in for X
    table = graph_verdicts(data, graphs, {v: [v] for v in ("Q", "M", "Y")}, column_kinds(graphs[0]) | {"image_id": "categorical"},
                           proxies={"X": ["image_id"]})
    proxied = [t for t in table.tests if t.proxy]
    assert proxied and all(t.proxy == "X ~ image_id" for t in proxied)
    assert not any(t.falsifies("baseline") for t in proxied)


def test_simulate_cli(tmp_path):
    out = tmp_path / "sim.parquet"
    result = runner.invoke(app, ["simulate", "graphs/shared_features.yaml", "--n", "3000", "--seed", "1", "--out", str(out),
                                 "--test", "graphs/baseline.yaml", "--test", "graphs/shared_features.yaml"])
    assert result.exit_code == 0, result.output
    assert len(pd.read_parquet(out)) == 3000
    assert "baseline: FALSIFIED by Q _||_ M | X" in result.output and "shared_features: not contradicted" in result.output
    result = runner.invoke(app, ["simulate", "graphs/baseline.yaml", "--out", str(tmp_path / "x.txt")])
    assert result.exit_code == 2 and "--out: expected a .parquet or .csv file" in result.output
    assert not (tmp_path / "x.txt").exists()
    result = runner.invoke(app, ["simulate", "graphs/common_corruptions.yaml", "--test", "graphs/baseline.yaml"])
    assert result.exit_code == 2 and "bound node" in result.output


@pytest.mark.slow
def test_a_true_graph_is_falsified_at_most_about_alpha_of_the_time():
    """With BH over every test (dependences included) a true baseline fell 17 % of the time at n = 1000.
    The family is now the graph's own valid independence tests, Holm within it: the family-wise error is <= alpha."""
    from causaliqa.graph.model import CausalGraph

    graph = CausalGraph.build(["A -> B", "B -> C", "B -> M", "D -> C", "A -> E"], name="truth")
    wrong = CausalGraph.build(["A -> B", "B -> C", "B -> M", "D -> C", "A -> E", "E -> M"], name="other")
    kinds = column_kinds(graph)
    falsified = 0
    for seed in range(100):
        data = simulate(graph, 1000, seed=seed)
        table = graph_verdicts(data, [graph, wrong], {v: [v] for v in data.columns}, kinds, correction="bh")
        verdict = {v.graph: v for v in table.verdicts}
        falsified += verdict["truth"].falsified
        assert verdict["truth"].predicted_independent > 3  # a real family
        assert all(t.in_family("truth") == (t.predictions["truth"] and t.test.tested and not t.proxy) for t in table.tests)
    assert falsified <= 10, f"true graph falsified in {falsified} of 100 data sets"  # expected <= 5; binomial sd ~2
