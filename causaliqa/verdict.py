"""Graphs x tests: what each declared graph predicts (d-separation) and what the data say (CI tests).

A statement is over graph nodes (``Q _||_ M | Y``); each node is bound to one or more data columns
(Q to several metrics, M to several task models), and the statement is tested once per choice of
columns. The multiple-testing family of a graph's verdict is the tests of the independences *that
graph* implies, excluding proxy tests and tests that are not valid (n/a: separation, tautology, too
few rows); Holm's correction runs within that family, so a graph is judged only by what it claims.
A graph is falsified by a test in its family whose Holm-adjusted p-value is below alpha. The
exploratory column (Benjamini-Hochberg over every valid test) lists dependences; it judges no graph.

Nodes that cannot be conditioned on (the image X) may be given a *proxy* (image id, label). A test
through a proxy is reported but never falsifies a graph: conditioning on the proxy does not fix the
node, so the graph's prediction for the node says nothing certain about the proxy.
"""

from __future__ import annotations

import itertools
from types import MappingProxyType
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from causaliqa.errors import CausaliqaError
from causaliqa.graph.model import CausalGraph, did_you_mean
from causaliqa.graph.query import Query, parse_query
from causaliqa.serialize import Serializable, Tabular
from causaliqa.stats.citest import CITest, adjust_pvalues, ci_test

# what conditioning on a proxy column can and cannot show (the report quotes these)
PROXY_COLUMNS = ("image_id", "label", "corruption", "severity")
PROXY_MEANING = {
    "image_id": "holds the image content and its label fixed; the corruption still varies within a stratum, so the "
                "image X is not fixed. A graph implying independence given X does not imply it given the image id: "
                "a rejection here cannot falsify it. What it shows is whether Q predicts M among variants of one "
                "image (paper App. G), i.e. through what the corruption did to X.",
    "label": "holds the ground-truth class fixed; images of a class still differ in content and corruption. It can show "
             "whether Q predicts M beyond the class (paper §4.2, Fig 20b); it cannot stand in for X.",
    "corruption": "holds the corruption type fixed; content and severity still vary.",
    "severity": "holds the severity fixed; content and corruption type still vary.",
}


@dataclass(frozen=True)
class Statement(Serializable):
    json_properties = ('text',)
    @property
    def text(self) -> str:
        return str(self)

    left: str
    right: str
    given: tuple[str, ...] = ()

    @property
    def key(self) -> tuple:
        return (frozenset((self.left, self.right)), frozenset(self.given))

    def __str__(self) -> str:
        return str(Query(frozenset([self.left]), frozenset([self.right]), frozenset(self.given)))


@dataclass(frozen=True)
class TestedStatement(Serializable):
    """One statement tested on one choice of columns, with every graph's prediction.

    ``p_holm`` maps each graph whose verdict family holds this test to its Holm-adjusted p-value;
    ``p_exploratory`` is the Benjamini-Hochberg value over every valid test (listing only).
    """

    statement: Statement
    columns: dict[str, str]
    test: CITest
    p_exploratory: float
    rejected: bool  # exploratory: dependence listed
    predictions: dict[str, bool]  # graph name -> predicts independence
    proxy: str = ""
    p_holm: dict[str, float] = field(default_factory=dict)
    alpha: float = 0.05

    def in_family(self, graph: str) -> bool:
        return graph in self.p_holm

    def falsifies(self, graph: str) -> bool:
        return self.in_family(graph) and self.p_holm[graph] < self.alpha


@dataclass(frozen=True)
class GraphVerdict(Serializable):
    json_properties = ('falsified',)

    graph: str
    falsified_by: tuple[str, ...]
    predicted_independent: int
    dependences_not_found: tuple[str, ...]
    not_tested: tuple[str, ...] = ()  # implied independences that were attempted but n/a, each with its reason

    @property
    def falsified(self) -> bool:
        return bool(self.falsified_by)

    def __bool__(self) -> bool:  # truthy when the data do not contradict the graph
        return not self.falsified


@dataclass(frozen=True)
class ColumnVerdict(Serializable):
    """A graph with one node bound to one of its columns (Q := BRISQUE): its own hypothesis, judged by Holm within
    the graph's implied independences tested with that column (and those not involving the node)."""

    json_properties = ('falsified',)

    graph: str
    node: str
    column: str
    falsified_by: tuple[str, ...]
    tested: int
    not_tested: tuple[str, ...] = ()

    @property
    def falsified(self) -> bool:
        return bool(self.falsified_by)


@dataclass(frozen=True)
class VerdictTable(Tabular):
    """Every test and every graph's verdict; ``to_frame()``: one row per graph (its verdict and what falsified it)."""

    tests: tuple[TestedStatement, ...]
    verdicts: tuple[GraphVerdict, ...]
    alpha: float
    correction: str
    proxies: dict[str, tuple[str, ...]] = field(default_factory=dict)
    by_column: tuple[ColumnVerdict, ...] = ()

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame([{"graph": v.graph, "falsified": v.falsified, "falsified_by": "; ".join(v.falsified_by),
                              "tests": v.predicted_independent, "not_tested": "; ".join(v.not_tested)} for v in self.verdicts])

    def column_verdict(self, graph: str, column: str) -> ColumnVerdict | None:
        return next((v for v in self.by_column if v.graph == graph and v.column == column), None)

    def rows(self) -> list[list[str]]:
        graphs = [v.graph for v in self.verdicts]
        out = []
        for t in self.tests:
            cols = ", ".join(f"{n}={c}" for n, c in t.columns.items())
            data = "n/a" if not t.test.tested else ("dependent" if t.rejected else "no evidence")
            cells = []
            for g in graphs:
                if not t.predictions[g]:
                    cells.append("dep")
                elif t.in_family(g):
                    cells.append(f"_||_ p={t.p_holm[g]:.2g}" + (" FALSIFIED" if t.falsifies(g) else ""))
                else:
                    cells.append("_||_ (not in family)")
            p = "n/a" if not t.test.tested else f"{t.test.p_value:.2g}"
            pe = "n/a" if not t.test.tested else f"{t.p_exploratory:.2g}"
            out.append([str(t.statement) + (f" [{t.proxy}]" if t.proxy else ""), cols, t.test.method, p, pe, data, *cells, t.test.note or ""])
        return out

    def header(self) -> list[str]:
        return ["statement", "columns", "test", "p", f"p ({self.correction}, exploratory)", "data",
                *[f"{v.graph} (Holm)" for v in self.verdicts], "note"]


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
        for ind in graph.implied_independencies(restrict_to=[*testable, *proxied]):
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


def _by_design(left: str, right: str, given: list[str], frame: pd.DataFrame) -> CITest:
    """A statement among design variables only (image id, label, corruption, severity): the dataset's construction
    settles it (a full factorial makes them independent; the label is a function of the image id), so it is n/a."""
    return CITest(left, right, tuple(given), "none", np.nan, 0, np.nan, len(frame), 0,
                  "between design variables only: set by how the dataset was built, not measured (n/a)")


def graph_verdicts(frame: pd.DataFrame, graphs: list[CausalGraph], columns: dict[str, list[str]], kinds: dict[str, str],
                   proxies: dict[str, list[str]] | None = None, alpha: float = 0.05, correction: str = "holm",
                   max_given: int = 2, queries: list[str] = (), clusters: str | None = None) -> VerdictTable:
    """Test every candidate statement on the data and mark the graphs each rejection falsifies.

    ``clusters``: the column whose rows are variants of one unit (the image id); the tests respect it.
    ``correction`` applies to the exploratory listing; verdicts use Holm within each graph's family.
    """
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
            involved = {used[st.left], used[st.right], *cols}
            if involved <= set(PROXY_COLUMNS):
                test = _by_design(used[st.left], used[st.right], cols, frame)
            else:
                test = ci_test(frame, used[st.left], used[st.right], cols, kinds,
                               clusters=clusters if clusters and clusters in frame.columns and clusters not in involved else None)
            raw.append((st, used, test, proxy_text))
    p_exploratory = adjust_pvalues([t.p_value for _, _, t, _ in raw], correction)
    predictions = {st.key: {g.name: bool(g.is_separated(st.left, st.right, st.given, explain=False)) for g in graphs} for st in statements}
    holm: list[dict[str, float]] = [{} for _ in raw]
    for g in graphs:  # each graph's family: the valid, non-proxy tests of independences it implies
        family = [i for i, (st, _, test, proxy) in enumerate(raw) if predictions[st.key][g.name] and not proxy and test.tested]
        for i, p in zip(family, adjust_pvalues([raw[i][2].p_value for i in family], "holm")):
            holm[i][g.name] = float(p)
    frozen = MappingProxyType  # results hold read-only mappings
    tests = tuple(
        TestedStatement(st, frozen(used), test, float(p), bool(np.isfinite(p) and p < alpha), frozen(predictions[st.key]), proxy,
                        frozen(holm[i]), alpha)
        for i, ((st, used, test, proxy), p) in enumerate(zip(raw, p_exploratory))
    )
    verdicts = tuple(
        GraphVerdict(
            g.name,
            tuple(f"{t.statement} ({', '.join(f'{n}={c}' for n, c in t.columns.items())})" for t in tests if t.falsifies(g.name)),
            sum(1 for t in tests if t.in_family(g.name)),
            tuple(f"{t.statement} ({', '.join(f'{n}={c}' for n, c in t.columns.items())})"
                  for t in tests if not t.predictions[g.name] and not t.proxy and t.test.tested and not t.rejected),
            _not_tested(t for t in tests if t.predictions[g.name]),
        )
        for g in graphs
    )
    by_column = _column_verdicts(tests, graphs, columns, alpha)
    return VerdictTable(tests, verdicts, alpha, correction, MappingProxyType({k: tuple(v) for k, v in proxies.items()}), by_column)


def _not_tested(tests) -> tuple[str, ...]:
    """The implied independences whose test could not be run (n/a, not a design statement, not a proxy), with why."""
    design = "between design variables only"
    return tuple(f"{t.statement}: {t.test.note or 'no valid test'}" for t in tests
                 if not t.proxy and not t.test.tested and design not in t.test.note)


def _column_verdicts(tests: tuple[TestedStatement, ...], graphs: list[CausalGraph], columns: dict[str, list[str]],
                     alpha: float) -> tuple[ColumnVerdict, ...]:
    """For each node bound to several columns and each of them: the graph's verdict with the node read as that column."""
    out = []
    for node, cols in columns.items():
        if len(cols) < 2:
            continue
        for g in graphs:
            for col in cols:
                family = [t for t in tests if t.predictions[g.name] and not t.proxy and t.test.tested
                          and t.columns.get(node, col) == col]
                p_holm = adjust_pvalues([t.test.p_value for t in family], "holm") if family else []
                falsified = tuple(f"{t.statement} ({', '.join(f'{n}={c}' for n, c in t.columns.items())})"
                                  for t, p in zip(family, p_holm) if p < alpha)
                untested = _not_tested(t for t in tests if t.predictions[g.name] and t.columns.get(node, col) == col)
                out.append(ColumnVerdict(g.name, node, col, falsified, len(family), untested))
    return tuple(out)
