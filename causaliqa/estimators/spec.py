"""One estimator-spec type: ``[family:]name[#variant][@weights][:output]``, parsed in one place.

Examples::

    tv                                  name tv, output score
    iqa:brisque@w/brisque.pth           family iqa, name brisque, a weights file, output score
    iqa:entropy                         pyiqa's entropy metric (not the classifier output)
    efficientnet_lite0:correct          a registered classifier and one of its outputs
    resnet34@random:max_prob            random-initialised (seeded) torchvision classifier
    clip:ViT-B-32@openai:max_logit      open_clip model with a pretrained tag
    iqa:brisque#gray@w/b.pth            a named variant of BRISQUE: its own column (iqa:brisque#gray.score), computed
                                        with the options ``estimator_options`` gives that spec (e.g. preprocess)

The column a spec writes is ``<key>.<output>``; ``key`` is the name plus a short weights tag (a file's
stem, or the tag). What makes two columns comparable is not the key but the estimator's *identity*
(``causaliqa.estimators.base.Estimator.identity``): the weights' content hash or tag and the seed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from causaliqa.errors import CausaliqaError

FAMILIES = ("iqa", "clip")
# every output any estimator produces; each estimator class declares its own subset
OUTPUTS = ("score", "correct", "max_prob", "entropy", "max_logit", "pred")


@dataclass(frozen=True)
class EstimatorSpec:
    """A parsed estimator reference; ``str(spec)`` gives the canonical text back."""

    name: str
    family: str | None = None
    weights: str | None = None
    output: str | None = None  # None: the estimator's first output
    variant: str | None = None  # ``#variant``: the same estimator computed another way (its own column and options)

    @classmethod
    def parse(cls, text: str, where: str = "estimator") -> "EstimatorSpec":
        """Parse ``[family:]name[@weights][:output]``; ``str()`` gives it back.

        >>> spec = EstimatorSpec.parse("resnet34@/models/a/model.pth:max_prob")
        >>> spec.base, spec.weights_kind, spec.column()
        ('resnet34', 'file', 'resnet34@model.max_prob')
        >>> str(EstimatorSpec.parse("iqa:brisque@w/b.pth")), EstimatorSpec.parse("iqa:brisque@w/b.pth").key
        ('iqa:brisque@w/b.pth', 'iqa:brisque')
        >>> gray = EstimatorSpec.parse("iqa:brisque#gray@w/b.pth")
        >>> str(gray), gray.base, gray.column()
        ('iqa:brisque#gray@w/b.pth', 'iqa:brisque', 'iqa:brisque#gray.score')
        """
        if not isinstance(text, str) or not text.strip():
            raise CausaliqaError(where, None, "an estimator such as tv, iqa:brisque or efficientnet_lite0:correct", repr(text))
        text = text.strip()
        head, at, tail = text.partition("@")
        weights, output = None, None
        if at:
            weights, sep, maybe_output = tail.rpartition(":")
            if not sep or "/" in maybe_output or "\\" in maybe_output or "." in maybe_output:
                weights, output = tail, None
            else:
                output = maybe_output
            if not weights:
                raise CausaliqaError(where, None, "weights after '@' (a file, a tag or 'random')", repr(text))
        family, name = None, head
        first, colon, rest = head.partition(":")
        if colon and first in FAMILIES:
            family, name = first, rest
            if not at:
                name, sep, maybe_output = rest.rpartition(":")
                name, output = (name, maybe_output) if sep else (rest, None)
        elif colon:
            if at:
                raise CausaliqaError(where, None, "NAME@WEIGHTS:OUTPUT (the output after the weights)", repr(text))
            name, output = first, rest
        name, hash_, variant = name.partition("#")
        if hash_ and not re.fullmatch(r"[A-Za-z0-9_-]+", variant):
            raise CausaliqaError(where, None, "a variant name of letters, digits, '_' or '-' after '#'", repr(text))
        if not name or ":" in name or (output is not None and not output):
            raise CausaliqaError(where, None, "[family:]name[#variant][@weights][:output]", repr(text))
        return cls(name=name, family=family, weights=weights, output=output, variant=variant or None)

    # ---- views -------------------------------------------------------------------------------
    @property
    def base(self) -> str:
        """``iqa:brisque``, ``resnet34``: the estimator without weights or output."""
        return f"{self.family}:{self.name}" if self.family else self.name

    @property
    def estimator(self) -> "EstimatorSpec":
        """The same spec without an output: what is built and run once per batch."""
        return replace(self, output=None)

    @property
    def weights_kind(self) -> str:
        """``default`` (the library's own), ``random``, ``file`` or ``tag``."""
        if self.weights is None:
            return "default"
        if self.weights == "random":
            return "random"
        return "file" if is_weights_path(self.weights) else "tag"

    @property
    def key(self) -> str:
        """Column prefix. pyiqa parameter files stand in for pyiqa's own download: no tag."""
        kind = self.weights_kind
        named = self.base + (f"#{self.variant}" if self.variant else "")
        if kind == "default" or (kind == "file" and self.family == "iqa"):
            return named
        tag = Path(self.weights).stem if kind == "file" else self.weights
        return f"{named}@{tag}"

    def column(self, output: str | None = None) -> str:
        out = output or self.output or "score"
        return f"{self.key}.{out}"

    def with_output(self, output: str) -> "EstimatorSpec":
        return replace(self, output=output)

    def with_weights(self, weights: str | None) -> "EstimatorSpec":
        return replace(self, weights=weights)

    def __str__(self) -> str:
        text = self.base + (f"#{self.variant}" if self.variant else "") + (f"@{self.weights}" if self.weights else "")
        return text + (f":{self.output}" if self.output else "")


def is_weights_path(weights: str) -> bool:
    """A weights string names a file when it has a folder or a suffix (tags such as IMAGENET1K_V1 have neither)."""
    return "/" in weights or "\\" in weights or Path(weights).suffix != "" or Path(weights).exists()


def split_column(column: str) -> tuple[str, str]:
    """``iqa:brisque.score`` -> (``iqa:brisque``, ``score``): the inverse of ``EstimatorSpec.column``."""
    key, sep, output = column.rpartition(".")
    if sep and output in OUTPUTS:
        return key, output
    return column, ""
