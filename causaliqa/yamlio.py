"""Read YAML files into pydantic models, turning every failure into one ``CausaliqaError`` line."""

from __future__ import annotations

import re
from pathlib import Path
from collections.abc import Hashable
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from causaliqa.errors import CausaliqaError

M = TypeVar("M", bound=BaseModel)


class _UniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml's parser where installed
    """safe_load that refuses duplicate keys (YAML would silently keep the last one)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, (list, dict, set)) or not isinstance(key, Hashable):
                raise _BadKey(key_node.start_mark.line + 1, key)
            if key in seen:
                raise _DuplicateKey(key_node.start_mark.line + 1, key)
            seen.add(key)
        return super().construct_mapping(node, deep)


# YAML 1.2 booleans only: node ids such as No, on, yes, off stay strings (YAML 1.1 would read them as booleans)
_UniqueKeyLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()  # the Python resolver serves both loaders
}
_UniqueKeyLoader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


class _StringKeyLoader(_UniqueKeyLoader):
    """For graph files: no booleans or nulls at all, so node ids such as true, False, null stay strings."""


_StringKeyLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:null")]
    for first, resolvers in _UniqueKeyLoader.yaml_implicit_resolvers.items()
}


class _DuplicateKey(Exception):
    def __init__(self, line: int, key) -> None:
        self.line, self.key = line, key


class _BadKey(_DuplicateKey):
    """A list or mapping used as a mapping key (``? [a, b]``)."""


def read_text(path: str | Path) -> str:
    """A UTF-8 text file, or one ``CausaliqaError`` line (missing, a folder, unreadable, not text)."""
    path = Path(path)
    where = str(path)
    if not path.exists():
        raise CausaliqaError(where, None, "an existing file", "no such file")
    if path.is_dir():
        raise CausaliqaError(where, None, "a file", "a directory")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise CausaliqaError(where, None, "a readable UTF-8 text file", type(err).__name__) from None


def read_yaml_mapping(path: str | Path, booleans: bool = True) -> dict:
    """A YAML file whose top level is a mapping. ``booleans=False`` reads true/false/null as strings (graph files:
    node ids)."""
    path = Path(path)
    where = str(path)
    if path.is_dir():
        raise CausaliqaError(where, None, "a YAML file", "a directory")
    text = read_text(path)
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader if booleans else _StringKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f"line {mark.line + 1}" if mark else None
        raise CausaliqaError(where, at, "valid YAML", getattr(err, "problem", None) or str(err)) from None
    except _BadKey as bad:
        raise CausaliqaError(where, f"line {bad.line}", "a plain key (a name, not a list or mapping)", f"a {type(bad.key).__name__} used as a key") from None
    except _DuplicateKey as dup:
        raise CausaliqaError(where, f"line {dup.line}", "each key once", f"duplicate {dup.key!r}") from None
    if not isinstance(data, dict):
        raise CausaliqaError(where, None, "a YAML mapping at the top level", type(data).__name__ if data is not None else "an empty file")
    return data


def validate_model(model: type[M], data: dict, where: str, field_names: dict[str, str] | None = None) -> M:
    """Validate ``data``; the first error becomes one line. ``field_names`` renames fields (``limit`` -> ``--limit``)."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        field = (field_names or {}).get(field, field)
        kind = first["type"]
        if kind == "extra_forbidden":
            allowed = ", ".join(_field_names(model, first["loc"][:-1]))
            raise CausaliqaError(where, field, f"one of the known fields ({allowed})", "an unknown field") from None
        if kind == "missing":
            raise CausaliqaError(where, field, "this required field", "nothing") from None
        expected = first["msg"][0].lower() + first["msg"][1:]
        raise CausaliqaError(where, field, expected.removeprefix("value error, "), repr(first.get("input"))) from None


def _field_names(model: type[BaseModel], loc: tuple) -> list[str]:
    current: type[BaseModel] | None = model
    for part in loc:
        info = current.model_fields.get(str(part)) if current is not None else None
        if info is None:
            continue  # a list index or a dict key: stay on the same model
        current = _model_in(info.annotation)
    return list(current.model_fields) if current is not None else []


def _model_in(annotation) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    return None
