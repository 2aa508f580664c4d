"""Load graphs from YAML files (and dagitty files, through :mod:`causaliqa.graph.dagitty`)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

from causaliqa.errors import CausaliqaError
from causaliqa.graph.model import ROLES, CausalGraph, Claim, Node
from causaliqa.graph.query import parse_query
from causaliqa.yamlio import read_text, read_yaml_mapping, validate_model


class NodeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: str = "observed"
    label: str = ""
    math: str = ""
    description: str = ""

    @field_validator("role")
    @classmethod
    def _known_role(cls, value: str) -> str:
        if value not in ROLES:
            raise ValueError(f"one of {', '.join(ROLES)}")
        return value


class ClaimSpec(BaseModel):
    """A claim: ``Q _||_ M | X`` claims separation, ``Q !_||_ M | X`` dependence (connection).

    ``expect`` may restate what the query says (or turn a plain query into a dependence claim with
    ``connected``); an ``expect`` that contradicts a ``!_||_`` query is an error.
    """

    model_config = ConfigDict(extra="forbid")
    query: str
    expect: Optional[Literal["separated", "connected"]] = None
    source: str = ""


class GraphSpec(BaseModel):
    """Schema of a ``graphs/*.yaml`` file."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9_\-]+$")
    title: str = ""
    description: str = ""
    nodes: dict[str, NodeSpec]
    edges: list[str]
    layout: dict[str, tuple[float, float]] = {}
    claims: list[ClaimSpec] = []


def graph_from_spec(spec: GraphSpec, source: str) -> CausalGraph:
    nodes = {n: Node(n, s.role, s.label, s.math, s.description) for n, s in spec.nodes.items()}
    claims = []
    for i, claim in enumerate(spec.claims):
        query = parse_query(claim.query, f"{source}: claims[{i}].query")
        if not query.expect_separated and claim.expect == "separated":
            raise CausaliqaError(source, f"claims[{i}].expect", f"'connected' or nothing for the dependence claim {str(query)!r}", "'separated'")
        if claim.expect == "connected":
            query = type(query)(query.left, query.right, query.given, False)
        claims.append(Claim(query, claim.source))
    return CausalGraph.build(
        spec.edges,
        name=spec.name,
        nodes=nodes,
        description=spec.description,
        title=spec.title,
        layout=spec.layout,
        claims=claims,
        source=source,
    )


DAGITTY_SUFFIXES = (".dagitty", ".dag", ".txt")
GRAPH_SUFFIXES = (".yaml", ".yml", *DAGITTY_SUFFIXES)


def load_graph(path: str | Path) -> CausalGraph:
    """Read and validate a graph file: YAML (``graphs/*.yaml``), or a dagitty file (``.dagitty``, ``.dag``,
    ``.txt``, or any file whose text starts with ``dag``/``digraph``). Every mistake is one ``CausaliqaError`` line
    naming file and field.

    >>> g = load_graph("graphs/baseline.yaml")
    >>> g.name, bool(g.is_separated("Q _||_ M | X")), bool(g.is_separated("Q _||_ M"))
    ('baseline', True, False)
    """
    path = Path(path)
    if path.suffix.lower() not in (".yaml", ".yml") and path.is_file():
        text = read_text(path)
        if path.suffix.lower() in DAGITTY_SUFFIXES or re.match(r"\s*(strict\s+)?(dag|digraph)\b", text, re.I):
            from causaliqa.graph.dagitty import from_dagitty, safe_id

            return from_dagitty(text, name=safe_id(path.stem), where=str(path))
    data = read_yaml_mapping(path, booleans=False)
    spec = validate_model(GraphSpec, data, str(path))
    return graph_from_spec(spec, str(path))


def graph_files(paths: list[str | Path]) -> list[Path]:
    """Expand folders to their graph files (``*.yaml``, ``*.yml``, ``*.dagitty``; sorted); keep files as given."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            inside = sorted([*p.glob("*.yaml"), *p.glob("*.yml"), *p.glob("*.dagitty")])
            if not inside:
                raise CausaliqaError(str(p), None, "a folder with graph files (*.yaml, *.dagitty)", "none")
            found.extend(inside)
        else:
            found.append(p)
    return found
