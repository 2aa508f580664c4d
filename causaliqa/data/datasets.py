"""Image sets as records: ImageNet-val folders, ImageNet-C trees, generated corruption variants, mixtures.

A record is one image variant, keyed by (image_id, corruption, severity). Mild-corruption mixtures
(paper §6.3) are membership tables over those keys, so a variant shared by several mixtures is
scored once.
"""

from __future__ import annotations

import csv
import random
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator

from causaliqa.data.corrupt import CORRUPTIONS, SEVERITIES
from causaliqa.errors import CausaliqaError, CausaliqaWarning

IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png", ".bmp", ".webp")
UNLABELLED = -1  # an image scored without a labels file: stored with label -1 (quality scores and confidences need none)


@dataclass(frozen=True)
class ImageRecord:
    image_id: str
    path: str
    label: int  # 0-999, or UNLABELLED
    corruption: str = "clean"
    severity: int = 0
    generated: bool = True  # False: the file on disk is already the variant (ImageNet-C)

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.image_id, self.corruption, self.severity)


class MixtureSpec(BaseModel):
    """Paper §6.3: variants where a fraction p_c of the image ids is corrupted."""

    model_config = ConfigDict(extra="forbid")
    fractions: list[float] = Field(default_factory=lambda: [n / 100 for n in range(1, 21)])
    corruptions: Union[Literal["all"], list[str]] = "all"
    severities: list[int] = [1, 2, 3]
    seed: int = 0

    @field_validator("fractions")
    @classmethod
    def _fractions(cls, v: list[float]) -> list[float]:
        if not v or any(not 0 < f <= 1 for f in v):
            raise ValueError("fractions in (0, 1]")
        return v


class DatasetSpec(BaseModel):
    """Where the images are and which variants to score (reused by experiment files)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["imagenet_val", "imagenet_c"] = "imagenet_val"
    images: str
    labels: str | None = None
    limit: int | None = Field(default=None, ge=1)
    corruptions: Union[Literal["all", "none"], list[str]] = "none"
    severities: list[int] = list(SEVERITIES)
    include_clean: bool = True
    strict_labels: bool = False  # True: an image without a label is an error, not a warning
    mixtures: MixtureSpec | None = None

    @field_validator("severities")
    @classmethod
    def _severities(cls, v: list[int]) -> list[int]:
        if not v or any(s not in SEVERITIES for s in v):
            raise ValueError("severities from 1 to 5")
        return sorted(set(v))


def resolve_corruptions(value, where: str) -> list[str]:
    if value == "all":
        return list(CORRUPTIONS)
    if value in ("none", None):
        return []
    names = [value] if isinstance(value, str) else list(value)
    for name in names:
        if name not in CORRUPTIONS:
            from causaliqa.graph.model import did_you_mean

            raise CausaliqaError(where, "corruptions", f"ImageNet-C corruption names{did_you_mean(name, CORRUPTIONS)}", repr(name))
    return names


def parse_severities(text: str, where: str = "--severities") -> list[int]:
    """``1-5``, ``1,3,5`` or ``3``."""
    try:
        if "-" in text:
            lo, hi = (int(v) for v in text.split("-"))
            values = list(range(lo, hi + 1))
        else:
            values = [int(v) for v in text.split(",")]
    except ValueError:
        raise CausaliqaError(where, None, "severities like 1-5 or 1,3,5", repr(text)) from None
    if not values or any(v not in SEVERITIES for v in values):
        raise CausaliqaError(where, None, "severities from 1 to 5", repr(text))
    return values


# ---- labels -------------------------------------------------------------------------------------
def read_labels(path: Path) -> tuple[dict[str, int], dict[str, int]]:
    """Labels file -> (file stem -> label, wnid -> label).

    CSV with a header naming ``label`` and ``file`` and/or ``wnid`` (a UTF-8 BOM, as Excel writes, is
    fine), or text lines ``file label``. A file listed twice with two labels is an error.
    """
    if path.is_dir():
        raise CausaliqaError(str(path), None, "a labels file (CSV file,label[,wnid] or text 'file label')", "a directory")
    if not path.exists():
        raise CausaliqaError(str(path), None, "an existing labels file", "no such file")
    try:
        text = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise CausaliqaError(str(path), None, "a UTF-8 text labels file", type(err).__name__) from None
    by_file: dict[str, int] = {}
    by_wnid: dict[str, int] = {}
    first_line: dict[tuple[str, str], int] = {}

    def put(table: dict, kind: str, name: str, label: int, line: int) -> None:
        if name in table and table[name] != label:
            raise CausaliqaError(str(path), f"line {line}", f"one label per {kind}",
                                 f"{name!r} labelled {table[name]} at line {first_line[(kind, name)]} and {label} here")
        table.setdefault(name, label)
        first_line.setdefault((kind, name), line)

    header = [h.strip() for h in text[0].split(",")] if text else []
    if "label" in header:
        reader = csv.DictReader(text)
        reader.fieldnames = [f.strip() for f in reader.fieldnames or []]
        if "file" not in reader.fieldnames and "wnid" not in reader.fieldnames:
            raise CausaliqaError(str(path), "header", "columns file,label or wnid,label", ",".join(reader.fieldnames))
        for i, row in enumerate(reader, start=2):
            label = _int_label(row.get("label"), path, i)
            if row.get("file"):
                put(by_file, "file", Path(row["file"].strip()).stem, label, i)
            if row.get("wnid"):
                put(by_wnid, "wnid", row["wnid"].strip(), label, i)
        return by_file, by_wnid
    for i, line in enumerate(text, start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2:
            raise CausaliqaError(str(path), f"line {i}", "'file label' or a CSV with columns file,label", repr(line))
        put(by_file, "file", Path(parts[0]).stem, _int_label(parts[1], path, i), i)
    return by_file, by_wnid


def _int_label(value, path: Path, line: int) -> int:
    try:
        label = int(value)
    except (TypeError, ValueError):
        raise CausaliqaError(str(path), f"line {line}", "an integer class index 0-999", repr(value)) from None
    if not 0 <= label < 1000:
        raise CausaliqaError(str(path), f"line {line}", "an integer class index 0-999", label)
    return label


def _image_files(folder: Path) -> list[Path]:
    """Image files of a folder; two files with one id (``a.JPEG`` and ``a.png``) are an error."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    seen: dict[str, Path] = {}
    for p in files:
        if p.stem in seen:
            raise CausaliqaError(str(folder), None, "one image file per id (the id is the file name without suffix)",
                                 f"{seen[p.stem].name} and {p.name}")
        seen[p.stem] = p
    return files


def report_unlabelled(missing: list[str], total: int, labels: Path, strict: bool) -> None:
    """Images without a label are never dropped silently: a warning with the count, or an error."""
    if not missing:
        return
    message = f"{len(missing)} of {total} images have no label in {labels} (first: {missing[0]}); they are not scored"
    if strict:
        raise CausaliqaError(str(labels), None, "a label for every image (--allow-unlabelled to skip them)", message)
    warnings.warn(message, CausaliqaWarning, stacklevel=2)


# ---- readers ------------------------------------------------------------------------------------
def read_imagenet_val(images: Path, labels: Path | None, limit: int | None = None, strict_labels: bool = False) -> list[ImageRecord]:
    """A flat folder plus a labels file, or wnid sub-folders (labels from a wnid,label CSV or the 1000 sorted wnids).
    Without a labels file (and not the 1000 ImageNet class folders) every image is UNLABELLED."""
    if not images.is_dir():
        raise CausaliqaError(str(images), None, "a folder of images", "no such folder" if not images.exists() else "a file")
    by_file, by_wnid = read_labels(labels) if labels else ({}, {})
    files = _image_files(images)
    records = []
    if files and not labels:  # no labels: every image unlabelled (scores and confidences need none)
        records = [ImageRecord(p.stem, str(p), UNLABELLED) for p in files]
    elif files:
        records = [ImageRecord(p.stem, str(p), by_file[p.stem]) for p in files if p.stem in by_file]
        if not records:
            raise CausaliqaError(str(labels), None, f"labels for the images in {images}", "no matching file names")
        report_unlabelled([p.name for p in files if p.stem not in by_file], len(files), labels, strict_labels)
    else:
        wnids = sorted(d.name for d in images.iterdir() if d.is_dir())
        if not wnids:
            raise CausaliqaError(str(images), None, f"image files ({', '.join(IMAGE_SUFFIXES)}) or wnid sub-folders", "an empty folder")
        mapping = by_wnid or (_sorted_wnid_labels(wnids, images) if len(wnids) == 1000 or labels else dict.fromkeys(wnids, UNLABELLED))
        for wnid in wnids:
            if wnid not in mapping:
                raise CausaliqaError(str(labels or images), "wnid", "a label for every class folder", repr(wnid))
            records += [ImageRecord(p.stem, str(p), mapping[wnid]) for p in _image_files(images / wnid)]
        if not records:
            raise CausaliqaError(str(images), None, "image files in the wnid folders", "none")
    ids = [r.image_id for r in records]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise CausaliqaError(str(images), None, "image ids unique across class folders", f"{dup!r} in two folders")
    records.sort(key=lambda r: r.image_id)
    return records[:limit] if limit else records


def _sorted_wnid_labels(wnids: list[str], where: Path) -> dict[str, int]:
    if len(wnids) != 1000:
        raise CausaliqaError(str(where), "labels", "1000 wnid folders, or a CSV with columns wnid,label", f"{len(wnids)} folders")
    return {w: i for i, w in enumerate(wnids)}


def read_imagenet_c(root: Path, labels: Path | None, corruptions: list[str], severities: list[int], limit: int | None = None) -> list[ImageRecord]:
    """``ROOT/<corruption>/<severity>/<wnid>/<file>.JPEG`` (the published ImageNet-C layout)."""
    if not root.is_dir():
        raise CausaliqaError(str(root), None, "an ImageNet-C root folder", "no such folder")
    present = sorted(d.name for d in root.iterdir() if d.is_dir())
    wanted = corruptions or present
    _, by_wnid = read_labels(labels) if labels else ({}, {})
    records = []
    for corruption in wanted:
        for severity in severities:
            folder = root / corruption / str(severity)
            if not folder.is_dir():
                raise CausaliqaError(str(folder), None, "<corruption>/<severity>/<wnid>/ folders", "missing")
            wnids = sorted(d.name for d in folder.iterdir() if d.is_dir())
            mapping = by_wnid or _sorted_wnid_labels(wnids, folder)
            for wnid in wnids:
                if wnid not in mapping:
                    raise CausaliqaError(str(labels or folder), "wnid", "a label for every class folder", repr(wnid))
                records += [
                    ImageRecord(p.stem, str(p), mapping[wnid], corruption, severity, generated=False)
                    for p in _image_files(folder / wnid)
                ]
    if limit:
        keep = sorted({r.image_id for r in records})[:limit]
        records = [r for r in records if r.image_id in set(keep)]
    return records


def corruption_variants(clean: list[ImageRecord], corruptions: list[str], severities: list[int], include_clean: bool = True) -> list[ImageRecord]:
    out = list(clean) if include_clean else []
    for c in corruptions:
        for s in severities:
            out += [ImageRecord(r.image_id, r.path, r.label, c, s) for r in clean]
    return out


def mixture_members(clean: list[ImageRecord], spec: MixtureSpec, where: str = "mixtures") -> tuple[list[ImageRecord], list[dict]]:
    """Records to score and the membership rows ``variant, p_c, image_id, corruption, severity``.

    For each p_c, round(p_c * N) ids (seeded) are corrupted with a corruption and severity drawn
    uniformly; the other ids stay clean.
    """
    corruptions = resolve_corruptions(spec.corruptions, where)
    rng = random.Random(spec.seed)
    ids = [r.image_id for r in clean]
    by_id = {r.image_id: r for r in clean}
    records: dict[tuple, ImageRecord] = {r.key: r for r in clean}
    members = []
    for p_c in spec.fractions:
        chosen = set(rng.sample(ids, round(p_c * len(ids))))
        variant = f"pc={p_c:.2f}"
        for image_id in ids:
            if image_id in chosen:
                rec = by_id[image_id]
                rec = ImageRecord(image_id, rec.path, rec.label, rng.choice(corruptions), rng.choice(spec.severities))
                records.setdefault(rec.key, rec)
                key = rec.key
            else:
                key = (image_id, "clean", 0)
            members.append({"variant": variant, "p_c": p_c, "image_id": key[0], "corruption": key[1], "severity": key[2]})
    return list(records.values()), members


@dataclass(frozen=True)
class Dataset:
    """What a dataset spec resolves to, built once: every record to score, the mixtures' membership rows, and the
    keys of the designed variants (clean + corruptions x severities, without the mixture-only variants)."""

    records: tuple[ImageRecord, ...]
    members: tuple[dict, ...]
    designed: frozenset[tuple[str, str, int]]


def build_dataset(spec: DatasetSpec, where: str = "dataset") -> Dataset:
    """Read the image folders once: every record (deduplicated by key), mixture membership, designed keys."""
    images = Path(spec.images)
    labels = Path(spec.labels) if spec.labels else None
    corruptions = resolve_corruptions(spec.corruptions, where)
    if spec.kind == "imagenet_c":
        records = read_imagenet_c(images, labels, corruptions, spec.severities, spec.limit)
        return Dataset(tuple(records), (), frozenset(r.key for r in records))
    clean = read_imagenet_val(images, labels, spec.limit, spec.strict_labels)
    designed = {r.key: r for r in corruption_variants(clean, corruptions, spec.severities, spec.include_clean)}
    records = dict(designed)
    members: list[dict] = []
    if spec.mixtures:
        extra, members = mixture_members(clean, spec.mixtures, f"{where}.mixtures")
        for r in extra:
            records.setdefault(r.key, r)
    return Dataset(tuple(records.values()), tuple(members), frozenset(designed))


def build_records(spec: DatasetSpec, where: str = "dataset") -> tuple[list[ImageRecord], list[dict]]:
    """All records a dataset spec asks for (deduplicated by key) and mixture membership rows."""
    dataset = build_dataset(spec, where)
    return list(dataset.records), list(dataset.members)
