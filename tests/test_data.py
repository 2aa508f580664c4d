"""Corruptions, dataset readers and mixtures."""

import time

import numpy as np
import pytest
from PIL import Image

from causaliqa import CausaliqaError
from causaliqa.data import CORRUPTIONS, SEVERITIES, DatasetSpec, MixtureSpec, build_records, corrupt_image, prepare_image
from causaliqa.data.datasets import read_imagenet_c, read_imagenet_val


@pytest.fixture(scope="module")
def real_image(imagenet_val):
    path = sorted((imagenet_val / "images").iterdir())[0]
    with Image.open(path) as im:
        return path.stem, prepare_image(im)


def test_prepare_image_shape():
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (300, 500, 3), dtype=np.uint8))
    out = prepare_image(img)
    assert out.shape == (224, 224, 3) and out.dtype == np.uint8


@pytest.mark.slow
@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_every_corruption_every_severity(real_image, corruption):
    image_id, clean = real_image
    previous = None
    for severity in SEVERITIES:
        started = time.perf_counter()
        out = corrupt_image(clean, corruption, severity, image_id)
        assert out.shape == (224, 224, 3) and out.dtype == np.uint8
        assert np.array_equal(out, corrupt_image(clean, corruption, severity, image_id)), "deterministic"
        assert not np.array_equal(out, clean)
        if previous is not None:
            assert not np.array_equal(out, previous), "severities differ"
        previous = out
        assert time.perf_counter() - started < 60


def test_noise_depends_on_image_id(real_image):
    _, clean = real_image
    a = corrupt_image(clean, "gaussian_noise", 3, "id-a")
    b = corrupt_image(clean, "gaussian_noise", 3, "id-b")
    assert not np.array_equal(a, b)


def test_imagenet_c_layout(tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("file,label,wnid\nimg1.JPEG,3,n01\nimg2.JPEG,7,n02\n")
    for corruption in ("fog", "snow"):
        for severity in (1, 2):
            for wnid, name in (("n01", "img1"), ("n02", "img2")):
                folder = tmp_path / "inc" / corruption / str(severity) / wnid
                folder.mkdir(parents=True)
                Image.fromarray(np.zeros((224, 224, 3), np.uint8)).save(folder / f"{name}.JPEG")
    records = read_imagenet_c(tmp_path / "inc", labels, ["fog"], [1, 2])
    assert len(records) == 4
    assert {(r.image_id, r.label, r.corruption, r.severity) for r in records} >= {("img1", 3, "fog", 1), ("img2", 7, "fog", 2)}
    assert not any(r.generated for r in records)
    with pytest.raises(CausaliqaError, match="missing"):
        read_imagenet_c(tmp_path / "inc", labels, ["fog"], [3])


def test_wnid_subfolders_need_mapping_for_labels(tmp_path):
    from causaliqa.data.datasets import UNLABELLED

    for wnid in ("n01", "n02"):
        (tmp_path / "val" / wnid).mkdir(parents=True)
        Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(tmp_path / "val" / wnid / f"{wnid}_a.JPEG")
    # no mapping and not the 1000 ImageNet folders: the images are read unlabelled (scores need no labels)
    assert {r.label for r in read_imagenet_val(tmp_path / "val", None)} == {UNLABELLED}
    mapping = tmp_path / "map.csv"
    mapping.write_text("file,label,wnid\nx,5,n01\ny,9,n02\n")
    records = read_imagenet_val(tmp_path / "val", mapping)
    assert [(r.image_id, r.label) for r in records] == [("n01_a", 5), ("n02_a", 9)]


def test_text_labels_and_bad_labels(tmp_path):
    (tmp_path / "imgs").mkdir()
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(tmp_path / "imgs" / "a.JPEG")
    (tmp_path / "val.txt").write_text("a.JPEG 12\n")
    assert read_imagenet_val(tmp_path / "imgs", tmp_path / "val.txt")[0].label == 12
    (tmp_path / "bad.txt").write_text("a.JPEG dog\n")
    with pytest.raises(CausaliqaError, match=r"bad.txt: line 1: expected an integer class index 0-999, got 'dog'"):
        read_imagenet_val(tmp_path / "imgs", tmp_path / "bad.txt")


def test_mixtures_have_requested_fraction(imagenet_val):
    spec = DatasetSpec(images=str(imagenet_val / "images"), labels=str(imagenet_val / "labels.csv"), limit=200,
                       mixtures=MixtureSpec(fractions=[0.01, 0.05, 0.2], seed=3))
    records, members = build_records(spec)
    import pandas as pd

    m = pd.DataFrame(members)
    for p_c, rows in m.groupby("p_c"):
        assert len(rows) == 200
        assert (rows.corruption != "clean").sum() == round(p_c * 200)
        assert set(rows.loc[rows.corruption != "clean", "severity"]) <= {1, 2, 3}
    keys = {r.key for r in records}
    assert set(map(tuple, m[["image_id", "corruption", "severity"]].itertuples(index=False, name=None))) <= keys
    _, again = build_records(spec)
    assert again == members, "seeded"


def test_unknown_corruption_hint():
    with pytest.raises(CausaliqaError, match="did you mean 'gaussian_noise'"):
        build_records(DatasetSpec(images=".", corruptions=["gausian_noise"]))
