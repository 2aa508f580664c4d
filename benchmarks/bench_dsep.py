"""d-separation queries: causaliqa's CausalGraph.is_separated(explain=False) vs networkx is_d_separator.

Small: the paper's graphs plus random DAGs of <= 12 nodes, every pair x conditioning sets; large: random DAGs of
200 nodes, 2000 random queries. Answers must be identical; the target is "not slower" (ratio >= 1).
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import networkx as nx

from causaliqa.graph import load_graph
from causaliqa.graph.model import CausalGraph, Node
from common import report, timed


def random_dag(n: int, p: float, seed: int) -> CausalGraph:
    rng = random.Random(seed)
    names = [f"V{i}" for i in range(n)]
    edges = [f"{names[i]} -> {names[j]}" for i in range(n) for j in range(i + 1, n) if rng.random() < p]
    return CausalGraph.build(edges, nodes={v: Node(v) for v in names}, name=f"dag{seed}")


def queries_for(graph: CausalGraph, count: int, seed: int, max_given: int = 3):
    rng = random.Random(seed)
    nodes = sorted(graph.nodes)
    out = []
    for _ in range(count):
        x, y = rng.sample(nodes, 2)
        rest = [v for v in nodes if v not in (x, y)]
        out.append(({x}, {y}, set(rng.sample(rest, rng.randint(0, min(max_given, len(rest)))))))
    return out


def run(graphs, per_graph: int, seed: int):
    work = [(g, q) for i, g in enumerate(graphs) for q in queries_for(g, per_graph, seed + i)]
    nx_graphs = {g.name: g.to_networkx() for g in graphs}

    def ours():
        return [bool(g.is_separated(x, y, z, explain=False)) for g, (x, y, z) in work]

    def reference():
        return [nx.is_d_separator(nx_graphs[g.name], x, y, z) for g, (x, y, z) in work]

    ours_s, a = timed(ours, 5)
    ref_s, b = timed(reference, 5)
    return ours_s, ref_s, a == b, len(work)


def explained_500(seed: int = 7, queries: int = 10) -> tuple[float, bool]:
    """`causaliqa check`'s work on a 500-node, 1,800-edge DAG: verdict plus bounded explanation (5 paths, counts)."""
    rng = random.Random(seed)
    names = [f"n{i}" for i in range(500)]
    edges: set[tuple[str, str]] = set()
    while len(edges) < 1800:
        i, j = sorted(rng.sample(range(500), 2))
        edges.add((names[i], names[j]))
    graph = CausalGraph.build(sorted(edges))
    slowest, consistent = 0.0, True
    for _ in range(queries):
        a, b = names[rng.randrange(0, 100)], names[rng.randrange(400, 500)]
        given = set(rng.sample(names[100:400], 10))
        seconds, judgement = timed(lambda: graph.is_separated({a}, {b}, given), 1)
        slowest = max(slowest, seconds)
        consistent &= bool(judgement) or bool(judgement.open_paths)  # "not separated" always shows an open path
    return slowest, consistent


def main() -> None:
    small = [load_graph(p) for p in sorted((Path(__file__).resolve().parents[1] / "graphs").glob("*.yaml"))]
    small += [random_dag(n, 0.3, s) for s, n in enumerate(itertools.islice(itertools.cycle(range(4, 13)), 40))]
    s_ours, s_ref, s_same, s_n = run(small, 50, 0)
    large = [random_dag(200, 0.02, 100 + s) for s in range(5)]
    l_ours, l_ref, l_same, l_n = run(large, 400, 1)
    rows = [
        {"workload": f"d-separation, {len(small)} graphs of <= 12 nodes, {s_n} queries", "ours_s": s_ours, "reference_s": s_ref,
         "ratio": s_ref / s_ours, "same_answers": s_same, "target": "same answers; not slower", "met": s_same and s_ref / s_ours >= 1},
        {"workload": f"d-separation, 5 graphs of 200 nodes, {l_n} queries", "ours_s": l_ours, "reference_s": l_ref,
         "ratio": l_ref / l_ours, "same_answers": l_same, "target": "same answers; not slower", "met": l_same and l_ref / l_ours >= 1},
    ]
    explain_s, consistent = explained_500()
    rows.append({"workload": "check with explanation, 500-node 1,800-edge DAG, slowest of 10 queries", "ours_s": explain_s,
                 "reference_s": 1.0, "ratio": 1.0 / explain_s, "open_path_shown_when_connected": consistent,
                 "target": "< 1 s per query (reference = the 1 s budget)", "met": consistent and explain_s < 1.0})
    report("dsep", {"small_graphs": len(small), "large_graph_nodes": 200, "explained_graph_nodes": 500}, rows)


if __name__ == "__main__":
    main()
