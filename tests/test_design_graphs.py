"""Graphs over design variables, tested on simulated factorial designs and on the demo's data."""

from pathlib import Path

import pytest

from causaliqa.graph import load_graph
from causaliqa.simulate import design_power, simulate_design

GRAPHS = {name: load_graph(f"graphs/design_{name}.yaml") for name in ("condition_only", "content_only", "full_image")}


def test_observed_only_implications_of_the_design_graphs_are_the_testable_ones():
    condition = {str(i) for i in GRAPHS["condition_only"].implied_independencies(restrict_to=["C", "S", "X0", "Y", "Q", "M"])}
    content = {str(i) for i in GRAPHS["content_only"].implied_independencies(restrict_to=["C", "S", "X0", "Y", "Q", "M"])}
    assert "M _||_ Q | C, S" in condition and "X0 _||_ Q" in condition
    assert "M _||_ Q | X0" in content and "Q _||_ C" in content and "Q _||_ S" in content
    assert GRAPHS["content_only"].is_separated("Q", "M", ["X0"], explain=False)
    assert not GRAPHS["full_image"].is_separated("Q", "M", ["C", "S"], explain=False)
    assert not GRAPHS["full_image"].is_separated("Q", "M", ["X0"], explain=False)


def test_simulated_design_is_a_full_factorial_with_labels_fixed_per_image():
    data = simulate_design(GRAPHS["full_image"], images=12, corruptions=3, severities=2, seed=1)
    assert len(data) == 12 * 3 * 2 and not data.duplicated(["image_id", "corruption", "severity"]).any()
    assert (data.groupby("image_id")["label"].nunique() == 1).all()  # Y is a function of the content
    assert set(data["M"].unique()) <= {0, 1} and data["Q"].std() > 0


@pytest.mark.slow
def test_design_tests_hold_their_level_for_the_true_graph_and_falsify_the_wrong_ones():
    """Data from 'Q reads the whole image': both one-sided graphs are wrong and get falsified at 40 images;
    data from 'Q reads only the condition': that graph is falsified at most at the Holm level."""
    wrong = design_power(GRAPHS["full_image"], [GRAPHS["condition_only"], GRAPHS["content_only"]], images=40, sims=10, seed=100)
    assert wrong["design_condition_only"] >= 0.8 and wrong["design_content_only"] >= 0.8
    right = design_power(GRAPHS["condition_only"], [GRAPHS["condition_only"]], images=40, sims=20, seed=200)
    # 20 data sets from the true graph: falsified in at most 4 (a rate of 0.05 exceeds 4 of 20 with probability 1.6 %)
    assert right["design_condition_only"] <= 0.2


@pytest.mark.slow
def test_design_graphs_and_an_intervention_on_real_images(tmp_path, imagenet_val):
    """The shipped experiment's shape on 32 real images x (clean + 2 corruptions x 2 severities): per-metric verdicts
    for the design graphs, and a model swap against a random-initialised network as the intervention."""
    import json

    import yaml
    from typer.testing import CliRunner

    from causaliqa.cli import app

    spec = yaml.safe_load(open("experiments/testable_graphs.yaml"))
    spec["graphs"] = [str(Path("graphs").resolve() / Path(g).name) for g in spec["graphs"]]
    spec["dataset"] = {"images": str(imagenet_val / "images"), "labels": str(imagenet_val / "labels.csv"), "limit": 32,
                       "corruptions": ["gaussian_noise", "contrast"], "severities": [1, 5]}
    spec["bindings"]["Q"] = ["tv", "efficientnet_lite0:max_prob"]
    spec["interventions"] = spec["interventions"][:1]  # the model swap (the BRISQUE variants need the weights folder)
    spec.pop("estimator_options")
    spec["interventions"][0]["graphs"] = [str(Path("graphs/shared_features.yaml").resolve())]
    spec["interventions"][0]["baseline"] = "efficientnet_lite0:max_prob"
    spec["interventions"][0]["variants"] = [{"spec": "efficientnet_lite0@random:max_prob", "predictions": {"shared_features": "lower"}}]
    spec["analyses"]["n_boot"] = 100
    spec["out"], spec["report"] = str(tmp_path / "store"), str(tmp_path / "report")
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(spec))
    result = CliRunner().invoke(app, ["run", str(path), "--workers", "0"])
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "report" / "results.json").read_text())
    by_column = {(v["graph"], v["column"]): v for v in results["verdict"]["by_column"]}
    assert {c for _, c in by_column} == {"tv.score", "efficientnet_lite0.max_prob"}
    # the classifier's own confidence moves with the corruption: 'reads only the content' is contradicted
    assert by_column["design_content_only", "efficientnet_lite0.max_prob"]["falsified"]
    [swap] = results["interventions"]
    assert swap["comparison"]["auc_baseline"] > 0.7 and swap["comparison"]["difference"] < 0
    assert swap["observed"] in ("lower", "unclear") and swap["predictions"] == {"shared_features": "lower"}
    assert (tmp_path / "report" / "report.html").exists() and not (tmp_path / "store" / "report.html").exists()
