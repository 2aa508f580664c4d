"""`causaliqa analyze` on a store with a known generating process."""

import json
from causaliqa.scoring.store import save_mixtures, write_scores

import numpy as np
import pandas as pd
from scipy import stats
from typer.testing import CliRunner

from causaliqa.cli import app

runner = CliRunner()


def make_store(path, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for image in range(150):
        label = image % 30
        for c in ("clean", "fog", "snow", "pixelate", "contrast"):
            for s in ((0,) if c == "clean" else (1, 2, 3, 4, 5)):
                difficulty = s * (0.3 + 0.1 * len(c)) + rng.normal()
                rows.append({"image_id": f"img{image}", "corruption": c, "severity": s, "label": label,
                             "good.score": -difficulty + 0.3 * rng.normal(), "noise.score": rng.normal(),
                             "model.correct": int(rng.random() < 1 / (1 + np.exp(difficulty - 1.5)))})
    frame = pd.DataFrame(rows)
    write_scores(path, frame)
    return frame


def test_analyze_table_and_json(tmp_path):
    frame = make_store(tmp_path / "store")
    result = runner.invoke(app, ["analyze", str(tmp_path / "store"), "--m", "model.correct", "--q", "good.score",
                                 "--q", "noise.score", "--n-boot", "200", "--json-out", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "r.json").read_text())
    good, noise = data["pairs"]
    assert set(data["timings"]) == {"read", "group-wise", "point-wise", "per-label CV", "per-image CV"}
    # good tracks the difficulty that drives M (a strong signal); noise has none, and 0.08 is over 3 sd of a held-out
    # AUC without signal on these 150 images x 5 rows (sd about 0.02 for 150 test rows)
    assert good["point_wise"]["auc"] > 0.7 and abs(noise["point_wise"]["auc"] - 0.5) < 0.08
    # the paper's groups: corruption x severity only, the clean images are not a group
    corrupted = frame[frame["corruption"] != "clean"]
    groups = corrupted.groupby(["corruption", "severity"])[["good.score", "model.correct"]].mean()
    assert good["group_wise"]["n_groups"] == len(groups)
    assert good["group_wise"]["spearman"]["estimate"] == stats.spearmanr(groups["good.score"], groups["model.correct"]).statistic
    assert good["by_image"]["n_groups"] == 150 and good["by_label"]["n_groups"] == 30
    assert "task model (M)" in result.output and "image_id: mAUC" in result.output


def test_analyze_errors(tmp_path):
    make_store(tmp_path / "store")
    result = runner.invoke(app, ["analyze", str(tmp_path / "store"), "--m", "model.correct", "--q", "good.scor"])
    assert result.exit_code == 2 and "did you mean 'good.score'" in result.output
    result = runner.invoke(app, ["analyze", str(tmp_path / "store"), "--m", "good.score", "--q", "noise.score"])
    assert result.exit_code == 2 and "expected a binary correctness column for M" in result.output


def test_pairs_sharing_draws_get_what_each_would_get_alone(tmp_path):
    """One split plan and one set of folds per M serve every pair; each pair's numbers are its own."""
    from causaliqa.analysis import analyse_pair, analyse_pairs

    frame = make_store(tmp_path / "store")
    frame["other.correct"] = (frame["good.score"] + np.random.default_rng(1).normal(size=len(frame)) > -2).astype(int)
    frame.loc[frame.index % 7 == 0, "noise.score"] = np.nan  # a pair on other rows: its own plan
    together = analyse_pairs(frame, ["model.correct", "other.correct"], ["good.score", "noise.score"], n_boot=100)
    for shared in together:
        alone = analyse_pair(frame, shared.m, shared.q, n_boot=100)
        assert shared.to_dict() == alone.to_dict()
    assert together[1].n_rows < together[0].n_rows


def test_analyze_reads_the_stores_mixtures(tmp_path):
    frame = make_store(tmp_path / "store")
    ids = sorted(frame["image_id"].unique())
    rng = np.random.default_rng(2)
    members = []
    for p_c in (0.0, 0.5, 1.0):
        hit = rng.random(len(ids)) < p_c
        for image_id, h in zip(ids, hit):
            members.append({"variant": f"pc={p_c:.2f}", "p_c": p_c, "image_id": image_id,
                            "corruption": "fog" if h else "clean", "severity": 1 if h else 0})
    save_mixtures(tmp_path / "store", pd.DataFrame(members))
    result = runner.invoke(app, ["analyze", str(tmp_path / "store"), "--m", "model.correct", "--q", "good.score", "--n-boot", "100",
                                 "--null-permutations", "50", "--json-out", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    [mix] = json.loads((tmp_path / "r.json").read_text())["mixtures"]
    assert mix["fractions"] == [0.0, 0.5, 1.0] and mix["mean_null"]["n_perm"] == 50 and len(mix["nulls"]) == 3
    assert "model.correct ~ good.score | mixtures: mAUC" in result.output and "mixtures" in json.loads((tmp_path / "r.json").read_text())["timings"]
    result = runner.invoke(app, ["analyze", str(tmp_path / "store"), "--m", "model.correct", "--q", "good.score", "--no-mixtures",
                                 "--json-out", str(tmp_path / "r2.json"), "--n-boot", "20"])
    assert json.loads((tmp_path / "r2.json").read_text())["mixtures"] == []


def test_a_mixture_whose_members_are_unscored_gives_nan_not_an_error(tmp_path):
    from causaliqa.analysis import analyse_all_mixtures, mixture_frame

    frame = make_store(tmp_path / "store")
    frame.loc[(frame["corruption"] == "fog") & (frame["severity"] == 1), "good.score"] = np.nan  # not scored yet
    ids = sorted(frame["image_id"].unique())
    members = pd.DataFrame([{"variant": f"pc={p:.2f}", "p_c": p, "image_id": i, "corruption": "fog" if p == 1.0 else "clean",
                             "severity": 1 if p == 1.0 else 0} for p in (0.0, 1.0) for i in ids])
    [mix] = analyse_all_mixtures(mixture_frame(frame, members), ["model.correct"], ["good.score"], n_perm=10)
    assert mix.fractions == (0.0, 1.0) and mix.auc[0] > 0.5 and np.isnan(mix.auc[1])
