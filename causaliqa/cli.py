"""The ``causaliqa`` command line. Command bodies are thin; the logic lives in the library."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from causaliqa.errors import CausaliqaError

app = typer.Typer(
    help="Causal analysis of image-quality metrics (IQA) and DNN robustness: declare DAGs, query "
    "d-separation, score images, test the implied independencies against data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    typer.echo(f"warning: {message}", err=True)


def user_errors(func):
    """Print a user mistake on one line and exit 2, without a traceback; an interrupted run says what it kept."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        import warnings

        from causaliqa.errors import Interrupted

        from causaliqa.errors import CausaliqaWarning

        previous = warnings.showwarning
        warnings.showwarning = _show_warning
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("always", CausaliqaWarning)
                return func(*args, **kwargs)
        except CausaliqaError as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from None
        except Interrupted as stop:
            typer.echo(str(stop), err=True)
            raise typer.Exit(stop.exit_code) from None
        except KeyboardInterrupt:  # outside scoring nothing is half-written (every file is replaced atomically)
            typer.echo("interrupted: nothing was written by this command", err=True)
            raise typer.Exit(130) from None
        finally:
            warnings.showwarning = previous

    return wrapper


def _is_path(text: str) -> bool:
    return Path(text).exists() or text.endswith((".yaml", ".yml")) or text.endswith("/")


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
    if len(targets) == 2 and not _is_path(targets[1]):
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


@app.command()
@user_errors
def estimators(pattern: Annotated[str, typer.Argument(help="Glob pattern, e.g. 'iqa:*' or '*resnet*'.")] = "*") -> None:
    """List the estimators that can be bound to graph nodes."""
    from causaliqa.estimators import list_estimators

    for name in list_estimators(pattern):
        typer.echo(name)


@app.command()
@user_errors
def score(
    experiment: Annotated[Optional[Path], typer.Argument(help="An experiment file (its dataset and bindings); or use the flags.")] = None,
    images: Annotated[Optional[Path], typer.Option(help="ImageNet-val folder (flat + --labels, or wnid sub-folders), or ImageNet-C root with --imagenet-c.")] = None,
    labels: Annotated[Optional[Path], typer.Option(help="Labels: CSV file,label[,wnid] or text 'file label'.")] = None,
    imagenet_c: Annotated[bool, typer.Option("--imagenet-c", help="--images is an ImageNet-C root <corruption>/<severity>/<wnid>/.")] = False,
    corruptions: Annotated[str, typer.Option(help="'all', 'none' or comma-separated ImageNet-C names, generated on the fly.")] = "none",
    severities: Annotated[str, typer.Option(help="Severities: 1-5, or 1,3,5.")] = "1-5",
    limit: Annotated[Optional[int], typer.Option(help="Only the first N image ids.")] = None,
    estimator: Annotated[Optional[list[str]], typer.Option("--estimator", "-e", help="ESTIMATOR[:OUTPUT], repeatable (see `causaliqa estimators`).")] = None,
    out: Annotated[Path, typer.Option(help="Store folder (Parquet).")] = Path("scores"),
    batch_size: Annotated[Optional[int], typer.Option(min=1, help="Images per forward pass (default: 4 on CPU, 256 on CUDA).")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    workers: Annotated[Optional[int], typer.Option(min=0, help="Decoding/corruption worker processes (default: half the cores).")] = None,
    part_size: Annotated[int, typer.Option(min=1, help="Rows per Parquet part written during the run.")] = 512,
    rescore: Annotated[bool, typer.Option("--rescore", help="Re-score stored rows whose label or image file changed, and columns whose estimator (weights, seed, options) changed, instead of stopping.")] = False,
    strict_labels: Annotated[bool, typer.Option("--strict-labels", help="An image without a label is an error (default: a warning with the count).")] = False,
) -> None:
    """Score images (clean and corrupted variants) with every estimator in one batched pass; resumable.

    Holds the store's writer lock; Ctrl-C keeps what was scored. Every estimator's weights load before the
    first image; a stored value whose input or estimator changed stops the run (or is re-scored with --rescore).
    """
    from causaliqa.scoring.cli_support import score_command

    summary = score_command(experiment, images, labels, imagenet_c, corruptions, severities, limit, estimator or [], out,
                            batch_size, device, workers, part_size, rescore, strict_labels)
    rescored = f", {summary.rescored} re-scored" if summary.rescored else ""
    typer.echo(f"{summary.scored} variants scored, {summary.skipped} already in the store, {summary.failed} failed{rescored}; "
               f"{summary.rows} rows in {summary.out} ({summary.images_per_second:.1f} img/s)")


@app.command()
@user_errors
def compact(store: Annotated[Path, typer.Argument(help="A score store folder.")]) -> None:
    """Fold a store's parts into OUT/scores.parquet (runs do this only when the parts grow large)."""
    from causaliqa.scoring.store import compact as compact_store
    from causaliqa.scoring.store import require_store, writer_lock

    require_store(store)
    with writer_lock(store, "causaliqa compact"):
        frame = compact_store(store, force=True)
    typer.echo(f"{len(frame)} rows in {store}/scores.parquet")


@app.command()
@user_errors
def analyze(
    store: Annotated[Path, typer.Argument(help="A score store folder, or an experiment file (re-analyse its store and rewrite its report).")],
    m: Annotated[Optional[list[str]], typer.Option("--m", help="With a store: correctness column(s) for M, e.g. efficientnet_lite0.correct.")] = None,
    q: Annotated[Optional[list[str]], typer.Option("--q", help="With a store: quality column(s) for Q, e.g. iqa:brisque.score.")] = None,
    seed: Annotated[int, typer.Option()] = 0,
    n_boot: Annotated[int, typer.Option(min=10, help="Bootstrap resamples.")] = 1000,
    json_out: Annotated[Optional[Path], typer.Option("--json-out", help="Also write all results as JSON here.")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="With an experiment: override a field, e.g. out=runs/a.")] = None,
) -> None:
    """Re-analyse without scoring: group-wise KRCC/SRCC/PLCC with bootstrap CIs, point-wise AUC/CE, per-label and per-image CV.

    \b
    causaliqa analyze out/demo --m efficientnet_lite0.correct --q iqa:piqe.score
    causaliqa analyze experiments/demo.yaml      # also CI tests, verdicts and the report
    """
    from causaliqa.analysis import TABLE_HEADER, analyse_store
    from causaliqa.atomic import write_json_atomic
    from causaliqa.table import format_table

    if store.suffix in (".yaml", ".yml"):
        _run_and_print(store, set_ or [], score=False)
        return
    from causaliqa.scoring.store import require_store

    require_store(store)
    if not m or not q:
        raise CausaliqaError("causaliqa analyze", "--m/--q", "at least one --m and one --q column with a store folder", "none")
    results = analyse_store(store, m, q, seed=seed, n_boot=n_boot)
    typer.echo(format_table(TABLE_HEADER, [r.row() for r in results]))
    for r in results:
        for g in (r.by_label, r.by_image):
            if g:
                typer.echo(f"{r.m} ~ {r.q} | {g.by}: mAUC {g.mean_auc:.3f} [{g.auc_ci[0]:.3f}, {g.auc_ci[1]:.3f}] over "
                           f"{g.folds_used} of {g.folds_total} folds ({g.folds_separated} separated, kept for AUC; excluded: "
                           f"{g.folds_test_one_class} one-class test, {g.folds_train_one_class} one-class training), mCE {g.mean_cross_entropy:.3f}")
    if json_out:
        write_json_atomic(json_out, [r.to_dict() for r in results])


def _run_and_print(experiment: Path, overrides: list[str], score: bool = True, **scoring) -> None:
    from causaliqa.experiment.config import load_experiment
    from causaliqa.experiment.run import run_experiment
    from causaliqa.report import summary_lines

    exp = load_experiment(experiment, overrides)
    results, files = run_experiment(exp, score=score, **scoring)
    typer.echo("\n".join(summary_lines(results)))
    typer.echo(f"\nreport: {files['html']}  (also {files['markdown'].name}, {files['results'].name}, figures/)")


@app.command()
@user_errors
def run(
    experiment: Annotated[Path, typer.Argument(help="Experiment file (experiments/*.yaml).")],
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override a field: dataset.images=/data/val, dataset.limit=100; repeatable.")] = None,
    batch_size: Annotated[Optional[int], typer.Option(min=1, help="Overrides scoring.batch_size.")] = None,
    device: Annotated[Optional[str], typer.Option(help="auto, cpu, cuda or cuda:N (overrides scoring.device).")] = None,
    workers: Annotated[Optional[int], typer.Option(min=0, help="Decoding/corruption worker processes.")] = None,
    rescore: Annotated[bool, typer.Option("--rescore", help="Re-score stored values whose inputs or estimators changed instead of stopping.")] = False,
) -> None:
    """Run an experiment: score (reusing the store), the paper's analyses, CI tests per graph, report.

    \b
    causaliqa run experiments/demo.yaml
    causaliqa run experiments/table1_nr_iqa.yaml --set dataset.images=/data/imagenet-c --device cuda
    """
    _run_and_print(experiment, set_ or [], batch_size=batch_size, device=device, workers=workers, rescore=rescore)


@app.command()
@user_errors
def simulate(
    graph: Annotated[Path, typer.Argument(help="Graph file.")],
    n: Annotated[int, typer.Option("--n", min=2, help="Rows.")] = 1000,
    seed: Annotated[int, typer.Option()] = 0,
    binary: Annotated[str, typer.Option(help="Comma-separated binary nodes (logistic link); default: M where the graph has it.")] = "",
    categorical: Annotated[str, typer.Option(help="Comma-separated categorical nodes.")] = "",
    out: Annotated[Optional[Path], typer.Option("-o", "--out", help="Write the data (.parquet or .csv).")] = None,
    test: Annotated[Optional[list[Path]], typer.Option("--test", help="Graph files to test against the data (graphs x tests table); repeatable.")] = None,
    correction: Annotated[str, typer.Option(help="holm or bh.")] = "holm",
    alpha: Annotated[float, typer.Option(min=0.0, max=1.0)] = 0.05,
) -> None:
    """Draw data from a random linear/logistic structural model over GRAPH; optionally test graphs against it.

    \b
    causaliqa simulate graphs/shared_features.yaml --n 3000 --test graphs/baseline.yaml --test graphs/shared_features.yaml
    """
    from causaliqa.graph import load_graph
    from causaliqa.simulate import simulate_command

    text = simulate_command(load_graph(graph), n, seed, binary, categorical, out,
                            [load_graph(p) for p in (test or [])], correction, alpha)
    typer.echo(text)


@app.command()
@user_errors
def demo(
    experiment: Annotated[Path, typer.Option(help="The experiment to run.")] = Path("experiments/demo.yaml"),
    graphs: Annotated[Path, typer.Option(help="Folder of graph files whose claims are checked first.")] = Path("graphs"),
) -> None:
    """The main job on the embedded default: check the paper's claims, then run experiments/demo.yaml (offline)."""
    from causaliqa.graph import graph_files, load_graph
    from causaliqa.graph.claims import check_claims

    results = check_claims([load_graph(p) for p in graph_files([graphs])])
    typer.echo(f"theory: {sum(r.ok for r in results)} of {len(results)} claims of the graphs in {graphs}/ hold (causaliqa check {graphs}/)\n")
    _run_and_print(experiment, [])
    if not all(r.ok for r in results):
        raise typer.Exit(1)


def main() -> None:  # console-script entry point
    app()


if __name__ == "__main__":
    sys.exit(main())
