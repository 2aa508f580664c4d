"""What every estimator is: metadata as class attributes, lazy weights, a batched ``score``, an identity."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from causaliqa.errors import CausaliqaError
from causaliqa.estimators.spec import EstimatorSpec

# words in the errors of a library that tried to download weights on this offline machine
_DOWNLOAD_HINTS = ("urlopen", "connection", "resolve", "download", "offline", "hf_hub", "huggingface", "http", "url")


class Estimator:
    """Scores a batch of prepared images (uint8, N x 3 x 224 x 224) into named outputs.

    Class attributes declare what it produces: ``outputs``, ``higher_is_better`` per output, and
    ``kinds`` per output (``score`` for Q, ``binary`` for M, ``label`` for predicted classes).
    """

    outputs: ClassVar[tuple[str, ...]] = ("score",)
    higher_is_better: ClassVar[dict[str, bool | None]] = {"score": True}
    kinds: ClassVar[dict[str, str]] = {"score": "score"}
    weight_suffixes: ClassVar[tuple[str, ...]] = ()  # accepted weights-file suffixes; () = none accepted
    default_weights: ClassVar[str] = "library default"

    def __init__(self, name: str) -> None:
        self.name = name
        self.device = torch.device("cpu")
        self._loaded = False
        self.spec = EstimatorSpec.parse(name)
        self.seed = 0
        self.options: dict = {}
        self.preprocess: str | None = None  # a step applied to each batch first (estimators/preprocess.py)

    @property
    def key(self) -> str:
        """Column prefix (see ``EstimatorSpec.key``)."""
        return self.spec.key

    def to(self, device: str | torch.device) -> "Estimator":
        self.device = torch.device(device)
        if self._loaded:
            self._loaded = False  # reload on the new device at first use
        return self

    def ensure_loaded(self) -> None:
        if not self._loaded:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed)  # random-initialised models are the same network in every run
                self.load()
            self._loaded = True

    def load_checked(self, where: str) -> None:
        """Load the weights now, turning any failure into one line naming the spec and the file (``where`` names the
        estimator itself or a place that does; it is not repeated)."""
        try:
            self.ensure_loaded()
        except CausaliqaError:
            raise
        except Exception as err:  # a library's own error on a wrong file: reported, not a traceback
            message = f"{type(err).__name__}: {err}"
            if self.spec.weights_kind in ("default", "tag") and any(h in message.lower() for h in _DOWNLOAD_HINTS):
                raise CausaliqaError(where, None if where == str(self.spec.estimator) else str(self.spec.estimator),
                                     "weights available offline: pass a local file with "
                                     f"{self.spec.base}@/path/to/weights", f"a failed download ({message})") from None
            what = f"weights {self.spec.weights!r} that {self.spec.base} can load" if self.spec.weights else f"{self.spec.base} to load"
            raise CausaliqaError(where, None if where == str(self.spec.estimator) else str(self.spec.estimator), what, message) from None

    def load(self) -> None:  # pragma: no cover - overridden
        """Build the model and load weights onto ``self.device``."""

    def score(self, images: torch.Tensor, labels: np.ndarray) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def identity(self) -> dict:
        """What makes two runs' values of this estimator the same: weights content or tag, seed, options."""
        kind = self.spec.weights_kind
        if kind == "file":
            weights = {"sha256": file_sha256(str(Path(self.spec.weights).resolve()))}
        elif kind == "random":
            weights = {"random_seed": self.seed}
        elif kind == "tag":
            weights = {"tag": self.spec.weights}
        else:
            weights = {"tag": self.default_weights}
        options = json.dumps(self.options, sort_keys=True, default=str)
        return {"estimator": self.spec.base, "weights": weights, "options": options}

    def describe(self) -> dict:
        return {"name": self.name, "outputs": list(self.outputs), "higher_is_better": dict(self.higher_is_better), "kinds": dict(self.kinds)}


@lru_cache(maxsize=64)
def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_weights_file(spec: EstimatorSpec, suffixes: tuple[str, ...], where: str) -> None:
    """A weights file must exist and have a suffix the estimator reads; say which before anything loads."""
    path = Path(spec.weights)
    if path.is_dir() or not path.exists():
        raise CausaliqaError(where, str(spec.estimator), f"an existing weights file for {spec.base}", repr(spec.weights))
    if suffixes and path.suffix.lower() not in suffixes:
        raise CausaliqaError(where, str(spec.estimator), f"a weights file ending in {', '.join(suffixes)}", repr(spec.weights))


def to_float(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 NCHW on any device -> float32 in [0, 1] on ``device`` (non-blocking from pinned memory)."""
    x = images.to(device, non_blocking=True)
    return x.float().div_(255.0)
