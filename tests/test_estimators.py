"""Estimators: registry, real EfficientNet-Lite and BRISQUE/NIQE, random-initialised torchvision and open_clip."""

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.special import softmax
from scipy.stats import entropy

from causaliqa import CausaliqaError
from causaliqa.data import corrupt_image, prepare_image
from causaliqa.estimators import EstimatorSpec, get_estimator, list_estimators, resolve_spec
from causaliqa.estimators.classifiers import classifier_outputs
from causaliqa.estimators.iqa import total_variation


def load_batch(root, n, corruption="clean", severity=0):
    import csv

    rows = list(csv.DictReader(open(root / "labels.csv")))[:n]
    arrays = []
    for r in rows:
        with Image.open(root / "images" / r["file"]) as im:
            arrays.append(corrupt_image(prepare_image(im), corruption, severity, r["file"]))
    batch = torch.from_numpy(np.stack(arrays).transpose(0, 3, 1, 2).copy())
    return batch, np.array([int(r["label"]) for r in rows])


def test_classifier_outputs_match_scipy():
    logits = torch.randn(6, 10, generator=torch.Generator().manual_seed(0))
    labels = logits.argmax(1).numpy().copy()
    labels[:2] = (labels[:2] + 1) % 10
    out = classifier_outputs(logits, labels)
    p = softmax(logits.numpy().astype(np.float64), axis=1)
    np.testing.assert_allclose(out["max_prob"], p.max(1), rtol=1e-6)
    np.testing.assert_allclose(out["entropy"], entropy(p, axis=1), rtol=1e-5)
    np.testing.assert_allclose(out["max_logit"], logits.numpy().max(1), rtol=1e-6)
    assert out["correct"].tolist() == [0, 0, 1, 1, 1, 1]


def test_total_variation_reference():
    x = torch.rand(3, 3, 20, 30, generator=torch.Generator().manual_seed(1))
    a = x.numpy()
    ref = np.abs(np.diff(a, axis=3)).mean(axis=(1, 2, 3)) + np.abs(np.diff(a, axis=2)).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(total_variation(x).numpy(), ref, rtol=1e-5)
    assert total_variation(torch.ones(1, 3, 8, 8)).item() == 0


def test_registry_names_and_hints():
    assert {"tv", "efficientnet_lite0", "resnet34", "iqa:brisque", "iqa:niqe"} <= set(list_estimators())
    assert list_estimators("efficientnet_lite*") == ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]
    def parsed(text):
        spec = resolve_spec(text)
        return str(spec.estimator), spec.output

    assert parsed("efficientnet_lite0:correct") == ("efficientnet_lite0", "correct")
    assert parsed("iqa:brisque") == ("iqa:brisque", "score")
    assert parsed("iqa:entropy") == ("iqa:entropy", "score")
    assert parsed("clip:ViT-B-32@openai:max_logit") == ("clip:ViT-B-32@openai", "max_logit")
    assert parsed("resnet18@/x/m.ckpt:correct") == ("resnet18@/x/m.ckpt", "correct")
    assert parsed("efficientnet_lite0") == ("efficientnet_lite0", "correct")
    with pytest.raises(CausaliqaError, match="did you mean 'resnet34'"):
        get_estimator("resnet43")
    with pytest.raises(CausaliqaError, match="did you mean 'brisque'"):
        get_estimator("iqa:brisqe")
    with pytest.raises(CausaliqaError, match="an existing weights file"):
        get_estimator("iqa:niqe@/no/such/file.mat")
    assert get_estimator("iqa:niqe").higher_is_better["score"] is False


@pytest.mark.slow
def test_efficientnet_lite0_real_accuracy_and_severity(imagenet_val):
    model = get_estimator("efficientnet_lite0")
    clean, labels = load_batch(imagenet_val, 50)
    acc_clean = model.score(clean, labels)["correct"].mean()
    assert acc_clean >= 0.6  # ../shared/README: Lite0 top-1 0.79 on 300 of these images; 50 images give sd ~0.06
    mild, _ = load_batch(imagenet_val, 50, "gaussian_noise", 1)
    severe, _ = load_batch(imagenet_val, 50, "gaussian_noise", 5)
    acc_mild = model.score(mild, labels)["correct"].mean()
    acc_severe = model.score(severe, labels)["correct"].mean()
    assert acc_clean >= acc_mild > acc_severe


@pytest.mark.slow
@pytest.mark.parametrize("metric, file", [("brisque", "brisque_svm_weights.pth"), ("niqe", "niqe_modelparameters.mat")])
def test_brisque_niqe_rank_corrupted_worse(imagenet_val, shared_weights, metric, file):
    estimator = get_estimator(f"iqa:{metric}@{shared_weights / file}")
    assert estimator.key == f"iqa:{metric}"
    clean, labels = load_batch(imagenet_val, 8)
    noisy, _ = load_batch(imagenet_val, 8, "gaussian_noise", 4)
    s_clean = estimator.score(clean, labels)["score"]
    s_noisy = estimator.score(noisy, labels)["score"]
    assert estimator.higher_is_better["score"] is False
    # lower is better for both: severity-4 noise must read worse on at least 6 of the 8 images, and on average
    assert (s_noisy > s_clean).mean() >= 0.75 and s_noisy.mean() > s_clean.mean()


@pytest.mark.slow
@pytest.mark.parametrize("spec, output", [("tv", "score"), ("iqa:brisque@{w}/brisque_svm_weights.pth", "score"),
                                          ("iqa:niqe@{w}/niqe_modelparameters.mat", "score"), ("iqa:piqe", "score"),
                                          ("efficientnet_lite0", "max_prob"), ("efficientnet_lite0", "correct")])
def test_a_value_does_not_depend_on_the_rest_of_its_batch(imagenet_val, shared_weights, spec, output):
    """A resume, another batch size, another machine or a Ray actor batches images differently and runs another number
    of torch threads: each image's value must not move (BRISQUE in float32 moved by 0.01)."""
    estimator = get_estimator(spec.format(w=shared_weights))
    images, labels = load_batch(imagenet_val, 12)
    together = estimator.score(images, labels)[output]
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        alone = np.concatenate([estimator.score(images[i:i + 1], labels[i:i + 1])[output] for i in range(12)])
    finally:
        torch.set_num_threads(threads)
    threes = np.concatenate([estimator.score(images[i:i + 3], labels[i:i + 3])[output] for i in range(0, 12, 3)])
    np.testing.assert_allclose(together, alone, rtol=0, atol=1e-6)
    np.testing.assert_allclose(threes, alone, rtol=0, atol=1e-6)


def _random_batch(n=4):
    return torch.randint(0, 255, (n, 3, 224, 224), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


def test_torchvision_random_init_end_to_end():
    est = get_estimator("resnet18@random")
    out = est.score(_random_batch(), np.array([1, 2, 3, 4]))
    assert set(out) == {"correct", "max_prob", "entropy", "max_logit", "pred"}
    assert out["pred"].shape == (4,) and np.all((0 <= out["max_prob"]) & (out["max_prob"] <= 1))


def test_torchvision_checkpoint_file(tmp_path):
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None)
    torch.save(model.state_dict(), tmp_path / "r18.pth")
    est = get_estimator(f"resnet18@{tmp_path / 'r18.pth'}")
    assert est.key == "resnet18@r18"
    x = _random_batch(2)
    ref = model.eval()((x.float() / 255 - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
    torch.testing.assert_close(est.logits(x), ref.detach(), rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_open_clip_random_and_checkpoint(tmp_path):
    import open_clip

    names = ["cat", "dog", "car"]
    est = get_estimator("clip:ViT-B-32@random", classnames=names, templates=["a photo of a {}."])
    out = est.score(_random_batch(2), np.array([0, 1]))
    assert out["pred"].max() < 3 and np.all(np.abs(out["max_logit"]) <= 1.0 + 1e-5)  # cosine similarities
    torch.manual_seed(1)
    model = open_clip.create_model("ViT-B-32", pretrained=None)
    torch.save({"state_dict": model.state_dict()}, tmp_path / "clip.pt")
    est2 = get_estimator(f"clip:ViT-B-32@{tmp_path / 'clip.pt'}", classnames=names, templates=["a photo of a {}."])
    est3 = get_estimator(f"clip:ViT-B-32@{tmp_path / 'clip.pt'}", classnames=names, templates=["a photo of a {}."])
    x = _random_batch(2)
    torch.testing.assert_close(est2.logits(x), est3.logits(x))
    assert est2.key == "clip:ViT-B-32@clip"


# ---- the one spec type -------------------------------------------------------------
@pytest.mark.parametrize("text, family, name, weights, output, key", [
    ("tv", None, "tv", None, None, "tv"),
    ("iqa:entropy", "iqa", "entropy", None, None, "iqa:entropy"),
    ("iqa:brisque@w/b.pth:score", "iqa", "brisque", "w/b.pth", "score", "iqa:brisque"),
    ("efficientnet_lite0:max_prob", None, "efficientnet_lite0", None, "max_prob", "efficientnet_lite0"),
    ("resnet34@random:correct", None, "resnet34", "random", "correct", "resnet34@random"),
    ("resnet34@/a/model.v2.pth", None, "resnet34", "/a/model.v2.pth", None, "resnet34@model.v2"),
    ("clip:ViT-B-32@laion2b_s34b_b79k:max_logit", "clip", "ViT-B-32", "laion2b_s34b_b79k", "max_logit", "clip:ViT-B-32@laion2b_s34b_b79k"),
])
def test_spec_parse_round_trip(text, family, name, weights, output, key):
    spec = EstimatorSpec.parse(text)
    assert (spec.family, spec.name, spec.weights, spec.output, spec.key) == (family, name, weights, output, key)
    assert EstimatorSpec.parse(str(spec)) == spec and str(spec) == text


def test_output_typo_lists_the_valid_outputs():
    with pytest.raises(CausaliqaError, match=r"an output of efficientnet_lite0 \(correct, max_prob, entropy, max_logit, pred\).*'probability'"):
        resolve_spec("efficientnet_lite0:probability")


def test_checkpoint_suffixes_and_unknown_tags_fail_before_loading(tmp_path):
    import torchvision

    torch.save(torchvision.models.resnet18(weights=None).state_dict(), tmp_path / "m.ckpt")
    est = get_estimator(f"resnet18@{tmp_path / 'm.ckpt'}")  # .ckpt is a checkpoint like .pth: it loads
    est.load_checked("test")
    with pytest.raises(CausaliqaError, match="a weights file or a torchvision weights tag of resnet18.*'IMAGENET_V9'"):
        get_estimator("resnet18@IMAGENET_V9")
    (tmp_path / "w.txt").write_text("x")
    with pytest.raises(CausaliqaError, match=r"a weights file ending in \.pth, \.pt, \.bin, \.ckpt"):
        get_estimator(f"resnet18@{tmp_path / 'w.txt'}")


def test_random_init_is_seeded_so_a_resumed_run_builds_the_same_network():
    x = _random_batch(2)
    a, b = get_estimator("resnet18@random"), get_estimator("resnet18@random")
    torch.testing.assert_close(a.logits(x), b.logits(x))
    c = get_estimator("resnet18@random", seed=1)
    assert not torch.allclose(a.logits(x), c.logits(x))
    assert a.identity() == b.identity() != c.identity()


def test_identity_hashes_weight_file_content(tmp_path):
    import torchvision

    for folder, seed in (("a", 0), ("b", 1)):
        (tmp_path / folder).mkdir()
        torch.manual_seed(seed)
        torch.save(torchvision.models.resnet18(weights=None).state_dict(), tmp_path / folder / "model.pth")
    a = get_estimator(f"resnet18@{tmp_path / 'a' / 'model.pth'}")
    b = get_estimator(f"resnet18@{tmp_path / 'b' / 'model.pth'}")
    assert a.key == b.key == "resnet18@model"  # same column name ...
    assert a.identity() != b.identity()  # ... but the store can tell them apart


def test_wrong_kind_weights_file_is_one_line(shared_weights):
    est = get_estimator(f"iqa:brisque@{shared_weights / 'niqe_modelparameters.mat'}")
    with pytest.raises(CausaliqaError, match="iqa:brisque@.*niqe_modelparameters.mat: expected weights .* that iqa:brisque can load"):
        est.load_checked("--estimator")
