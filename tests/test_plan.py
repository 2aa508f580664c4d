"""`causaliqa plan`: the Ray backend's layout costed from per-stage measurements (no scoring happens)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from bad_inputs import make_images
from causaliqa.cli import app
from causaliqa.scoring.plan import StageCosts, plan_run

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]


def _costs(**gpu) -> StageCosts:
    cpu = {"decode": 0.010, "corrupt:gaussian_noise:1": 0.004, "corrupt:gaussian_noise:5": 0.006, "corrupt:zoom_blur:3": 0.070,
           "estimate:tv": 0.002, "estimate:efficientnet_lite0": 0.040}
    return StageCosts(cpu, dict(gpu), 10.0, "test")


def test_stage_times_follow_the_backends_layout():
    variants = [("clean", 0, True)] * 100 + [("gaussian_noise", 2, True)] * 100 + [("zoom_blur", 4, True)] * 100
    plan = plan_run(variants, ["tv", "efficientnet_lite0"], _costs(), nodes=4, cpus_per_node=8)
    prepare, scoring = plan.stages
    # as `score --backend ray` lays out 32 CPUs: a quarter (8) left to decoding, the rest in actors of 4 CPUs
    assert (plan.actors, scoring.units, prepare.units) == (6, 24, 8)
    # decode for all 300, gaussian_noise severity 2 costed at the nearest measured severity (1), zoom_blur at 3
    assert prepare.work_s == pytest.approx(300 * 0.010 + 100 * 0.004 + 100 * 0.070)
    assert prepare.seconds == pytest.approx(prepare.work_s / 8) and prepare.top.startswith("zoom_blur")
    assert scoring.work_s == pytest.approx(300 * 0.042) and scoring.seconds == pytest.approx(scoring.work_s / 24)
    assert plan.wall_s == pytest.approx(10.0 + max(prepare.seconds, scoring.seconds))
    assert plan.bottleneck == "decode + corrupt"
    assert plan.balanced_actors == 4  # max(10.4 / (32 - 4n), 12.6 / 4n): 0.79 s at n = 4, 0.87 at 5, 1.05 at 3


def test_gpus_take_the_estimators_and_unmeasured_costs_are_named():
    variants = [("clean", 0, True)] * 1000
    plan = plan_run(variants, ["tv", "efficientnet_lite0"], _costs(**{"estimate:tv": 0.0001}), nodes=2, cpus_per_node=16, gpus_per_node=2)
    assert plan.actors == 4 and plan.stages[1].units == 4
    assert plan.stages[1].work_s == pytest.approx(1000 * 0.0001)
    assert plan.not_measured == ("estimate:efficientnet_lite0 (gpu, not measured here)",)
    assert plan.balanced_actors is None


def _experiment(tmp_path: Path) -> Path:
    images, labels = make_images(tmp_path / "data", 4)
    spec = {"name": "t", "graphs": [str(ROOT / "graphs/baseline.yaml")],
            "dataset": {"images": str(images), "labels": str(labels), "corruptions": ["gaussian_noise"], "severities": [1, 5]},
            "bindings": {"X": "images", "Y": "label", "Q": "tv", "M": "resnet18@random:correct"}, "out": str(tmp_path / "run")}
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def _stages_file(tmp_path: Path) -> Path:
    rows = [{"stage": "decode", "device": "cpu", "seconds_per_image": 0.01, "workload": "decode (cpu)", "ours_s": 0.01},
            {"stage": "corrupt:gaussian_noise:3", "device": "cpu", "seconds_per_image": 0.02, "workload": "x", "ours_s": 0.02},
            {"stage": "estimate:tv", "device": "cpu", "seconds_per_image": 0.003, "workload": "x", "ours_s": 0.003}]
    path = tmp_path / "stages.json"
    path.write_text(json.dumps({"rows": rows}), encoding="utf-8")
    return path


def test_plan_command_prints_wall_time_bottleneck_and_what_it_could_not_cost(tmp_path):
    result = runner.invoke(app, ["plan", str(_experiment(tmp_path)), "--nodes", "2", "--cpus-per-node", "4",
                                 "--stages", str(_stages_file(tmp_path))])
    assert result.exit_code == 0, result.output
    assert "12 variants on 2 node(s) x 4 CPUs x 0 GPUs" in result.output  # 4 images x (clean + 2 severities)
    assert "expected wall time:" in result.output and "bottleneck: decode + corrupt" in result.output
    assert "not measured here (left out, so the time is a lower bound): estimate:resnet18 (cpu)" in result.output
    assert not (tmp_path / "run").exists(), "plan scores nothing"


def test_plan_counts_only_what_the_store_lacks(tmp_path):
    path = _experiment(tmp_path)
    assert runner.invoke(app, ["score", str(path), "--workers", "0"]).exit_code == 0
    result = runner.invoke(app, ["plan", str(path), "--stages", str(_stages_file(tmp_path))])
    assert result.exit_code == 0 and "nothing to score: the store has every variant" in result.output, result.output
    everything = runner.invoke(app, ["plan", str(path), "--all", "--stages", str(_stages_file(tmp_path))])
    assert everything.exit_code == 0 and "12 variants on 1 node(s)" in everything.output, everything.output


@pytest.mark.parametrize("content, message", [
    (None, "--stages: expected per-stage costs measured by `make bench` (benchmarks/results/stages.json), got no file"),
    ("{not json", "expected a stages.json written by benchmarks/bench_stages.py, got JSONDecodeError"),
])
def test_plan_stage_file_errors_are_one_line(tmp_path, content, message):
    stages = tmp_path / "s.json"
    if content is not None:
        stages.write_text(content, encoding="utf-8")
    result = runner.invoke(app, ["plan", str(_experiment(tmp_path)), "--stages", str(stages)])
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and message in lines[0], result.output
