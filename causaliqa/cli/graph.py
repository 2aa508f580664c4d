"""Graph commands: check, implied, adjust, compare, draw."""

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
    from causaliqa.graph.io import GRAPH_SUFFIXES

    if any(op in text for op in QUERY_OPERATORS):
        return True
    return not (Path(text).exists() or text.lower().endswith((*GRAPH_SUFFIXES, "/")))


def read_graph(path):
    """A graph file (YAML or dagitty), with what reading it changed said once on stderr."""
    from causaliqa.graph import load_graph

    graph = load_graph(path)
    for note in graph.notes:
        typer.echo(f"note: {graph.source}: {note}", err=True)
    return graph


@app.command()
@user_errors
def check(
    targets: Annotated[list[str], typer.Argument(help="GRAPH [QUERY], or graph files and folders to verify every claim.")],
    expect: Annotated[Optional[str], typer.Option(help="With a query: exit 1 unless the verdict is 'separated' or 'connected'.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    paths: Annotated[int, typer.Option("--paths", min=0, max=1_000_000, help="Paths to list: open ones first, then blocked ones; the rest are counted.")] = 5,
    no_paths: Annotated[bool, typer.Option("--no-paths", help="Only the verdict.")] = False,
) -> None:
    """Answer a d-separation query with every path and why it is open or blocked, or verify the claims of graph files.

    \b
    causaliqa check graphs/baseline.yaml "Q _||_ M | X"
    causaliqa check graphs/shared_features.yaml "Q _||_ M | X" --expect connected
    causaliqa check graphs/            # every claim of every graph: the paper's theory table
    """
    from causaliqa.graph import graph_files
    from causaliqa.graph.claims import check_claims, verdict
    from causaliqa.table import format_table

    if len(targets) == 2 and not targets[1].strip():
        raise CausaliqaError("causaliqa check", "QUERY", "a query such as 'Q _||_ M | X'", "an empty string")
    if len(targets) > 2 and is_query(targets[1]):
        raise CausaliqaError("causaliqa check", "QUERY", "one query after the graph (run check once per query, or use compare --query ... --query ...)",
                             f"{len(targets) - 1} arguments after {targets[0]}")
    if len(targets) == 2 and is_query(targets[1]):
        if expect not in (None, "separated", "connected"):
            raise CausaliqaError("--expect", None, "'separated' or 'connected'", repr(expect))
        graph = read_graph(targets[0])
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
    graphs = [read_graph(p) for p in graph_files(targets)]
    results = check_claims(graphs)
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in results], indent=2, ensure_ascii=False))
    else:
        rows = [[r.graph, r.query, r.expected, r.got, "ok" if r.ok else "FAIL"] for r in results]
        typer.echo(format_table(["graph", "claim", "expected", "got", ""], rows))
        failed = sum(not r.ok for r in results)
        typer.echo(f"\n{len(results) - failed} of {len(results)} claims hold in {len(graphs)} graph{'s' if len(graphs) != 1 else ''}.")
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
    graph: Annotated[Path, typer.Argument(help="Graph file (YAML or dagitty).")],
    kind: Annotated[str, typer.Option("--type", help="missing-edge: a minimal separator for every non-adjacent pair (dagitty's default); basis: each node independent of its non-descendants given its parents.")] = "missing-edge",
    all_separators: Annotated[bool, typer.Option("--all-separators", help="Every minimal separator of each pair (dagitty's full missing-edge list), not one.")] = False,
    observed_only: Annotated[bool, typer.Option("--observed-only", help="Only statements made of observed/predicted nodes.")] = False,
    all_pairs: Annotated[bool, typer.Option("--all-pairs", hidden=True, help="Accepted for old scripts: the default already lists every pair.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000_000, help="Stop after this many statements.")] = 1000,
) -> None:
    """List the conditional independencies the graph implies (its testable implications), as dagitty lists them.

    No statement names a latent node (it could not be tested). Selection nodes are in every conditioning set.
    Cost: one linear-time search per non-adjacent pair, O(pairs x (nodes + edges)); output stops at --limit.

    \b
    causaliqa implied graphs/common_corruptions.yaml
    causaliqa implied graphs/baseline.yaml --observed-only --all-separators
    causaliqa implied my_dag.dagitty --type basis
    """
    g = read_graph(graph)
    restrict = g.nodes_with_role("observed", "predicted") if observed_only else None
    found = g.implied_independencies(kind, all_separators=all_separators, restrict_to=restrict, limit=limit + 1)
    stopped = len(found) > limit
    found = found[:limit]
    if as_json:
        typer.echo(json.dumps([i.to_dict() for i in found], indent=2, ensure_ascii=False))
        return
    for ind in found:
        typer.echo(str(ind))
    more = f" (stopped at --limit {limit}; more exist)" if stopped else ""
    what = "basis statements" if kind == "basis" else "implied independencies"
    typer.echo(f"# {len(found)} {what} in {g.name}{more}")


@app.command()
@user_errors
def adjust(
    graph: Annotated[Path, typer.Argument(help="Graph file (YAML or dagitty).")],
    exposure: Annotated[Optional[list[str]], typer.Option("--exposure", "-x", help="Exposure node(s); default: the nodes a dagitty file marks [exposure].")] = None,
    outcome: Annotated[Optional[list[str]], typer.Option("--outcome", "-y", help="Outcome node(s); default: the nodes marked [outcome].")] = None,
    all_sets: Annotated[bool, typer.Option("--all", help="Every valid adjustment set, not only the minimal ones.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000_000, help="Stop after this many sets.")] = 1000,
) -> None:
    """Covariate adjustment sets for the total effect of --exposure on --outcome (dagitty's adjustment sets).

    A set is valid when no member descends from a node on a causal path from the exposure to the outcome and it
    blocks every non-causal path (the generalised adjustment criterion). Latent nodes are never in a set; selection
    nodes are in every set.

    \b
    causaliqa adjust graphs/shared_features.yaml --exposure Q --outcome M
    causaliqa adjust my_dag.dagitty --all
    """
    from causaliqa.graph.adjust import adjustment_sets

    result = adjustment_sets(read_graph(graph), exposure, outcome, minimal=not all_sets, limit=limit)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    else:
        typer.echo("\n".join(result.lines()))


@app.command()
@user_errors
def compare(
    graphs: Annotated[list[Path], typer.Argument(help="Graph files or folders.")],
    query: Annotated[list[str], typer.Option("--query", "-q", help="A query; repeat for several.")],
) -> None:
    """Print a graphs x queries table of d-separation verdicts."""
    from causaliqa.graph import graph_files, parse_query
    from causaliqa.graph.claims import compare_graphs
    from causaliqa.table import format_table

    loaded = [read_graph(p) for p in graph_files(graphs)]
    queries = [parse_query(q, f"--query[{i}]") for i, q in enumerate(query)]
    typer.echo(format_table(["graph", *map(str, queries)], compare_graphs(loaded, queries)))


@app.command()
@user_errors
def draw(
    graph: Annotated[Path, typer.Argument(help="Graph file, or a folder to draw every graph in it.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Output file (.svg .pdf .png .tex .dot .mmd) or, for a folder, an output folder.")],
    fmt: Annotated[str, typer.Option("--format", help="With a folder: suffix of the files written.")] = "svg",
    highlight: Annotated[Optional[str], typer.Option("--highlight", help="A query such as 'Q _||_ M | X': its open paths in red, its conditioning set with a thick border.")] = None,
) -> None:
    """Draw a graph in the paper's style, or write it as TikZ, Graphviz dot or Mermaid.

    \b
    causaliqa draw graphs/shared_features.yaml -o shared.png --highlight "Q _||_ M | X"
    causaliqa draw graphs/ -o figures/ --format pdf
    """
    from causaliqa.draw import draw_graph
    from causaliqa.graph import graph_files

    if graph.is_dir():
        out.mkdir(parents=True, exist_ok=True)
        for path in graph_files([graph]):
            g = read_graph(path)
            typer.echo(draw_graph(g, out / f"{g.name}.{fmt.lstrip('.')}", highlight=highlight))
        return
    typer.echo(draw_graph(read_graph(graph), out, highlight=highlight))


