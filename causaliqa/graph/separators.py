"""Every minimal d-separator of two nodes, and every d-separator between given bounds.

Minimal separators: a minimal set Z with ``included`` <= Z and Z - ``included`` drawn from ``restricted`` lies in the
ancestors of x, y and ``included`` (Tian, Paz & Pearl 1998), where d-separation is vertex separation in the moral
graph of those ancestors. So the search runs on that undirected graph H: the ``included`` nodes are removed (they are
always conditioned on), every node that may not be in a separator (latent, or outside ``restricted``) is eliminated
(its neighbours joined to each other: a path through it cannot be blocked there), and the minimal (x, y)-vertex
separators of what remains are listed. A minimal (x, y)-separator S has x and y in full components of H - S; every
one is reached from the separator closest to x by the step of Kloks & Kratsch (1998): take the component of x behind
S, add one vertex s of S, and close the new set's neighbourhood towards y. Each separator costs O(|S| (n + m)).
``tests/test_adjust.py`` checks the listing against brute force over all subsets on random DAGs.
"""

from __future__ import annotations

from collections import deque
from itertools import islice
from typing import Iterable, Iterator

import networkx as nx


def moral_ancestral_graph(digraph: nx.DiGraph, nodes: Iterable[str]) -> dict[str, set[str]]:
    """Adjacency sets of the moral graph of ``nodes`` and their ancestors."""
    keep = set(nodes)
    for n in list(keep):
        keep |= nx.ancestors(digraph, n)
    adj: dict[str, set[str]] = {n: set() for n in keep}
    for n in keep:
        parents = [p for p in digraph.predecessors(n)]
        for p in parents:
            adj[n].add(p)
            adj[p].add(n)
        for i, p in enumerate(parents):
            for q in parents[i + 1:]:
                adj[p].add(q)
                adj[q].add(p)
    return adj


def _eliminate(adj: dict[str, set[str]], node: str) -> None:
    near = adj.pop(node)
    for u in near:
        adj[u].discard(node)
        adj[u] |= near - {u}


def _component(adj: dict[str, set[str]], start: str, removed: set[str]) -> set[str]:
    seen, queue = {start}, deque([start])
    while queue:
        u = queue.popleft()
        for v in adj[u]:
            if v not in seen and v not in removed:
                seen.add(v)
                queue.append(v)
    return seen


def _neighbourhood(adj: dict[str, set[str]], nodes: set[str]) -> set[str]:
    out: set[str] = set()
    for u in nodes:
        out |= adj[u]
    return out - nodes


def _vertex_separators(adj: dict[str, set[str]], a: str, b: str) -> Iterator[frozenset[str]]:
    """Every minimal (a, b)-vertex separator of the undirected graph ``adj`` (a and b not adjacent)."""
    if b in adj[a]:
        return

    def close(side: set[str]) -> frozenset[str] | None:
        border = _neighbourhood(adj, side)
        if b in border or b in side:
            return None
        return frozenset(_neighbourhood(adj, _component(adj, b, border)))

    first = close({a})
    if first is None:
        return
    seen, queue = {first}, deque([first])
    while queue:
        sep = queue.popleft()
        yield sep
        behind = _component(adj, a, set(sep))
        for s in sorted(sep):
            nxt = close(behind | {s})
            if nxt is not None and nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)


def minimal_d_separators(digraph: nx.DiGraph, x, y, included: Iterable[str] = (),
                         restricted: Iterable[str] | None = None, limit: int | None = None) -> list[frozenset[str]]:
    """Every minimal Z (``included`` <= Z, Z - ``included`` <= ``restricted``) that d-separates x and y (nodes or
    sets of nodes), smallest first; at most ``limit`` of them."""
    xs, ys = _as_set(x), _as_set(y)
    included = set(included)
    allowed = set(digraph) if restricted is None else set(restricted)
    adj = moral_ancestral_graph(digraph, xs | ys | included)
    for n in included:
        if n in adj:
            _eliminate_removed(adj, n)
    for n in [n for n in adj if n not in xs | ys and n not in allowed]:
        _eliminate(adj, n)
    a, b = _contract(adj, xs, "\x00x"), _contract(adj, ys, "\x00y")
    found = list(islice(_vertex_separators(adj, a, b), limit))
    return sorted((frozenset(s) | frozenset(included) for s in found), key=lambda s: (len(s), sorted(s)))


def _as_set(nodes) -> set[str]:
    return {nodes} if isinstance(nodes, str) else set(nodes)


def _contract(adj: dict[str, set[str]], nodes: set[str], name: str) -> str:
    """Merge ``nodes`` into one vertex ``name`` (a separator of the sets is one of the merged vertices)."""
    if len(nodes) == 1:
        return next(iter(nodes))
    near: set[str] = set()
    for n in nodes:
        near |= adj.pop(n)
    near -= nodes
    for u in near:
        adj[u] -= nodes
        adj[u].add(name)
    adj[name] = near
    return name


def _eliminate_removed(adj: dict[str, set[str]], node: str) -> None:
    """Drop a node that is always conditioned on: paths through it are blocked."""
    for u in adj.pop(node):
        adj[u].discard(node)


def d_separators(digraph: nx.DiGraph, x: set[str], y: set[str], included: set[str], restricted: set[str],
                 limit: int | None = None) -> Iterator[frozenset[str]]:
    """Every Z with ``included`` <= Z <= ``restricted`` that d-separates x and y (van der Zander et al. 2019's
    ListSep: branch on one node at a time, pruned by whether any separator is left between the bounds, which is
    true exactly when the largest candidate within the ancestors separates)."""

    def exists(low: set[str], high: set[str]) -> bool:
        anc = set(x | y | low)
        for n in list(anc):
            anc |= nx.ancestors(digraph, n)
        return nx.is_d_separator(digraph, x, y, high & anc | low)

    def walk(low: set[str], high: set[str]) -> Iterator[frozenset[str]]:
        if not exists(low, high):
            return
        if low == high:
            yield frozenset(low)
            return
        v = min(high - low)
        yield from walk(low | {v}, high)
        yield from walk(low, high - {v})

    yield from islice(walk(set(included), set(restricted) | set(included)), limit)
