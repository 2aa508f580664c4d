"""Load graphs from YAML files and dagitty strings; write dagitty strings."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from causaliqa.errors import CausaliqaError
from causaliqa.graph.model import ROLES, CausalGraph, Claim, Node
from causaliqa.graph.query import parse_query
from causaliqa.yamlio import read_yaml_mapping, validate_model


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
    model_config = ConfigDict(extra="forbid")
    query: str
    expect: Literal["separated", "connected"] = "separated"
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
        if claim.expect == "connected":
            query = type(query)(query.left, query.right, query.given, not query.expect_separated)
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


def load_graph(path: str | Path) -> CausalGraph:
    """Read and validate a graph YAML file."""
    path = Path(path)
    data = read_yaml_mapping(path)
    spec = validate_model(GraphSpec, data, str(path))
    return graph_from_spec(spec, str(path))


def graph_files(paths: list[str | Path]) -> list[Path]:
    """Expand folders to their ``*.yaml``/``*.yml`` files (sorted); keep files as given."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            inside = sorted([*p.glob("*.yaml"), *p.glob("*.yml")])
            if not inside:
                raise CausaliqaError(str(p), None, "a folder with *.yaml graph files", "none")
            found.extend(inside)
        else:
            found.append(p)
    return found


# ---- dagitty -----------------------------------------------------------------------------------
_TOKEN = re.compile(r'\s*(->|<-|<->|--|\[[^\]]*\]|[A-Za-z_][A-Za-z0-9_.]*|"[^"]*"|\S)')
_DAGITTY_ROLE = {"latent": "latent", "selected": "selection"}


def from_dagitty(text: str, name: str = "dagitty", where: str = "dagitty") -> CausalGraph:
    """Parse ``dag { A -> X -> Y  Z [latent,pos="0,1"] }`` into a graph."""
    match = re.match(r"^\s*dag\s*(?:[A-Za-z_]\w*)?\s*\{(.*)\}\s*$", text, re.S)
    if not match:
        raise CausaliqaError(where, None, "a dagitty string 'dag { A -> X }'", text[:40])
    tokens = [t for t in _TOKEN.findall(match.group(1).replace(";", " ")) if t.strip()]
    nodes: dict[str, Node] = {}
    layout: dict[str, tuple[float, float]] = {}
    edges: list[tuple[str, str]] = []
    prev, arrow = None, None
    for tok in tokens:
        if tok in ("->", "<-"):
            if prev is None:
                raise CausaliqaError(where, None, "a node before an arrow", tok)
            arrow = tok
        elif tok in ("<->", "--"):
            raise CausaliqaError(where, None, "directed edges (-> or <-) only", tok)
        elif tok.startswith("["):
            if prev is None:
                raise CausaliqaError(where, None, "a node before its [attributes]", tok)
            role, pos = _dagitty_attributes(tok, where)
            nodes[prev] = Node(prev, role)
            if pos:
                layout[prev] = pos
        elif re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", tok):
            nodes.setdefault(tok, Node(tok))
            if arrow:
                edges.append((prev, tok) if arrow == "->" else (tok, prev))
                arrow = None
            prev = tok
        else:
            raise CausaliqaError(where, None, "node ids, arrows and [attributes]", tok)
    if arrow:
        raise CausaliqaError(where, None, "a node after the last arrow", arrow)
    return CausalGraph.build(edges, name=name, nodes=nodes, layout=layout, source=where)


def _dagitty_attributes(token: str, where: str) -> tuple[str, tuple[float, float] | None]:
    role, pos = "observed", None
    for attr in re.findall(r'[A-Za-z]+(?:="[^"]*")?', token[1:-1]):
        key, _, value = attr.partition("=")
        if key == "pos":
            try:
                x, y = (float(v) for v in value.strip('"').split(","))
            except ValueError:
                raise CausaliqaError(where, "pos", 'pos="x,y"', value) from None
            pos = (x, -y)  # dagitty's y axis points down
        elif key in _DAGITTY_ROLE:
            role = _DAGITTY_ROLE[key]
    return role, pos


def to_dagitty(graph: CausalGraph) -> str:
    """The graph as a dagitty string; latent and selection roles and the layout are kept."""
    lines = ["dag {"]
    reverse = {v: k for k, v in _DAGITTY_ROLE.items()}
    for n, node in graph.nodes.items():
        attrs = [reverse[node.role]] if node.role in reverse else []
        if n in graph.layout:
            x, y = graph.layout[n]
            attrs.append(f'pos="{x:g},{-y:g}"')
        lines.append(f"{n} [{','.join(attrs)}]" if attrs else n)
    lines += [f"{a} -> {b}" for a, b in graph.edges]
    lines.append("}")
    return "\n".join(lines)
