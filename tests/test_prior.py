"""Quality as a prior on a task model's accuracy: each method on synthetic worlds where the target's accuracy is
known, interval coverage by simulation, ATC's threshold against brute force, the commands end to end, and mistakes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from causaliqa.cli import app
from causaliqa.errors import CausaliqaError
from causaliqa.prior import evaluate_prior, predict_accuracy
from causaliqa.stats import accuracy as acc

runner = CliRunner()
M, Q = "model.correct", "q.score"


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _world(rng, images, shift=0.0, variants=4, slope=2.0, corruption="clean"):
    """Q drifts with an image effect and a shift; P(M | Q) is the same logistic curve everywhere (a shift of Q only)."""
    ids = np.repeat(np.arange(images), variants)
    q = rng.normal(size=images)[ids] + 0.7 * rng.normal(size=ids.size) + shift
    m = (rng.random(ids.size) < _sigmoid(0.5 + slope * q)).astype(float)
    conf = _sigmoid(0.5 + slope * q)  # a calibrated confidence of the task model
    entropy = -(conf * np.log(conf) + (1 - conf) * np.log(1 - conf))
    return pd.DataFrame({"image_id": [f"{corruption}{i}" for i in ids], "corruption": corruption, "severity": 0 if corruption == "clean" else 3,
                         "label": 1, Q: q, M: m, "model.max_prob": conf, "model.entropy": entropy})


def _truth(shift, slope=2.0, n=2_000_000):
    rng = np.random.default_rng(99)
    q = rng.normal(size=n) + 0.7 * rng.normal(size=n) + shift
    return float(_sigmoid(0.5 + slope * q).mean())


@pytest.mark.slow
def test_logistic_prior_recovers_the_target_accuracy_and_its_interval_covers():
    """Reference 100 images x 4 variants, target 60 images shifted by -0.8 SD: the logistic prior's error is about
    0.02 and its 95 % interval (image-id resamples of both) covers the target's accuracy; AC and DoC recover it too
    (calibrated confidence). Measured over 300 worlds: logistic |bias| < 0.01, coverage 0.95."""
    truth = _truth(-0.8)
    rng = np.random.default_rng(1)
    est, covered = {"logistic": [], "AC": [], "DoC": [], "isotonic": []}, []
    for world in range(300):
        reference, target = _world(rng, 100), _world(rng, 60, shift=-0.8)
        result = predict_accuracy(reference, target.drop(columns=[M]), M, [Q], n_boot=200, seed=world, groups=False)
        by = {e.method: e for e in result.estimates}
        for name in est:
            est[name].append(by[name].accuracy)
        covered.append(by["logistic"].ci[0] <= truth <= by["logistic"].ci[1])
    for name, values in est.items():
        print(name, f"bias {np.mean(values) - truth:+.4f} sd {np.std(values):.4f}")
    print(f"coverage {np.mean(covered):.3f}")
    assert abs(np.mean(est["logistic"]) - truth) < 0.01 and abs(np.mean(est["AC"]) - truth) < 0.01
    assert abs(np.mean(est["DoC"]) - truth) < 0.015 and abs(np.mean(est["isotonic"]) - truth) < 0.02
    assert 0.92 <= np.mean(covered) <= 0.98


def test_atc_is_exact_when_a_threshold_separates_correctness():
    """M = 1{s > 0.3}: ATC finds that threshold on the reference and predicts any shifted target's accuracy exactly."""
    rng = np.random.default_rng(2)
    s_ref, s_target = rng.normal(size=5000), rng.normal(-0.5, 1.2, size=3000)
    m_ref = (s_ref > 0.3).astype(float)
    threshold = acc.atc_threshold(s_ref, m_ref)
    assert abs(threshold[0] - 0.3) < 0.01
    predicted = acc.atc_predict(threshold, s_target, np.ones((1, s_target.size)))[0]
    assert predicted == pytest.approx((s_target > 0.3).mean(), abs=0.003)


@pytest.mark.parametrize("seed", range(20))
def test_atc_threshold_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 60))
    s = rng.integers(0, 8, n).astype(float) / 7  # heavy ties
    m = (rng.random(n) < 0.6).astype(float)
    w = rng.integers(0, 4, (3, n)).astype(float)
    w[:, 0] += 1
    got = acc.atc_threshold(s, m, w)
    for b in range(3):
        accuracy = (w[b] * m).sum() / w[b].sum()
        candidates = [-np.inf, *sorted(set(s))]
        gaps = [abs((w[b] * (s > t)).sum() / w[b].sum() - accuracy) for t in candidates]
        best = max(t for t, g in zip(candidates, gaps) if g == min(gaps))  # the largest among the closest
        assert got[b] == best


def test_doc_and_ac_follow_their_definitions():
    rng = np.random.default_rng(3)
    c_ref, c_t = rng.random(50), rng.random(40)
    m = (rng.random(50) < 0.7).astype(float)
    ones_r, ones_t = np.ones((1, 50)), np.ones((1, 40))
    assert acc.average_confidence(c_t, ones_t)[0] == pytest.approx(c_t.mean())
    assert acc.difference_of_confidences(c_ref, m, c_t, ones_r, ones_t)[0] == pytest.approx(np.clip(m.mean() + c_t.mean() - c_ref.mean(), 0, 1))


def test_logistic_probabilities_equal_statsmodels():
    import statsmodels.api as sm

    rng = np.random.default_rng(4)
    q = rng.normal(size=(300, 2))
    m = (rng.random(300) < _sigmoid(q @ [1.0, -0.5])).astype(float)
    target = rng.normal(size=(50, 2))
    ours = acc.logistic_probabilities(q[:, :1], m, target[:, :1], np.ones((1, 300)))[0]
    mean, sd = q[:, 0].mean(), q[:, 0].std()
    fit = sm.Logit(m, sm.add_constant((q[:, 0] - mean) / sd)).fit(disp=0)
    np.testing.assert_allclose(ours, fit.predict(sm.add_constant((target[:, 0] - mean) / sd)), atol=1e-8)
    both = acc.logistic_probabilities(q, m, target, np.ones((1, 300)))[0]
    z = (q - q.mean(0)) / q.std(0)
    fit2 = sm.Logit(m, sm.add_constant(z)).fit(disp=0)
    np.testing.assert_allclose(both, fit2.predict(sm.add_constant((target - q.mean(0)) / q.std(0))), atol=1e-6)


def test_evaluation_protocols_hold_out_what_they_predict():
    rng = np.random.default_rng(5)
    frames = [_world(rng, 40)] + [_world(rng, 40, shift=-s, corruption=c) for c, s in (("fog", 0.5), ("blur", 1.0), ("noise", 1.5))]
    frame = pd.concat(frames, ignore_index=True)
    result = evaluate_prior(frame, M, [Q], n_boot=200)
    protocols = set(result.rows["protocol"])
    assert protocols == {"clean -> each group", "leave one corruption out"}
    assert set(result.rows.loc[result.rows.protocol == "clean -> each group", "group"]) == {"fog severity 3", "blur severity 3", "noise severity 3"}
    logistic = [e for e in result.errors if e.method == "logistic" and e.protocol == "leave one corruption out"][0]
    assert logistic.mae < 6  # P(M | Q) is the same everywhere here: the prior is right up to sampling error
    atc = [e for e in result.errors if e.method == "ATC-MC"][0]
    assert atc.uses_task_model and not logistic.uses_task_model


@pytest.mark.parametrize("change, message", [
    (lambda ref, tgt: (ref.assign(label=-1), tgt), "expected labelled reference rows, got rows scored without labels"),
    (lambda ref, tgt: (ref.drop(columns=[M]), tgt), "--m: expected a reference store with labelled rows scored for model.correct"),
    (lambda ref, tgt: (ref, tgt.drop(columns=[Q])), "--target: --q: expected a scored column q.score"),
    (lambda ref, tgt: (ref.assign(**{Q: 1.0}), tgt), "expected a score that varies on the reference"),
    (lambda ref, tgt: (ref, tgt.assign(**{Q: tgt[Q] + 100})), "expected target scores that overlap the reference's range"),
    (lambda ref, tgt: (ref.assign(**{M: 1.0}), tgt), "expected reference rows with both correct and wrong predictions"),
])
def test_bad_inputs_are_one_line(change, message):
    rng = np.random.default_rng(6)
    reference, target = change(_world(rng, 20), _world(rng, 10, shift=-0.5))
    with pytest.raises(CausaliqaError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        predict_accuracy(reference, target, M, [Q], n_boot=10)
    assert "\n" not in str(err.value)


@pytest.mark.slow
def test_score_without_labels_then_predict_then_profile_on_real_images(tmp_path, imagenet_val, shared_weights):
    """A labelled reference (clean + two corruptions) and a new, unlabelled folder: score -> predict -> profile."""
    import shutil

    images = sorted((imagenet_val / "images").iterdir())
    ref = ["score", "--images", str(imagenet_val / "images"), "--labels", str(imagenet_val / "labels.csv"), "--limit", "24",
           "--corruptions", "defocus_blur,gaussian_noise", "--severities", "1,5", "-e", "tv", "-e", "efficientnet_lite0:correct",
           "-e", "efficientnet_lite0:max_prob", "-e", "efficientnet_lite0:entropy", "-e", "efficientnet_lite1:max_prob",
           "--out", str(tmp_path / "ref"), "--workers", "0"]
    assert runner.invoke(app, ref).exit_code == 0
    new = tmp_path / "new"
    new.mkdir()
    for p in images[100:112]:
        shutil.copy(p, new / p.name)
    result = runner.invoke(app, ["score", "--images", str(new), "--corruptions", "defocus_blur", "--severities", "3", "-e", "tv",
                                 "-e", "efficientnet_lite0:max_prob", "-e", "efficientnet_lite0:entropy", "-e", "efficientnet_lite1:max_prob",
                                 "--out", str(tmp_path / "target"), "--workers", "0"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["predict", "--reference", str(tmp_path / "ref"), "--target", str(tmp_path / "target"),
                                 "--m", "efficientnet_lite0.correct", "--q", "efficientnet_lite1.max_prob", "--q", "tv.score",
                                 "--n-boot", "50", "--risk-out", str(tmp_path / "risk.parquet"), "--json-out", str(tmp_path / "p.json")])
    assert result.exit_code == 0, result.output
    for method in ("logistic", "isotonic", "AC", "DoC", "ATC-MC", "ATC-NE"):
        assert method in result.output
    assert "defocus_blur severity 3" in result.output and "strong task-guided" in result.output and "baseline (Fig. 1)" in result.output
    risk = pd.read_parquet(tmp_path / "risk.parquet")
    assert len(risk) == 24 and risk.iloc[:, 3].is_monotonic_decreasing
    result = runner.invoke(app, ["profile", str(tmp_path / "target"), "--reference", str(tmp_path / "ref"), "--q", "tv.score",
                                 "--m", "efficientnet_lite0.correct", "--n-boot", "20", "--figure", str(tmp_path / "profile.png")])
    assert result.exit_code == 0, result.output
    assert "looks most like" in result.output and (tmp_path / "profile.png").exists()
    result = runner.invoke(app, ["predict", "--evaluate", str(tmp_path / "ref"), "--m", "efficientnet_lite0.correct",
                                 "--q", "efficientnet_lite1.max_prob", "--figure", str(tmp_path / "pva.png")])
    assert result.exit_code == 0 and "leave one corruption out" in result.output and (tmp_path / "pva.png").exists()
    result = runner.invoke(app, ["predict", "--reference", str(tmp_path / "target"), "--target", str(tmp_path / "target"),
                                 "--m", "efficientnet_lite0.correct", "--q", "tv.score"])
    assert result.exit_code == 2 and "--reference: --m: expected a reference store with labelled rows" in result.output
