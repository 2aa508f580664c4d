"""Graph commands: check, implied, compare, draw."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from causaliqa.cli.app import app, user_errors
from causaliqa.errors import CausaliqaError

QUERY_OPERATORS = ("_||_", "_|_", "⟂", "⊥")


def is_query(text: str) -> bool:
    """``check GRAPH X``: X is a query when it holds an independence operator (``_||_``, ``⟂``, ...), or when it is
    neither an existing file or folder nor a name ending in .yaml, .yml or / (so a malformed query is reported
    as a query, with the grammar's message). Otherwise X is another graph file whose claims are checked."""
    if any(op in text for op in QUERY_OPERATORS):
        return True
    return not (Path(text).exists() or text.endswith((".yaml", ".yml", "/")))


@app.command()
@user_errors
def check(
    targets: Annotated[list[str], typer.Argument(help="GRAPH [QUERY], or graph files and folders to verify every claim.")],
    expect: Annotated[Optional[str], typer.Option(help="With a query: exit 1 unless the verdict is 'separated' or 'connected'.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    paths: Annotated[int, typer.Option("--paths", min=0, help="Paths to list: open ones first, then blocked ones; the rest are counted.")] = 5,
    no_paths: Annotated[bool, typer.Option("--no-paths", help="Only the verdict.")] = False,
) -> None:
    """Answer a d-separation query with every path and why it is open or blocked, or verify the claims of graph files.

    \b
    causaliqa check graphs/baseline.yaml "Q _||_ M | X"
    causaliqa check graphs/shared_features.yaml "Q _||_ M | X" --expect connected
    causaliqa check graphs/            # every claim of every graph: the paper's theory table
    """
    from causaliqa.graph import graph_files, load_graph
    from causaliqa.graph.claims import check_claims, verdict
    from causaliqa.table import format_table

    if len(targets) == 2 and not targets[1].strip():
        raise CausaliqaError("causaliqa check", "QUERY", "a query such as 'Q _||_ M | X'", "an empty string")
    if len(targets) == 2 and is_query(targets[1]):
        if expect not in (None, "separated", "connected"):
            raise CausaliqaError("--expect", None, "'separated' or 'connected'", repr(expect))
        graph = load_graph(targets[0])
        judgement = graph.is_separated(targets[1], explain=not no_paths, max_paths=paths)
        if as_json:
            typer.echo(json.dumps(judgement.to_dict(), indent=2, ensure_ascii=False))
        else:
            typer.echo(format_judgement(graph.name, judgement))
        if expect and expect != verdict(judgement.separated):
            raise typer.Exit(1)
        return
    if expect:
        raise CausaliqaError("--expect", None, "a single GRAPH and QUERY", f"{len(targets)} graph paths")
    graphs = [load_graph(p) for p in graph_files(targets)]
    results = check_claims(graphs)
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in results], indent=2, ensure_ascii=False))
    else:
        rows = [[r.graph, r.query, r.expected, r.got, "ok" if r.ok else "FAIL"] for r in results]
        typer.echo(format_table(["graph", "claim", "expected", "got", ""], rows))
        failed = sum(not r.ok for r in results)
        typer.echo(f"\n{len(results) - failed} of {len(results)} claims hold in {len(graphs)} graphs.")
    if any(not r.ok for r in results):
        raise typer.Exit(1)


def format_judgement(name: str, judgement) -> str:
    """Verdict first, then open paths, then blocked ones, then what was not listed."""
    from causaliqa.graph.query import Query

    query = Query(judgement.left, judgement.right, judgement.given)
    lines = [f"{name}: {query}  ->  {'separated' if judgement.separated else 'NOT separated'}"]
    if not judgement.explained:
        return lines[0]
    if not judgement.paths and not judgement.more_blocked:
        lines.append("  no path joins the two sides")
    for path in judgement.paths:
        lines.append(f"  {'open   ' if path.is_open else 'blocked'}  {path.text()}")
        lines.append(f"           {path.why()}")
    for kind, more, exact in (("open", judgement.more_open, judgement.more_open_exact),
                              ("blocked", judgement.more_blocked, judgement.more_blocked_exact)):
        if more and exact:
            lines.append(f"  ... and {more} more {kind} path{'s' if more != 1 else ''} (--paths N lists more)")
        elif more:
            lines.append(f"  ... and at least {more} more {kind} paths (counting stopped; --paths N lists more)")
        elif not exact:
            lines.append(f"  ... {kind} paths not searched to the end (time budget)")
    return "\n".join(lines)


@app.command()
@user_errors
def implied(
    graph: Annotated[Path, typer.Argument(help="Graph YAML file.")],
    all_pairs: Annotated[bool, typer.Option("--all-pairs", help="A minimal separator for every non-adjacent pair.")] = False,
    observed_only: Annotated[bool, typer.Option("--observed-only", help="Only separators made of observed/predicted nodes.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Stop after this many statements (each costs one linear-time search).")] = 1000,
) -> None:
    """List the conditional independencies the graph implies (the testable implications).

    Default: the pairwise Markov basis, one statement per non-adjacent pair (as dagitty lists them).
    --all-pairs and --observed-only search a minimal separator per non-adjacent pair: O(pairs x (nodes +
    edges)), about 125,000 searches on a 500-node chain, so output stops at --limit statements.
    """
    from causaliqa.graph import load_graph

    g = load_graph(graph)
    restrict = g.nodes_with_role("observed", "predicted") if observed_only else None
    found = g.implied_independencies(all_pairs=all_pairs, restrict_to=restrict, limit=limit + 1)
    stopped = len(found) > limit
    found = found[:limit]
    if as_json:
        typer.echo(json.dumps([i.to_dict() for i in found], indent=2))
        return
    for ind in found:
        typer.echo(str(ind))
    more = f" (stopped at --limit {limit}; more exist)" if stopped else ""
    typer.echo(f"# {len(found)} implied independencies in {g.name}{more}")


@app.command()
@user_errors
def compare(
    graphs: Annotated[list[Path], typer.Argument(help="Graph files or folders.")],
    query: Annotated[list[str], typer.Option("--query", "-q", help="A query; repeat for several.")],
) -> None:
    """Print a graphs x queries table of d-separation verdicts."""
    from causaliqa.graph import graph_files, load_graph, parse_query
    from causaliqa.graph.claims import compare_graphs
    from causaliqa.table import format_table

    loaded = [load_graph(p) for p in graph_files(graphs)]
    queries = [parse_query(q, f"--query[{i}]") for i, q in enumerate(query)]
    typer.echo(format_table(["graph", *map(str, queries)], compare_graphs(loaded, queries)))


@app.command()
@user_errors
def draw(
    graph: Annotated[Path, typer.Argument(help="Graph file, or a folder to draw every graph in it.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Output file (.svg .pdf .png .tex .dot .mmd) or, for a folder, an output folder.")],
    fmt: Annotated[str, typer.Option("--format", help="With a folder: suffix of the files written.")] = "svg",
) -> None:
    """Draw a graph in the paper's style, or write it as TikZ, Graphviz dot or Mermaid."""
    from causaliqa.draw import draw_graph
    from causaliqa.graph import graph_files, load_graph

    if graph.is_dir():
        out.mkdir(parents=True, exist_ok=True)
        for path in graph_files([graph]):
            g = load_graph(path)
            typer.echo(draw_graph(g, out / f"{g.name}.{fmt.lstrip('.')}"))
        return
    typer.echo(draw_graph(load_graph(graph), out))


