"""One estimator computed another way on the same images - a ``#variant`` spec with its own column and
options (``preprocess``), scored beside the plain one."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from causaliqa.estimators.preprocess import downscale2, grayscale
from causaliqa.scoring.bindings import make_bindings
from causaliqa.scoring.run import score_images
from causaliqa.scoring.store import load_estimator_info, load_scores
from causaliqa.data.datasets import ImageRecord


def _colour_images(folder, n=4):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    records = []
    for i in range(n):
        array = rng.integers(0, 256, (32, 40, 3), dtype=np.uint8)
        path = folder / f"im{i}.png"
        Image.fromarray(array).save(path)
        records.append(ImageRecord(f"im{i}", str(path), i % 2, "clean", 0))
    return records


def test_grayscale_matches_pil_and_downscale_halves():
    array = np.random.default_rng(1).integers(0, 256, (2, 3, 9, 11), dtype=np.uint8)
    gray = grayscale(torch.from_numpy(array))
    for i in range(2):
        pil = np.asarray(Image.fromarray(array[i].transpose(1, 2, 0)).convert("L"), dtype=np.int16)
        assert np.abs(gray[i, 0].numpy().astype(np.int16) - pil).max() <= 1  # PIL rounds its fixed-point sum
        assert (gray[i, 0] == gray[i, 1]).all() and (gray[i, 1] == gray[i, 2]).all()
    small = downscale2(torch.from_numpy(array))
    assert small.shape == (2, 3, 4, 5) and small.dtype == torch.uint8
    assert small[0, 0, 0, 0] == round(array[0, 0, :2, :2].astype(float).mean())


def test_a_variant_is_its_own_column_with_its_own_identity(tmp_path):
    records = _colour_images(tmp_path / "img")
    bindings = make_bindings(["tv", "tv#gray"], options={"tv#gray": {"preprocess": "grayscale"}})
    score_images(records, bindings, tmp_path / "store", workers=0, progress=False)
    frame = load_scores(tmp_path / "store")
    # reference: the plain estimator on grayscale copies of the files (the pipeline's decode and resize commute
    # with a linear luma up to rounding)
    gray_records = []
    for r in records:
        path = tmp_path / "img" / f"{r.image_id}_gray.png"
        Image.open(r.path).convert("L").convert("RGB").save(path)
        gray_records.append(ImageRecord(r.image_id, str(path), r.label, r.corruption, r.severity))
    score_images(gray_records, make_bindings(["tv"]), tmp_path / "reference", workers=0, progress=False)
    np.testing.assert_allclose(frame["tv#gray.score"], load_scores(tmp_path / "reference")["tv.score"], rtol=0.005)
    assert (np.abs(frame["tv#gray.score"] / frame["tv.score"] - 1) > 0.2).all()  # colour noise removed: another computation
    info = load_estimator_info(tmp_path / "store")
    assert "preprocess" in info["tv#gray.score"]["identity"]["options"] and "grayscale" not in info["tv.score"]["identity"]["options"]


def test_unknown_preprocessing_is_one_line_with_a_hint():
    from causaliqa.errors import CausaliqaError

    with pytest.raises(CausaliqaError, match="preprocess: expected one of grayscale, downscale2 \\(did you mean 'grayscale'\\?\\), got 'greyscale'"):
        make_bindings(["tv#g"], options={"tv#g": {"preprocess": "greyscale"}})


@pytest.mark.slow
def test_clip_label_set_interventions_from_a_written_checkpoint(tmp_path):
    """Weak task guidance: zero-shot CLIP with the task's label set, a shuffled one and an unrelated one,
    as three '#variant' columns of one checkpoint. max_prob is a max over the same prompts whatever their order, so
    the shuffled set must give the task set's Q exactly; the unrelated set must not."""
    import open_clip
    import yaml
    from typer.testing import CliRunner

    from bad_inputs import make_images
    from causaliqa.cli import app

    torch.manual_seed(3)
    torch.save({"state_dict": open_clip.create_model("ViT-B-32", pretrained=None).state_dict()}, tmp_path / "clip.pt")
    images, labels = make_images(tmp_path / "data", 24, size=(64, 64))
    task = [f"class {i}" for i in range(24)]
    shuffled = [str(name) for name in np.random.default_rng(0).permutation(task)]
    clip = f"clip:ViT-B-32@{tmp_path / 'clip.pt'}"
    variant = lambda tag: f"clip:ViT-B-32#{tag}@{tmp_path / 'clip.pt'}"  # noqa: E731
    spec = {"name": "labels", "graphs": [str(Path("graphs/weak_task_guided.yaml").resolve())],
            "dataset": {"images": str(images), "labels": str(labels)},
            "bindings": {"X": "images", "Y": "label", "Q": f"{clip}:max_prob", "M": "resnet18@random:correct"},
            "estimator_options": {clip: {"classnames": task, "templates": ["a photo of a {}."]},
                                  variant("shuffled"): {"classnames": shuffled, "templates": ["a photo of a {}."]},
                                  variant("unrelated"): {"classnames": [f"word {i}" for i in range(24)], "templates": ["a photo of a {}."]}},
            "interventions": [{"name": "label set", "baseline": f"{clip}:max_prob",
                               "variants": [{"spec": f"{variant('shuffled')}:max_prob"}, {"spec": f"{variant('unrelated')}:max_prob"}]}],
            "analyses": {"n_boot": 20, "by_image": False, "by_label": False, "ci_tests": {"enabled": False}},
            "out": str(tmp_path / "store")}
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(spec))
    result = CliRunner().invoke(app, ["run", str(path), "--workers", "0"])
    assert result.exit_code == 0, result.output
    frame = load_scores(tmp_path / "store")
    np.testing.assert_allclose(frame["clip:ViT-B-32#shuffled@clip.max_prob"], frame["clip:ViT-B-32@clip.max_prob"], rtol=1e-6)
    assert not np.allclose(frame["clip:ViT-B-32#unrelated@clip.max_prob"], frame["clip:ViT-B-32@clip.max_prob"], rtol=1e-6)
    outcomes = json.loads((tmp_path / "store" / "results.json").read_text())["interventions"]
    assert [o["comparison"]["variant"] for o in outcomes] == ["clip:ViT-B-32#shuffled@clip.max_prob", "clip:ViT-B-32#unrelated@clip.max_prob"]
