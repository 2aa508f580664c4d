"""Turn ``causaliqa score`` flags (or an experiment file) into a scoring run; everything is checked first."""

from __future__ import annotations

from pathlib import Path

from causaliqa.data.datasets import DatasetSpec, build_records, parse_severities
from causaliqa.errors import CausaliqaError
from causaliqa.scoring.bindings import make_bindings
from causaliqa.scoring.run import ScoreSummary, resolve_device, score_images
from causaliqa.scoring.store import check_store_path
from causaliqa.yamlio import validate_model

FLAGS = {"limit": "--limit", "images": "--images", "labels": "--labels", "severities": "--severities", "corruptions": "--corruptions"}


def score_command(experiment, images, labels, imagenet_c, corruptions, severities, limit, estimators, out,
                  batch_size, device, workers, part_size, rescore=False, strict_labels=False) -> ScoreSummary:
    if experiment is not None:
        from causaliqa.experiment.config import load_experiment
        from causaliqa.experiment.run import score_experiment

        return score_experiment(load_experiment(experiment), batch_size=batch_size, device=device, workers=workers, rescore=rescore)
    if images is None:
        raise CausaliqaError("causaliqa score", "--images", "an image folder (or an experiment file)", "nothing")
    if not estimators:
        raise CausaliqaError("causaliqa score", "--estimator", "at least one estimator", "none")
    corr = corruptions if corruptions in ("all", "none") else [c.strip() for c in corruptions.split(",") if c.strip()]
    spec = validate_model(DatasetSpec, {
        "kind": "imagenet_c" if imagenet_c else "imagenet_val", "images": str(images), "labels": str(labels) if labels else None,
        "limit": limit, "corruptions": corr, "severities": parse_severities(severities), "strict_labels": strict_labels,
    }, "causaliqa score", field_names=FLAGS)
    resolve_device(device)
    check_store_path(out)
    bindings = make_bindings(estimators)  # validate names before walking the images
    records, members = build_records(spec, "causaliqa score")
    return score_images(records, bindings, Path(out), batch_size=batch_size, device=device, workers=workers,
                        part_size=part_size, mixtures=members, rescore=rescore)
