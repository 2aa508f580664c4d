"""dagitty's graph language, read and written as dagitty itself reads it.

The grammar is dagitty's (its dot-like language): an optional ``strict``, a graph type (``dag``, or the legacy
``digraph``; ``graph``, ``pdag``, ``mag`` and ``pag`` are not DAGs and are refused), an optional name, then
statements separated by white space or ``;``:

* ``ID [attributes]``: a node; flags add up over repeated statements (``A [latent] A [pos="1,2"]`` is a latent A at
  (1, 2)); ``latent``/``l``/``unobserved``/``u``, ``selected``/``s``, ``exposure``/``source``/``e``,
  ``outcome``/``target``/``o``, ``adjusted``/``a``; ``pos="x,y"`` and ``label="..."``; other attributes are kept by
  dagitty for display only and ignored here. ``graph [bb="..."]`` and ``bb="..."`` set the bounding box.
* ``A -> B <- C [attributes]``: a chain of edges; its attributes belong to the edges (dagitty.net writes
  ``pos`` for every curved edge), never to a node. ``{A B} -> C`` expands to every member.
* ``A <-> B``: dagitty's shorthand for a latent common cause; it becomes an explicit latent node (named in the
  graph's notes). ``--`` and the partially directed edges (``@->`` ...) are not DAG edges: refused.

IDs are dagitty's barewords (``-?[0-9A-Za-z_.]+``) or double-quoted strings (``\\"`` escapes a quote, ``"a" + "b"``
concatenates). causaliqa's node ids are plain names (letters, digits, ``_``), so an id such as ``ADCY9.8``, ``1`` or
``"Diät Mutter"`` gets a safe internal id (``ADCY9_8``, ``n1``, ``Diat_Mutter``) and keeps the original as its
``alias`` (what :func:`to_dagitty` writes back) and, unless dagitty gives one, as its label. ``graph`` and ``node``
cannot be variables in dagitty: reading them is an error, and writing a node with such an id uses another dagitty
name with the id in a ``cid`` attribute (dagitty ignores it; causaliqa reads it back).

Roles: ``selected`` -> ``selection`` (conditioned on in every query, as dagitty does), else ``latent`` ->
``latent``; a node that is both stays a selection node and keeps ``latent`` among its flags; exposure, outcome and
adjusted are kept as flags (``causaliqa adjust`` takes exposure and outcome from them). causaliqa's own attributes
``role="predicted"``/``"context"`` and ``label`` travel in dagitty strings so a round trip returns the same graph.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

import numpy as np

from causaliqa.errors import CausaliqaError
from causaliqa.graph.model import ROLES, CausalGraph, Node

GRAPH_TYPES = ("dag", "digraph", "graph", "pdag", "mag", "pag")
EDGES = ("@->", "<-@", "--@", "@-@", "@--", "<->", "->", "<-", "--")  # longest first
RESERVED = ("graph", "node")
FLAGS = {
    "latent": "latent", "l": "latent", "unobserved": "latent", "u": "latent",
    "selected": "selected", "s": "selected",
    "exposure": "exposure", "source": "exposure", "e": "exposure",
    "outcome": "outcome", "target": "outcome", "o": "outcome",
    "adjusted": "adjusted", "a": "adjusted",
}
_BAREWORD = re.compile(r"-?[0-9A-Za-z_.]+")
_SAFE_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_WHITE = " \t\r\n;"


# ---- tokens ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Token:
    kind: str  # "id", "edge", or the punctuation itself: { } [ ] = ,
    text: str
    at: int


def _tokens(text: str, where: str) -> list[_Token]:
    out: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in _WHITE:
            i += 1
            continue
        edge = next((e for e in EDGES if text.startswith(e, i)), None)
        if edge:
            out.append(_Token("edge", edge, i))
            i += len(edge)
            continue
        if ch in "{}[]=,":
            out.append(_Token(ch, ch, i))
            i += 1
            continue
        if ch == '"':
            value, i = _string(text, i, where)
            out.append(_Token("id", value, i))
            continue
        match = _BAREWORD.match(text, i)
        if not match:
            raise CausaliqaError(where, f"character {i + 1}", "an id, an edge (->, <-, <->), [attributes] or braces", repr(text[i:i + 20]))
        out.append(_Token("id", match.group(), i))
        i = match.end()
    return out


def _string(text: str, i: int, where: str) -> tuple[str, int]:
    """A double-quoted dagitty string at ``i`` (with ``+`` concatenation); returns (value, index after it)."""
    parts = []
    while True:
        j, chars = i + 1, []
        while True:
            if j >= len(text):
                raise CausaliqaError(where, f"character {i + 1}", 'a closing " for the string', repr(text[i:i + 20]))
            c = text[j]
            if c == '"':
                break
            if c == "\\" and text.startswith('\\"', j):
                chars.append('"')
                j += 2
            elif c == "\\" and j + 1 < len(text) and text[j + 1] in "\r\n":
                j += 1
                while j < len(text) and text[j] in "\r\n":
                    j += 1
            elif ord(c) < 0x20 or c == "\x7f":
                raise CausaliqaError(where, f"character {j + 1}", "a string without control characters (a line break needs \\)", repr(c))
            else:
                chars.append(c)
                j += 1
        parts.append("".join(chars))
        k = j + 1
        while k < len(text) and text[k] in _WHITE:
            k += 1
        if k < len(text) and text[k] == "+":
            k += 1
            while k < len(text) and text[k] in _WHITE:
                k += 1
            if k < len(text) and text[k] == '"':
                i = k
                continue
            raise CausaliqaError(where, f"character {k + 1}", 'a string after "+"', repr(text[k:k + 20]))
        return "".join(parts), j + 1


# ---- statements ------------------------------------------------------------------------------------------------
@dataclass
class _Statements:
    """What the statements say, in order: node attributes (merged), edges by kind, the bounding box."""

    order: list[str] = field(default_factory=list)  # dagitty ids in order of first appearance
    attrs: dict[str, list[tuple[str, str | None]]] = field(default_factory=dict)
    directed: list[tuple[str, str]] = field(default_factory=list)
    bidirected: list[tuple[str, str]] = field(default_factory=list)

    def node(self, name: str, where: str) -> str:
        if name in RESERVED:
            raise CausaliqaError(where, f"node {name!r}", "a variable name other than 'graph' or 'node' (dagitty refuses them; use label=)", repr(name))
        if name not in self.attrs:
            self.order.append(name)
            self.attrs[name] = []
        return name


class _Parser:
    def __init__(self, tokens: list[_Token], where: str):
        self.t, self.i, self.where, self.out = tokens, 0, where, _Statements()

    def peek(self, offset: int = 0) -> _Token | None:
        k = self.i + offset
        return self.t[k] if k < len(self.t) else None

    def take(self, kind: str) -> _Token:
        tok = self.peek()
        if tok is None or tok.kind != kind:
            got = "the end" if tok is None else repr(tok.text)
            raise CausaliqaError(self.where, f"character {tok.at + 1}" if tok else None, f"{kind!r}", got)
        self.i += 1
        return tok

    def statements(self, closing: str | None) -> list[str]:
        """Statements up to ``closing`` (or the end); returns the node ids they name (for subgraphs)."""
        named: list[str] = []
        while True:
            tok = self.peek()
            if tok is None:
                if closing:
                    raise CausaliqaError(self.where, None, f"a closing {closing!r}", "the end of the text")
                return named
            if tok.kind == closing:
                self.i += 1
                return named
            named += self.statement()

    def statement(self) -> list[str]:
        tok = self.peek()
        nxt = self.peek(1)
        if tok.kind == "id" and nxt is not None and nxt.kind == "=":  # a global option such as bb="..."
            self.i += 2
            self.take("id")
            return []
        if tok.kind == "id" and tok.text == "graph" and (nxt is None or nxt.kind != "edge"):  # graph [bb="..."]
            self.i += 1
            if self.peek() is not None and self.peek().kind == "[":
                self.attributes()
            return []
        first = self.member()
        if self.peek() is not None and self.peek().kind == "edge":
            named = list(first)
            left = first
            while self.peek() is not None and self.peek().kind == "edge":
                edge = self.take("edge")
                right = self.member()
                self.connect(left, edge, right)
                named += right
                left = right
            if self.peek() is not None and self.peek().kind == "[":
                self.attributes()  # an edge statement's attributes belong to its edges: positions of curves
            return named
        if len(first) == 1 and self.peek() is not None and self.peek().kind == "[":
            self.out.attrs[first[0]].extend(self.attributes())
        return first

    def member(self) -> list[str]:
        """One side of an edge: an id, or a {subgraph} (optionally named) standing for all its nodes."""
        tok = self.peek()
        if tok is None:
            raise CausaliqaError(self.where, None, "a node id", "the end of the text")
        if tok.kind == "id" and (self.peek(1) is None or self.peek(1).kind != "{"):
            self.i += 1
            return [self.out.node(tok.text, self.where)]
        if tok.kind == "id":
            self.i += 1
        if self.peek() is not None and self.peek().kind == "{":
            self.i += 1
            return list(dict.fromkeys(self.statements("}")))
        got = self.peek()
        raise CausaliqaError(self.where, f"character {got.at + 1}" if got else None, "a node id or {nodes}", repr(got.text) if got else "the end")

    def connect(self, left: list[str], edge: _Token, right: list[str]) -> None:
        if edge.text in ("->", "<-"):
            for a in left:
                for b in right:
                    self.out.directed.append((a, b) if edge.text == "->" else (b, a))
        elif edge.text == "<->":
            for a in left:
                for b in right:
                    self.out.bidirected.append((a, b))
        else:
            kind = "an undirected" if edge.text == "--" else "a partially directed"
            raise CausaliqaError(self.where, f"character {edge.at + 1}",
                                 f"directed edges (->, <-) or <-> (a latent common cause): {kind} edge is not a DAG edge", edge.text)

    def attributes(self) -> list[tuple[str, str | None]]:
        self.take("[")
        found: list[tuple[str, str | None]] = []
        while True:
            tok = self.peek()
            if tok is None:
                raise CausaliqaError(self.where, None, "[attributes] closed by ]", "the end of the text")
            if tok.kind == "]":
                self.i += 1
                return found
            key = self.take("id").text
            value = None
            if self.peek() is not None and self.peek().kind == "=":
                self.i += 1
                value = self.take("id").text
            if self.peek() is not None and self.peek().kind == ",":
                self.i += 1
            found.append((key, value))


_HEADER = re.compile(r"^\s*(?:strict\s+)?([A-Za-z]+)\b\s*([^{\s]*)\s*\{", re.I)


def _body(text: str, where: str) -> tuple[str, str]:
    """(graph name, statements) of a dagitty string; text without a header is a dag body, as dagitty reads it."""
    stripped = text.strip()
    header = _HEADER.match(stripped)
    if header and header.group(1).lower() in GRAPH_TYPES:
        kind = header.group(1).lower()
        if kind not in ("dag", "digraph"):
            raise CausaliqaError(where, None, "a DAG ('dag { ... }', or the legacy 'digraph { ... }')",
                                 f"a graph of type {kind!r} (causaliqa reads DAGs only)")
        if not stripped.endswith("}"):
            raise CausaliqaError(where, None, "a closing '}' at the end", repr(stripped[-20:]))
        name = header.group(2).strip('"')
        return name, stripped[header.end():-1]
    if header:
        raise CausaliqaError(where, None, "a dagitty string 'dag { A -> X }'", repr(stripped[:40]))
    if not any(e in stripped for e in ("->", "<-")) and not stripped.startswith("{"):
        raise CausaliqaError(where, None, "a dagitty string 'dag { A -> X }'", repr(stripped[:40]) if stripped else "an empty string")
    return "", stripped


# ---- ids ---------------------------------------------------------------------------------------------------------
def safe_id(name: str) -> str:
    """A causaliqa id for a dagitty id: accents stripped, other characters -> '_', 'n' before a leading digit."""
    if _SAFE_ID.match(name):
        return name
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    cleaned = re.sub(r"[^A-Za-z0-9_]+", "_", ascii_name).strip("_") or "n"
    return cleaned if _SAFE_ID.match(cleaned) else f"n{cleaned}"


def _unique(base: str, taken: set[str]) -> str:
    name, k = base, 2
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    taken.add(name)
    return name


# ---- reading -------------------------------------------------------------------------------------------------------
def from_dagitty(text: str, name: str = "dagitty", where: str = "dagitty") -> CausalGraph:
    """Parse a dagitty string (as dagitty.net exports it) into a graph with the meaning dagitty gives it.

    >>> g = from_dagitty('dag { S [selected,pos="0.7,0.1"] X -> S [pos="0.4,0.3"] Y -> S }')
    >>> g.nodes["S"].role, bool(g.is_separated("X _||_ Y"))
    ('selection', False)
    """
    if not isinstance(text, str):
        raise CausaliqaError(where, None, "a dagitty string 'dag { A -> X }'", type(text).__name__)
    graph_name, body = _body(text, where)
    parser = _Parser(_tokens(body, where), where)
    parser.statements(None)
    found = parser.out
    ids = _internal_ids(found, where)
    nodes, layout = {}, {}
    for dagitty_id in found.order:
        node, pos = _node(ids[dagitty_id], dagitty_id, found.attrs[dagitty_id], where)
        nodes[node.id] = node
        if pos is not None:
            layout[node.id] = pos
    edges = [(ids[a], ids[b]) for a, b in dict.fromkeys(found.directed)]
    notes = []
    taken = set(nodes)
    for a, b in dict.fromkeys(found.bidirected):
        latent = _unique(f"U_{ids[a]}_{ids[b]}", taken)
        nodes[latent] = Node(latent, "latent", f"{a} <-> {b}")
        edges += [(latent, ids[a]), (latent, ids[b])]
        notes.append(f"{a} <-> {b} read as a latent common cause {latent} -> {ids[a]}, {latent} -> {ids[b]}")
    renamed = [f"{n.alias!r} -> {n.id}" for n in nodes.values() if n.alias]
    if renamed:
        notes.append("dagitty ids renamed to causaliqa ids (the original kept as label): " + ", ".join(renamed))
    return CausalGraph.build(edges, name=name if name != "dagitty" or not graph_name else safe_id(graph_name), nodes=nodes,
                             layout=layout, source=where, notes=tuple(notes))


def _internal_ids(found: _Statements, where: str) -> dict[str, str]:
    """dagitty id -> causaliqa id: ``cid`` when given, the id itself when safe, else a safe unique name."""
    ids: dict[str, str] = {}
    taken: set[str] = set()
    for dagitty_id in found.order:
        cid = [v for k, v in found.attrs[dagitty_id] if k == "cid"]
        if cid:
            if not cid[-1] or not _SAFE_ID.match(cid[-1]) or cid[-1] in taken:
                raise CausaliqaError(where, f"{dagitty_id} cid", "a unique causaliqa id (letters, digits, _)", repr(cid[-1]))
            ids[dagitty_id] = cid[-1]
            taken.add(cid[-1])
    for dagitty_id in found.order:
        if dagitty_id not in ids and _SAFE_ID.match(dagitty_id) and dagitty_id not in taken:
            ids[dagitty_id] = dagitty_id
            taken.add(dagitty_id)
    for dagitty_id in found.order:
        if dagitty_id not in ids:
            ids[dagitty_id] = _unique(safe_id(dagitty_id), taken)
    return ids


def _node(node_id: str, dagitty_id: str, attrs: list[tuple[str, str | None]], where: str) -> tuple[Node, tuple[float, float] | None]:
    flags, role, label, pos = set(), None, None, None
    for key, value in attrs:
        if key in FLAGS:
            flags.add(FLAGS[key])
        elif key == "pos":
            pos = _position(value, f"{dagitty_id} pos", where)
        elif key == "label":
            label = value or ""
        elif key == "role":
            if value not in ROLES:
                raise CausaliqaError(where, f"{dagitty_id} role", f"one of {', '.join(ROLES)}", repr(value))
            role = value
    if role is None:
        role = "selection" if "selected" in flags else "latent" if "latent" in flags else "observed"
    implied = {"selection": "selected", "latent": "latent"}.get(role)
    alias = dagitty_id if dagitty_id != node_id else ""
    if label is None:  # a renamed id keeps its dagitty name as the label (causaliqa's own exports carry cid and label)
        label = "" if any(k == "cid" for k, _ in attrs) else alias
    return Node(node_id, role, label, flags=frozenset(flags - {implied}), alias=alias), pos


_POSITION = re.compile(r"\s*(-?[0-9.]+)\s*,\s*(-?[0-9.]+)\s*")


def _position(value: str | None, field_name: str, where: str) -> tuple[float, float]:
    """dagitty's reading of pos="x,y" (its first 'number,number'); y points down in dagitty, up here."""
    match = _POSITION.search(value or "")
    try:
        x, y = float(match.group(1)), float(match.group(2))
    except (AttributeError, ValueError):
        raise CausaliqaError(where, field_name, 'pos="x,y" with two numbers', repr(value)) from None
    return (x, -y)


# ---- writing -------------------------------------------------------------------------------------------------------
def _quote(text: str, where: str) -> str:
    if any(ord(c) < 0x20 or c == "\x7f" for c in text) or text.endswith("\\") or '\\"' in text:
        raise CausaliqaError(where, None, "text dagitty can store (no control characters, no backslash before a quote or at the end)", repr(text))
    return '"' + text.replace('"', '\\"') + '"'


def _name(text: str, where: str) -> str:
    return text if _BAREWORD.fullmatch(text) else _quote(text, where)


def _number(x: float) -> str:
    """Positional notation (dagitty misreads exponents: 1.5e-05 as -5), shortest that reads back exactly."""
    return np.format_float_positional(float(x), trim="-", unique=True)


def to_dagitty(graph: CausalGraph) -> str:
    """The graph as a dagitty string that dagitty reads with the same roles, labels and positions, and that
    :func:`from_dagitty` reads back to the same graph.

    Roles dagitty has no word for (``predicted``, ``context``) travel as ``role="..."``; an id dagitty cannot take
    (``graph``, ``node``) is written under another name with ``cid="..."``.

    >>> print(to_dagitty(CausalGraph.build(["X -> Q"], layout={"X": (0, 1e-05), "Q": (1, 0)})))
    dag {
    X [pos="0,-0.00001"]
    Q [pos="1,0"]
    X -> Q
    }
    """
    where = f"{graph.source}: to_dagitty"
    taken = {n.alias or n.id for n in graph.nodes.values()}
    names: dict[str, str] = {}
    for n, node in graph.nodes.items():
        name = node.alias or n
        if name in RESERVED:
            name = _unique(f"{name}_", taken)
        names[n] = name
    reverse = {"latent": "latent", "selection": "selected"}
    lines = ["dag {"]
    for n, node in graph.nodes.items():
        attrs = [reverse[node.role]] if node.role in reverse else ([f'role="{node.role}"'] if node.role != "observed" else [])
        attrs += sorted(node.flags)
        if node.label:
            attrs.append(f"label={_quote(node.label, where)}")
        if names[n] != n:
            attrs.append(f'cid="{n}"')
        if n in graph.layout:
            x, y = graph.layout[n]
            attrs.append(f'pos="{_number(x + 0.0)},{_number(-y + 0.0)}"')
        name = _name(names[n], where)
        lines.append(f"{name} [{','.join(attrs)}]" if attrs else name)
    lines += [f"{_name(names[a], where)} -> {_name(names[b], where)}" for a, b in graph.edges]
    lines.append("}")
    return "\n".join(lines)


