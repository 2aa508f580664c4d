"""One serializer for every result type: strict JSON-ready values from dataclasses, without renaming anything.

A dataclass becomes a dict of its fields (private ones, starting with ``_``, and those in ``json_exclude`` left out)
plus the derived values it names in ``json_properties`` (properties or no-argument methods). Frozensets and sets
become sorted lists, tuples lists, numpy scalars Python numbers, NaN and infinities ``None`` (strict JSON), paths
strings, DataFrames lists of records, pydantic models their ``model_dump``.

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Interval(Serializable):
...     low: float
...     high: float
...     json_properties = ("width",)
...     @property
...     def width(self) -> float:
...         return self.high - self.low
>>> Interval(0.25, float("nan")).to_dict()
{'low': 0.25, 'high': None, 'width': None}
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from pathlib import PurePath
from typing import ClassVar


def to_jsonable(value):
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        exclude = set(getattr(value, "json_exclude", ()))
        out = {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)
               if not f.name.startswith("_") and f.name not in exclude}
        for name in getattr(value, "json_properties", ()):
            attr = getattr(value, name)
            out[name] = to_jsonable(attr() if callable(attr) else attr)
        return out
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (frozenset, set)):
        return sorted(to_jsonable(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, PurePath):
        return str(value)
    if hasattr(value, "model_dump"):  # pydantic
        return to_jsonable(value.model_dump())
    if hasattr(value, "to_dict") and hasattr(value, "columns"):  # pandas DataFrame
        return to_jsonable(value.to_dict(orient="records"))
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class Serializable:
    """Mixin: ``to_dict()`` is :func:`to_jsonable` of the instance."""

    json_properties: ClassVar[tuple[str, ...]] = ()
    json_exclude: ClassVar[tuple[str, ...]] = ()

    def to_dict(self) -> dict:
        return to_jsonable(self)


class Tabular(Serializable):
    """Mixin for results that are tables: ``to_frame()`` (a pandas DataFrame, one row per pair, group or test) and
    Jupyter's ``_repr_html_`` showing it."""

    def to_frame(self):  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def _repr_html_(self) -> str:
        return self.to_frame().to_html(index=False, float_format=lambda x: f"{x:.3f}", na_rep="n/a")
