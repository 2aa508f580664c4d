"""Load graphs from YAML files and dagitty strings; write dagitty strings."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal, Optional

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


def load_graph(path: str | Path) -> CausalGraph:
    """Read and validate a graph YAML file; every mistake is one ``CausaliqaError`` line naming file and field.

    >>> g = load_graph("graphs/baseline.yaml")
    >>> g.name, bool(g.is_separated("Q _||_ M | X")), bool(g.is_separated("Q _||_ M"))
    ('baseline', True, False)
    """
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
_TOKEN = re.compile(r'\s*(<->|->|<-|--|\[[^\]]*\]|\[|[A-Za-z_][A-Za-z0-9_.]*|"[^"]*"|\S)')
_DAGITTY_ROLE = {"latent": "latent", "selected": "selection"}
_DAGITTY_FLAGS = ("exposure", "outcome", "adjusted", "latent", "selected")  # dagitty.net's node attributes
_ID_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def from_dagitty(text: str, name: str = "dagitty", where: str = "dagitty") -> CausalGraph:
    """Parse a dagitty string (as dagitty.net exports it) into a graph.

    Reads ``dag { bb="..." A [latent,pos="0,1"] A -> X <- Z }``: node attributes exposure, outcome,
    adjusted (kept as observed), latent, selected (role ``selection``), pos, and causaliqa's own
    ``role`` and ``label``. Bidirected (``<->``) and undirected (``--``) edges are not DAG edges: an error.
    """
    if not isinstance(text, str):
        raise CausaliqaError(where, None, "a dagitty string 'dag { A -> X }'", type(text).__name__)
    match = re.match(r"^\s*dag\s*(?:[A-Za-z_]\w*)?\s*\{(.*)\}\s*$", text, re.S)
    if not match:
        raise CausaliqaError(where, None, "a dagitty string 'dag { A -> X }'", text[:40])
    body = re.sub(r'\b(bb)\s*=\s*"[^"]*"', " ", match.group(1)).replace(";", " ")
    tokens = [t for t in _TOKEN.findall(body) if t.strip()]
    nodes: dict[str, Node] = {}
    layout: dict[str, tuple[float, float]] = {}
    edges: list[tuple[str, str]] = []
    prev, arrow = None, None
    for tok in tokens:
        if tok in ("->", "<-"):
            if prev is None or arrow is not None:
                raise CausaliqaError(where, None, "a node on each side of an arrow", f"{arrow or ''} {tok}".strip())
            arrow = tok
        elif tok in ("<->", "--"):
            kind = "a bidirected" if tok == "<->" else "an undirected"
            raise CausaliqaError(where, None, f"directed edges (-> or <-) only: {kind} edge is not a DAG edge", tok)
        elif tok.startswith("["):
            if not tok.endswith("]") or len(tok) < 2:
                raise CausaliqaError(where, None, "[attributes] closed by ]", tok)
            if prev is None or arrow is not None:
                raise CausaliqaError(where, None, "a node before its [attributes]", tok)
            node, pos = _dagitty_attributes(prev, tok, where)
            nodes[prev] = node
            if pos:
                layout[prev] = pos
        elif _ID_RE.match(tok):
            nodes.setdefault(tok, Node(tok))
            if arrow:
                edges.append((prev, tok) if arrow == "->" else (tok, prev))
                arrow = None
            prev = tok
        else:
            raise CausaliqaError(where, None, "node ids (letters, digits, _), arrows and [attributes]", tok)
    if arrow:
        raise CausaliqaError(where, None, "a node after the last arrow", arrow)
    return CausalGraph.build(edges, name=name, nodes=nodes, layout=layout, source=where)


def _dagitty_attributes(node_id: str, token: str, where: str) -> tuple[Node, tuple[float, float] | None]:
    role, pos, label = "observed", None, ""
    for key, value in re.findall(r'\s*([A-Za-z_]+)\s*(?:=\s*("[^"]*"|[^,\]]*))?\s*,?', token[1:-1]):
        value = value.strip().strip('"') if value else ""
        if key == "pos":
            try:
                x, y = (float(v) for v in value.split(","))
            except ValueError:
                raise CausaliqaError(where, f"{node_id} pos", 'pos="x,y"', repr(value)) from None
            pos = (x, -y)  # dagitty's y axis points down
        elif key in _DAGITTY_ROLE:
            role = _DAGITTY_ROLE[key]
        elif key == "role":
            if value not in ROLES:
                raise CausaliqaError(where, f"{node_id} role", f"one of {', '.join(ROLES)}", repr(value))
            role = value
        elif key == "label":
            label = value
        elif key not in _DAGITTY_FLAGS:
            raise CausaliqaError(where, f"{node_id} attributes", f"dagitty node attributes ({', '.join(_DAGITTY_FLAGS)}, pos)", repr(key))
    return Node(node_id, role, label), pos


def to_dagitty(graph: CausalGraph) -> str:
    """The graph as a dagitty string: latent/selected, full-precision positions, and causaliqa's role and label.

    Roles dagitty has no word for (``predicted``, ``context``) and display labels travel as ``role="..."`` and
    ``label="..."`` attributes, so ``from_dagitty(to_dagitty(g))`` gives ``g`` back.
    """
    lines = ["dag {"]
    reverse = {v: k for k, v in _DAGITTY_ROLE.items()}
    for n, node in graph.nodes.items():
        attrs = [reverse[node.role]] if node.role in reverse else ([f'role="{node.role}"'] if node.role != "observed" else [])
        if node.label and '"' not in node.label:
            attrs.append(f'label="{node.label}"')
        if n in graph.layout:
            x, y = graph.layout[n]
            attrs.append(f'pos="{float(x)!r},{-float(y)!r}"')
        lines.append(f"{n} [{','.join(attrs)}]" if attrs else n)
    lines += [f"{a} -> {b}" for a, b in graph.edges]
    lines.append("}")
    return "\n".join(lines)
