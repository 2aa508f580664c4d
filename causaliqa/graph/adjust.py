"""Covariate adjustment sets for the total effect of an exposure on an outcome (dagitty's adjustment sets).

Z is a valid adjustment set for (X, Y) in a DAG exactly when (the generalised adjustment criterion, Shpitser et al.
2010; Perkovic et al. 2018):

(a) no node of Z is a descendant of a node on a proper causal path from X to Y (other than X itself), nor in X; and
(b) Z d-separates X and Y in the proper back-door graph: the DAG without the first edge of every proper causal path.

Latent nodes cannot be in Z. Selection nodes are in every set (the data are conditioned on them already); a selection
node that breaks (a) leaves no valid set, and the reason says so. Minimal sets are the minimal separators of (b) among
the allowed nodes (:func:`causaliqa.graph.separators.minimal_d_separators`); ``--all`` lists every valid set
(ListSep). Both are checked against this definition by brute force, and against pgmpy's back-door sets
(tests/test_adjust.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from causaliqa.errors import CausaliqaError
from causaliqa.graph.model import CausalGraph, did_you_mean
from causaliqa.graph.separators import d_separators, minimal_d_separators
from causaliqa.serialize import Serializable


@dataclass(frozen=True)
class AdjustmentSets(Serializable):
    """The adjustment sets for the total effect of ``exposure`` on ``outcome``; ``sets`` is empty when none is
    valid and ``reason`` says why. ``always`` holds the selection nodes every set contains; ``forbidden`` the nodes
    (a) rules out; ``complete`` is False when ``limit`` stopped the listing."""

    graph: str
    exposure: tuple[str, ...]
    outcome: tuple[str, ...]
    minimal: bool
    sets: tuple[tuple[str, ...], ...]
    forbidden: tuple[str, ...]
    always: tuple[str, ...]
    reason: str = ""
    complete: bool = True

    def lines(self) -> list[str]:
        effect = f"{', '.join(self.exposure)} -> {', '.join(self.outcome)}"
        kind = "minimal adjustment sets" if self.minimal else "adjustment sets"
        if not self.sets:
            return [f"{self.graph}: no valid adjustment set for the total effect {effect}: {self.reason}"]
        out = [f"{self.graph}: {kind} for the total effect {effect}"]
        out += ["  { " + ", ".join(s) + " }" if s else "  {}  (no adjustment needed)" for s in self.sets]
        if self.always:
            out.append(f"  (selection nodes {', '.join(self.always)} are in every set: the data are conditioned on them)")
        if not self.complete:
            out.append("  ... stopped at --limit; more exist")
        return out


def _causal_path_nodes(g: nx.DiGraph, x: set[str], y: set[str]) -> set[str]:
    """Nodes on proper causal paths from X to Y (X included where such a path starts there)."""
    reach, stack = set(), list(y)
    while stack:  # ancestors of Y through paths that do not pass through X (a proper path meets X only at its start)
        v = stack.pop()
        if v in reach:
            continue
        reach.add(v)
        if v not in x:
            stack.extend(g.predecessors(v))
    below = set(x)
    for v in x:
        below |= nx.descendants(g, v)
    return reach & below


def forbidden_nodes(graph: CausalGraph, exposure: set[str], outcome: set[str]) -> set[str]:
    """(a): X and the descendants of every node other than X on a proper causal path from X to Y."""
    g = graph.to_networkx()
    on_path = _causal_path_nodes(g, exposure, outcome) - exposure
    out = set(exposure)
    for v in on_path:
        out |= {v} | nx.descendants(g, v)
    return out


def proper_back_door_graph(graph: CausalGraph, exposure: set[str], outcome: set[str]) -> nx.DiGraph:
    g = graph.to_networkx()
    on_path = _causal_path_nodes(g, exposure, outcome) - exposure
    g.remove_edges_from([(a, b) for a, b in list(g.edges) if a in exposure and b in on_path])
    return g


def is_adjustment_set(graph: CausalGraph, exposure, outcome, z) -> bool:
    """The definition, (a) and (b), for one candidate set (selection nodes are added to it)."""
    x, y, z = set(exposure), set(outcome), set(z) | set(graph.selection_nodes)
    if z & forbidden_nodes(graph, x, y):
        return False
    return nx.is_d_separator(proper_back_door_graph(graph, x, y), x, y, z)


def _checked(graph: CausalGraph, names, what: str) -> set[str]:
    names = [names] if isinstance(names, str) else list(names or [])
    if not names:
        flagged = [n for n, node in graph.nodes.items() if what in node.flags]
        if not flagged:
            raise CausaliqaError(graph.source, f"--{what}", f"a node of graph '{graph.name}' (or a node marked [{what}] in a dagitty file)", "none")
        names = flagged
    aliases = {node.alias: n for n, node in graph.nodes.items() if node.alias}
    out = set()
    for name in names:
        n = name if name in graph.nodes else aliases.get(name)
        if n is None:
            raise CausaliqaError(graph.source, f"--{what}", f"a node of graph '{graph.name}'{did_you_mean(name, [*graph.nodes, *aliases])}", repr(name))
        if graph.nodes[n].role in ("latent", "selection"):
            raise CausaliqaError(graph.source, f"--{what}", f"an observed node (an effect of or on a {graph.nodes[n].role} node is not estimated by adjustment)", repr(name))
        out.add(n)
    return out


def adjustment_sets(graph: CausalGraph, exposure=None, outcome=None, minimal: bool = True,
                    limit: int | None = 1000) -> AdjustmentSets:
    """Minimal (or all) valid adjustment sets for the total effect of ``exposure`` on ``outcome`` (nodes or lists;
    by default the nodes marked exposure / outcome in a dagitty file).

    >>> g = CausalGraph.build(["Z -> X", "Z -> Y", "X -> Y", "X -> M", "M -> Y"])
    >>> adjustment_sets(g, "X", "Y").sets
    (('Z',),)
    """
    x, y = _checked(graph, exposure, "exposure"), _checked(graph, outcome, "outcome")
    if x & y:
        raise CausaliqaError(graph.source, "--outcome", "nodes other than the exposure", sorted(x & y))
    forbidden = forbidden_nodes(graph, x, y)
    always = set(graph.selection_nodes)
    order = {n: i for i, n in enumerate(graph.topological_order())}

    def ordered(nodes) -> tuple[str, ...]:
        return tuple(sorted(nodes, key=order.get))

    def result(sets, reason="", complete=True) -> AdjustmentSets:
        shown = tuple(ordered(set(s) - always) for s in sets)
        return AdjustmentSets(graph.name, ordered(x), ordered(y), minimal, shown, ordered(forbidden - x), ordered(always),
                              reason, complete)

    if always & forbidden:
        bad = ordered(always & forbidden)
        return result((), f"the selection node(s) {', '.join(bad)} descend from a node on a causal path from "
                          f"{', '.join(ordered(x))} to {', '.join(ordered(y))}: the data are conditioned on a descendant of the effect")
    allowed = {n for n, node in graph.nodes.items() if node.role not in ("latent", "selection")} - forbidden - y - x
    pbd = proper_back_door_graph(graph, x, y)
    if minimal:
        found = minimal_d_separators(pbd, x, y, always, allowed, None if limit is None else limit + 1)
    else:
        found = list(d_separators(pbd, x, y, always, allowed, None if limit is None else limit + 1))
        found.sort(key=lambda s: (len(s), sorted(order[n] for n in s)))
    complete = limit is None or len(found) <= limit
    found = found[:limit] if limit is not None else found
    if not found:
        latent = [n for n in graph.nodes_with_role("latent")]
        why = ("every set of observed nodes leaves a back-door path open"
               + (f" (it runs through latent nodes: {', '.join(ordered(latent))})" if latent else ""))
        return result((), why)
    return result(found, complete=complete)
