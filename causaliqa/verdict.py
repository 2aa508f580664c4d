"""Graphs x tests: what each declared graph predicts (d-separation) and what the data say (CI tests).

A statement is over graph nodes (``Q _||_ M | Y``); each node is bound to one or more data columns
(Q to several metrics, M to several task models), and the statement is tested once per choice of
columns. A graph that predicts an independence the data reject (after Holm or Benjamini-Hochberg
correction over every test run) is falsified by that test.

Nodes that cannot be conditioned on (the image X) may be given a *proxy* (image id, label). A test
through a proxy is reported but never falsifies a graph: conditioning on the proxy does not fix the
node, so the graph's prediction for the node says nothing certain about the proxy.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from causaliqa.errors import CausaliqaError
from causaliqa.graph.model import CausalGraph, did_you_mean
from causaliqa.graph.query import Query, parse_query
from causaliqa.stats.citest import CITest, adjust_pvalues, ci_test


@dataclass(frozen=True)
class Statement:
    left: str
    right: str
    given: tuple[str, ...] = ()

    @property
    def key(self) -> tuple:
        return (frozenset((self.left, self.right)), frozenset(self.given))

    def __str__(self) -> str:
        return str(Query(frozenset([self.left]), frozenset([self.right]), frozenset(self.given)))


@dataclass(frozen=True)
class TestedStatement:
    """One statement tested on one choice of columns, with every graph's prediction."""

    statement: Statement
    columns: dict[str, str]
    test: CITest
    p_adjusted: float
    rejected: bool
    predictions: dict[str, bool]  # graph name -> predicts independence
    proxy: str = ""

    def falsifies(self, graph: str) -> bool:
        return not self.proxy and self.rejected and self.predictions.get(graph, False)

    def to_dict(self) -> dict:
        return {"statement": str(self.statement), "columns": dict(self.columns), "test": self.test.to_dict(),
                "p_adjusted": self.p_adjusted, "rejected": self.rejected, "proxy": self.proxy,
                "predicts_independence": dict(self.predictions)}


@dataclass(frozen=True)
class GraphVerdict:
    graph: str
    falsified_by: tuple[str, ...]
    predicted_independent: int
    dependences_not_found: tuple[str, ...]

    @property
    def falsified(self) -> bool:
        return bool(self.falsified_by)

    def __bool__(self) -> bool:  # truthy when the data do not contradict the graph
        return not self.falsified

    def to_dict(self) -> dict:
        return {"graph": self.graph, "falsified": self.falsified, "falsified_by": list(self.falsified_by),
                "predicted_independent_tests": self.predicted_independent,
                "dependences_not_found": list(self.dependences_not_found)}


@dataclass(frozen=True)
class VerdictTable:
    tests: tuple[TestedStatement, ...]
    verdicts: tuple[GraphVerdict, ...]
    alpha: float
    correction: str
    proxies: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def rows(self) -> list[list[str]]:
        graphs = [v.graph for v in self.verdicts]
        out = []
        for t in self.tests:
            cols = ", ".join(f"{n}={c}" for n, c in t.columns.items())
            data = "n/a" if not t.test.tested else ("dependent" if t.rejected else "no evidence")
            cells = []
            for g in graphs:
                mark = "_||_" if t.predictions[g] else "dep"
                cells.append(f"{mark} FALSIFIED" if t.falsifies(g) else mark)
            p = "n/a" if not t.test.tested else f"{t.p_adjusted:.2g}"
            out.append([str(t.statement) + (f" [{t.proxy}]" if t.proxy else ""), cols, t.test.method, p, data, *cells, t.test.note or ""])
        return out

    def header(self) -> list[str]:
        return ["statement", "columns", "test", f"p ({self.correction})", "data", *[v.graph for v in self.verdicts], "note"]

    def to_dict(self) -> dict:
        return {"alpha": self.alpha, "correction": self.correction, "proxies": {k: list(v) for k, v in self.proxies.items()},
                "tests": [t.to_dict() for t in self.tests], "verdicts": [v.to_dict() for v in self.verdicts]}


def _ordered(order: dict[str, int], a: str, b: str, given) -> Statement:
    left, right = sorted((a, b), key=lambda n: order[n])
    return Statement(left, right, tuple(sorted(given, key=lambda n: order[n])))


def candidate_statements(graphs: list[CausalGraph], testable: list[str], proxied: list[str], max_given: int = 2,
                         queries: list[str] = ()) -> list[Statement]:
    """Every graph's implied independencies among testable nodes (and through proxied nodes), each pair's
    marginal and fully-conditioned statement, and the user's queries; deduplicated."""
    ref = {n: i for i, n in enumerate(graphs[0].topological_order())}  # one node order for every statement
    found: dict[tuple, Statement] = {}

    def add(st: Statement) -> None:
        found.setdefault(st.key, st)

    for graph in graphs:
        for ind in graph.implied_independencies(all_pairs=True, restrict_to=[*testable, *proxied]):
            if ind.left in testable and ind.right in testable and len(ind.given) <= max_given:
                add(_ordered(ref, ind.left, ind.right, ind.given))
    for a, b in itertools.combinations(testable, 2):
        add(_ordered(ref, a, b, ()))
        rest = [n for n in testable if n not in (a, b)]
        if rest and len(rest) <= max_given:
            add(_ordered(ref, a, b, rest))
    allowed = set(testable) | set(proxied)
    for i, text in enumerate(queries):
        q = parse_query(text, f"ci_tests.queries[{i}]")
        for node in q.left | q.right | q.given:
            if node not in allowed:
                raise CausaliqaError(f"ci_tests.queries[{i}]", None, f"a bound node or a proxied one{did_you_mean(node, allowed)}", repr(node))
        for a, b in itertools.product(sorted(q.left), sorted(q.right)):
            add(_ordered(ref, a, b, q.given))
    return sorted(found.values(), key=lambda s: (bool(set(s.given) & set(proxied)), len(s.given), str(s)))


def graph_verdicts(frame: pd.DataFrame, graphs: list[CausalGraph], columns: dict[str, list[str]], kinds: dict[str, str],
                   proxies: dict[str, list[str]] | None = None, alpha: float = 0.05, correction: str = "holm",
                   max_given: int = 2, queries: list[str] = ()) -> VerdictTable:
    """Test every candidate statement on the data and mark the graphs each rejection falsifies."""
    proxies = {k: list(v) for k, v in (proxies or {}).items()}
    if not graphs:
        raise CausaliqaError("graph_verdicts", "graphs", "at least one graph", "none")
    for graph in graphs:
        for node in [*columns, *proxies]:
            if node not in graph.nodes:
                raise CausaliqaError(graph.source, "nodes", f"the bound node {node!r}{did_you_mean(node, graph.nodes)}", "no such node")
    statements = candidate_statements(graphs, list(columns), list(proxies), max_given, queries)
    views = [dict(zip(columns, combo)) for combo in itertools.product(*columns.values())]
    raw: list[tuple[Statement, dict, CITest, str]] = []
    for st in statements:
        proxied = [n for n in st.given if n in proxies]
        proxy_text = ", ".join(f"{n} ~ {'+'.join(proxies[n])}" for n in proxied)
        seen = set()
        for view in views:
            used = {n: view[n] for n in (st.left, st.right, *st.given) if n in view}
            key = tuple(sorted(used.items()))
            if key in seen:
                continue
            seen.add(key)
            cols = [c for n in st.given for c in (proxies[n] if n in proxies else [used[n]])]
            test = ci_test(frame, used[st.left], used[st.right], cols, kinds)
            raw.append((st, used, test, proxy_text))
    p_adj = adjust_pvalues([t.p_value for _, _, t, _ in raw], correction)
    predictions = {st.key: {g.name: bool(g.is_separated(st.left, st.right, st.given, explain=False)) for g in graphs} for st in statements}
    tests = tuple(
        TestedStatement(st, used, test, float(p), bool(np.isfinite(p) and p < alpha), predictions[st.key], proxy)
        for (st, used, test, proxy), p in zip(raw, p_adj)
    )
    verdicts = tuple(
        GraphVerdict(
            g.name,
            tuple(f"{t.statement} ({', '.join(f'{n}={c}' for n, c in t.columns.items())})" for t in tests if t.falsifies(g.name)),
            sum(1 for t in tests if t.predictions[g.name] and not t.proxy and t.test.tested),
            tuple(f"{t.statement} ({', '.join(f'{n}={c}' for n, c in t.columns.items())})"
                  for t in tests if not t.predictions[g.name] and not t.proxy and t.test.tested and not t.rejected),
        )
        for g in graphs
    )
    return VerdictTable(tests, verdicts, alpha, correction, {k: tuple(v) for k, v in proxies.items()})
