"""The causal DAG: nodes with roles and labels, edges, layout and the paper's claims."""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from itertools import islice
from types import MappingProxyType
from typing import Iterable, Mapping

import networkx as nx

from causaliqa.errors import CausaliqaError
from causaliqa.graph.dsep import DSeparationJudgement, judge
from causaliqa.graph.query import Query, parse_query
from causaliqa.serialize import Serializable

ROLES: dict[str, str] = {
    "observed": "measured in the data (images, labels, corruption settings)",
    "predicted": "computed from the data by a model or metric (Ŷ, Q, M)",
    "latent": "not measured (imaging factors, shared features, annotators)",
    "selection": "a selection variable the data are conditioned on (dagitty's 'selected'): in every conditioning set",
    "context": "a setting the data come from, a cause that is not conditioned on (the paper's task T)",
}
_EDGE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(->|<-)\s*([A-Za-z_][A-Za-z0-9_]*)\s*$")


@dataclass(frozen=True)
class Node:
    """A node: ``role`` (see :data:`ROLES`), display ``label`` and TeX ``math``; ``flags`` holds dagitty's markers
    that are not a role (exposure, outcome, adjusted; latent on a selection node); ``alias`` the node's id in the
    dagitty source when causaliqa had to rename it (bookkeeping: not part of equality)."""

    id: str
    role: str = "observed"
    label: str = ""
    math: str = ""
    description: str = ""
    flags: frozenset = frozenset()
    alias: str = field(default="", compare=False)

    @property
    def display(self) -> str:
        return self.label or self.id

    @property
    def tex(self) -> str:
        return self.math or self.id


@dataclass(frozen=True)
class Claim(Serializable):
    query: Query
    source: str = ""


@dataclass(frozen=True)
class Independence(Serializable):
    """An implied conditional independence ``left _||_ right | given``."""

    json_properties = ('text',)
    @property
    def text(self) -> str:
        return str(self)

    left: str
    right: str
    given: tuple[str, ...]
    others: tuple[str, ...] = ()  # more nodes on the right side (a basis statement: v _||_ a, b | parents)

    @property
    def right_side(self) -> tuple[str, ...]:
        return (self.right, *self.others)

    def __str__(self) -> str:
        return f"{self.left} _||_ {', '.join(self.right_side)}" + (f" | {', '.join(self.given)}" if self.given else "")



def did_you_mean(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def parse_edge(text: str, where: str, field_name: str) -> tuple[str, str]:
    match = _EDGE.match(text) if isinstance(text, str) else None
    if not match:
        raise CausaliqaError(where, field_name, "an edge like 'A -> X'", repr(text))
    a, arrow, b = match.groups()
    return (a, b) if arrow == "->" else (b, a)


@dataclass(frozen=True, eq=False)
class CausalGraph(Serializable):
    """A validated causal DAG. Build with :meth:`build` or :func:`causaliqa.load_graph`."""

    name: str
    nodes: Mapping[str, Node]
    edges: tuple[tuple[str, str], ...]
    description: str = ""
    title: str = ""
    layout: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    claims: tuple[Claim, ...] = ()
    source: str = "<graph>"
    notes: tuple[str, ...] = ()  # what reading the source changed or made explicit (dagitty's <->, renamed ids)
    _nx: nx.DiGraph = field(default=None, repr=False, compare=False)  # type: ignore[assignment]

    @classmethod
    def build(
        cls,
        edges: Iterable[str | tuple[str, str]],
        *,
        name: str = "graph",
        nodes: dict[str, Node] | None = None,
        roles: dict[str, str] | None = None,
        description: str = "",
        title: str = "",
        layout: dict[str, tuple[float, float]] | None = None,
        claims: Iterable[Claim] = (),
        source: str = "<graph>",
        notes: tuple[str, ...] = (),
    ) -> "CausalGraph":
        """Validate then build: edges as ``"A -> X"`` strings or pairs; nodes implied by edges."""
        pairs = [parse_edge(e, source, f"edges[{i}]") if isinstance(e, str) else tuple(e) for i, e in enumerate(edges)]
        declared = nodes is not None
        nodes = dict(nodes or {})
        for i, (a, b) in enumerate(pairs):
            for n in (a, b):
                if n not in nodes:
                    if declared:
                        raise CausaliqaError(source, f"edges[{i}]", f"a declared node{did_you_mean(n, nodes)}", repr(n))
                    nodes[n] = Node(n)
        for n, role in (roles or {}).items():
            if n not in nodes:
                raise CausaliqaError(source, "roles", f"a node of the graph{did_you_mean(n, nodes)}", repr(n))
            nodes[n] = Node(n, role, nodes[n].label, nodes[n].math, nodes[n].description, nodes[n].flags, nodes[n].alias)
        for n, node in nodes.items():
            if node.role not in ROLES:
                raise CausaliqaError(source, f"nodes.{n}.role", f"one of {', '.join(ROLES)}", repr(node.role))
        if len(set(pairs)) != len(pairs):
            dup = next(p for p in pairs if pairs.count(p) > 1)
            raise CausaliqaError(source, "edges", "each edge once", f"'{dup[0]} -> {dup[1]}' twice")
        digraph = nx.DiGraph()
        for n, node in nodes.items():
            digraph.add_node(n, role=node.role, label=node.display)
        digraph.add_edges_from(pairs)
        _reject_cycles(digraph, source)
        layout = {n: (float(xy[0]), float(xy[1])) for n, xy in (layout or {}).items()}
        for n, xy in layout.items():
            if n not in nodes:
                raise CausaliqaError(source, "layout", f"a node of the graph{did_you_mean(n, nodes)}", repr(n))
            if not all(math.isfinite(v) for v in xy):
                raise CausaliqaError(source, f"layout.{n}", "two finite numbers [x, y]", list(xy))
        checked = tuple(Claim(_known_nodes(c.query, nodes, name, f"{source}: claims[{i}]"), c.source) for i, c in enumerate(claims))
        # read-only views: a built graph cannot be changed behind its networkx twin's back
        return cls(name, MappingProxyType(nodes), tuple(pairs), description, title, MappingProxyType(layout), checked, source,
                   tuple(notes), digraph)

    def __repr__(self) -> str:
        roles = {r: sum(node.role == r for node in self.nodes.values()) for r in ROLES}
        kinds = ", ".join(f"{k} {r}" for r, k in roles.items() if k and r != "observed")
        return f"<CausalGraph {self.name!r}: {len(self.nodes)} nodes{f' ({kinds})' if kinds else ''}, {len(self.edges)} edges>"

    def _repr_svg_(self) -> str:
        """Jupyter shows the graph as a figure."""
        from causaliqa.graph.svg import graph_svg

        return graph_svg(self)

    def show(self, query: str) -> "_Highlighted":
        """For notebooks: the graph with the query's open paths in red, and the verdict with every path.

        >>> g = CausalGraph.build(["X -> Q", "X -> M"])
        >>> "NOT separated" in g.show("Q _||_ M")._repr_html_()
        True
        """
        return _Highlighted(self, self.is_separated(query))

    def same_graph(self, other: "CausalGraph") -> bool:
        """Same nodes (ids, roles, labels, TeX, flags), same edges and same layout; name and claims aside."""
        return (dict(self.nodes) == dict(other.nodes) and set(self.edges) == set(other.edges)
                and dict(self.layout) == dict(other.layout))

    # ---- structure -------------------------------------------------------------------------
    def to_networkx(self) -> nx.DiGraph:
        """A copy as a networkx DiGraph with ``role`` and ``label`` node attributes."""
        return self._nx.copy()

    def to_pgmpy(self):
        """The graph as a ``pgmpy.base.DAG`` with latent nodes marked latent."""
        from pgmpy.base import DAG

        dag = DAG()
        dag.add_nodes_from(self.nodes)  # isolated nodes too
        dag.add_edges_from(self.edges)
        dag.latents = {n for n, node in self.nodes.items() if node.role == "latent"}
        return dag

    def parents(self, node: str) -> set[str]:
        return set(self._nx.predecessors(node))


    def topological_order(self) -> list[str]:
        return list(nx.lexicographical_topological_sort(self._nx))

    def nodes_with_role(self, *roles: str) -> list[str]:
        return [n for n, node in self.nodes.items() if node.role in roles]

    # ---- queries -----------------------------------------------------------------------------
    def check_query(self, query: Query | str, where: str | None = None) -> Query:
        """Parse (if text) and check that every node of the query is a node of this graph."""
        return _known_nodes(query, self.nodes, self.name, where or f"{self.source}: query")

    def is_separated(self, left, right=None, given=(), *, explain: bool = True, max_paths: int = 5) -> DSeparationJudgement:
        """d-separation of ``left`` and ``right`` given ``given``; truthy when separated.

        ``left`` may also be a whole query string such as ``"Q _||_ M | X"``. With ``explain``, up to
        ``max_paths`` paths are listed (open ones first; one at least when not separated) and the rest counted.

        >>> g = CausalGraph.build(["X -> Q", "X -> M"])
        >>> bool(g.is_separated("Q _||_ M | X")), [p.text() for p in g.is_separated("Q _||_ M").open_paths]
        (True, ['Q <- X -> M'])
        """
        if right is None:
            query = self.check_query(left)
        else:
            query = self.check_query(Query(_as_set(left), _as_set(right), _as_set(given)))
            overlap = (query.left & query.right) | ((query.left | query.right) & query.given)
            if overlap:
                raise CausaliqaError(f"{self.source}: query", None, "disjoint sides and conditioning set", sorted(overlap))
        selected = self.selection_nodes
        if selected & (query.left | query.right):
            raise CausaliqaError(f"{self.source}: query", None, "sides without selection nodes (they are always conditioned on)",
                                 sorted(selected & (query.left | query.right)))
        given = query.given | selected
        return judge(self._nx, query.left, query.right, given, explain=explain, max_paths=max_paths)

    @property
    def selection_nodes(self) -> frozenset[str]:
        """Nodes with role ``selection``: conditioned on in every query, as dagitty does with ``selected``."""
        return frozenset(n for n, node in self.nodes.items() if node.role == "selection")

    def implied_independencies(self, kind: str = "missing-edge", all_separators: bool = False,
                               restrict_to: Iterable[str] | None = None, limit: int | None = None) -> list[Independence]:
        """Testable implications of the graph, as dagitty lists them (``impliedConditionalIndependencies``).

        ``kind="missing-edge"`` (dagitty's default): for every pair of non-adjacent nodes, a minimal set that
        separates them (networkx ``find_minimal_d_separator``); with ``all_separators`` every minimal separator
        (dagitty's ``listMinimalImplications``). Latent nodes are in no statement, as in dagitty (a statement that
        needs one cannot be tested), and pairs that only a latent node separates are left out. ``restrict_to``
        narrows both pairs and separators further (``--observed-only``). Selection nodes are in every separator
        and in no pair (dagitty lists pairs with a selected node and leaves it out of separators; both say the
        same of the data, which are conditioned on it).

        ``kind="basis"`` (dagitty's ``basis.set``): for each node v, v _||_ its non-descendants other than its
        parents | its parents (the local Markov property; together these imply every other statement).
        Statements naming a latent node are left out; graphs with selection nodes have no such basis (refused).

        Cost: one linear-time search per non-adjacent pair, O(pairs x (nodes + edges)); each further minimal
        separator costs about as much again. ``limit`` stops after that many statements.

        >>> g = CausalGraph.build(["x -> y", "z -> y", "z -> w"])
        >>> [str(i) for i in g.implied_independencies()]
        ['z _||_ x', 'w _||_ x', 'y _||_ w | z']
        >>> [str(i) for i in g.implied_independencies("basis")]
        ['x _||_ z, w', 'z _||_ x', 'w _||_ x, y | z', 'y _||_ w | x, z']
        """
        if kind not in IMPLIED_KINDS:
            raise CausaliqaError(f"{self.source}: implied", "--type", f"one of {', '.join(IMPLIED_KINDS)}", repr(kind))
        found = self._iter_basis(restrict_to) if kind == "basis" else self._iter_implied(all_separators, restrict_to)
        return list(islice(found, limit))

    def _iter_implied(self, all_separators: bool, restrict_to: Iterable[str] | None):
        from causaliqa.graph.separators import minimal_d_separators

        order = {n: i for i, n in enumerate(self.topological_order())}
        selected = set(self.selection_nodes)
        visible = {n for n, node in self.nodes.items() if node.role != "latent"}
        allowed = (set(restrict_to) & visible if restrict_to is not None else visible) - selected
        ranked = sorted(allowed, key=order.get)
        for i, a in enumerate(ranked):
            for b in ranked[i + 1:]:
                if self._nx.has_edge(a, b) or self._nx.has_edge(b, a):
                    continue
                if all_separators:
                    seps = minimal_d_separators(self._nx, a, b, selected, allowed - {a, b})
                else:
                    one = nx.find_minimal_d_separator(self._nx, {a}, {b}, included=selected, restricted=allowed - {a, b} | selected)
                    seps = [] if one is None else [one]
                for sep in seps:
                    yield Independence(b, a, tuple(sorted(sep, key=order.get)))

    def _iter_basis(self, restrict_to: Iterable[str] | None):
        if self.selection_nodes:
            raise CausaliqaError(f"{self.source}: implied", "--type basis",
                                 "a graph without selection nodes (conditioning on them breaks the local Markov basis; use --type missing-edge)",
                                 f"selection nodes {', '.join(sorted(self.selection_nodes))}")
        order = self.topological_order()
        rank = {n: i for i, n in enumerate(order)}
        visible = {n for n, node in self.nodes.items() if node.role != "latent"}
        if restrict_to is not None:
            visible &= set(restrict_to)
        for v in order:
            parents = self.parents(v)
            others = set(self.nodes) - nx.descendants(self._nx, v) - parents - {v}
            if v not in visible or not parents <= visible:
                continue
            others = sorted(others & visible, key=rank.get)
            if others:
                yield Independence(v, others[0], tuple(sorted(parents, key=rank.get)), tuple(others[1:]))


IMPLIED_KINDS = ("missing-edge", "basis")


@dataclass(frozen=True)
class _Highlighted:
    """A graph drawn with one query's open paths in red, above the judgement (what :meth:`CausalGraph.show` gives)."""

    graph: CausalGraph
    judgement: DSeparationJudgement

    def _repr_html_(self) -> str:
        from causaliqa.graph.svg import graph_svg

        return graph_svg(self.graph, self.judgement) + self.judgement._repr_html_()


def _known_nodes(query: Query | str, nodes, graph_name: str, where: str) -> Query:
    """The query with every name resolved to a node id (a renamed dagitty id by its original name too)."""
    query = parse_query(query, where) if isinstance(query, str) else query
    aliases = {node.alias: n for n, node in nodes.items() if node.alias}

    def resolve(names: frozenset[str]) -> frozenset[str]:
        out = set()
        for n in sorted(names):
            if n not in nodes and n not in aliases:
                raise CausaliqaError(where, None, f"a node of graph '{graph_name}'{did_you_mean(n, [*nodes, *aliases])}", repr(n))
            out.add(n if n in nodes else aliases[n])
        return frozenset(out)

    resolved = Query(resolve(query.left), resolve(query.right), resolve(query.given), query.expect_separated)
    overlap = (resolved.left & resolved.right) | ((resolved.left | resolved.right) & resolved.given)
    if overlap:
        raise CausaliqaError(where, None, "disjoint sides and conditioning set", f"{sorted(overlap)} in two places of {str(query)!r}")
    return resolved


def _as_set(value) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset(v.strip() for v in value.split(",") if v.strip())
    return frozenset(value)


def _reject_cycles(digraph: nx.DiGraph, source: str) -> None:
    try:
        cycle = nx.find_cycle(digraph)
    except nx.NetworkXNoCycle:
        return
    names = [a for a, _ in cycle] + [cycle[0][0]]
    raise CausaliqaError(source, "edges", "an acyclic graph", "a cycle " + " -> ".join(names))
