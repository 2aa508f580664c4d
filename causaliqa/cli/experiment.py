"""Experiment commands: analyze, run, demo, simulate. The library returns results; these present them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from causaliqa.cli.app import app, user_errors
from causaliqa.errors import CausaliqaError


@app.command()
@user_errors
def analyze(
    store: Annotated[str, typer.Argument(help="A score store (folder, file://, s3://bucket/prefix, gs://, az://), or an experiment file (re-analyse its store and rewrite its report).")],
    m: Annotated[Optional[list[str]], typer.Option("--m", help="With a store: correctness column(s) for M, e.g. efficientnet_lite0.correct.")] = None,
    q: Annotated[Optional[list[str]], typer.Option("--q", help="With a store: quality column(s) for Q, e.g. iqa:brisque.score.")] = None,
    seed: Annotated[int, typer.Option(min=0, max=2**63 - 1, help="Seeds every random draw: splits, jackknife groups, folds, resamples, permutations.")] = 0,
    n_boot: Annotated[int, typer.Option(min=10, max=1_000_000, help="Bootstrap resamples of the group-wise correlations (the point-wise and CV intervals are jackknives).")] = 1000,
    splits: Annotated[int, typer.Option(min=1, max=1000, help="Repeated 80/20 splits by image id (point-wise and mixtures).")] = 10,
    null_permutations: Annotated[int, typer.Option(min=0, max=1_000_000, help="Permutations for the mixtures' no-association band (0: none).")] = 200,
    mixtures: Annotated[bool, typer.Option(help="Analyse the store's mixtures (its mixtures table) when it has them.")] = True,
    progress: Annotated[bool, typer.Option(help="A progress bar per analysis stage (on stderr).")] = True,
    json_out: Annotated[Optional[Path], typer.Option("--json-out", help="Also write all results as JSON here.")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="With an experiment: override a field, e.g. analyses.splits=20.")] = None,
    out: Annotated[Optional[str], typer.Option("--out", help="With an experiment: the store to read (default: the file's out:).")] = None,
    report: Annotated[Optional[str], typer.Option("--report", help="With an experiment: where the report goes (default: the file's report:, else the store).")] = None,
    as_of: Annotated[Optional[int], typer.Option("--as-of", min=0, help="With a store: read the scores table as it was at this version (`causaliqa history` lists them).")] = None,
) -> None:
    """Re-analyse without scoring: group-wise KRCC/SRCC/PLCC with bootstrap CIs, point-wise AUC/CE, per-label and per-image CV,
    and the store's mixtures (paper §6.3). Prints the seconds each stage took.

    \b
    causaliqa analyze out/demo --m efficientnet_lite0.correct --q iqa:piqe.score
    causaliqa analyze experiments/demo.yaml      # also CI tests, verdicts and the report
    causaliqa analyze experiments/demo.yaml --out myrun --report myrun/report

    Paths on the command line are relative to the current folder; paths inside an experiment file, to the file.
    """
    from causaliqa.analysis import analyse_store
    from causaliqa.atomic import write_json_atomic
    from causaliqa.cli.present import check_output_file, store_analysis_lines

    if Path(store).suffix in (".yaml", ".yml"):
        if as_of is not None:
            raise CausaliqaError("causaliqa analyze", "--as-of", "a store as the first argument (an experiment reads its store's latest version)", store)
        _run_and_print(Path(store), set_ or [], score=False, out=out, report=report)
        return
    if out or report or set_:
        raise CausaliqaError("causaliqa analyze", "--out/--report/--set", "an experiment file as the first argument (with a store folder, the store is the argument)", store)
    from causaliqa.scoring.store import require_store

    store = require_store(store)
    if not m or not q:
        raise CausaliqaError("causaliqa analyze", "--m/--q", "at least one --m and one --q column with a store folder", "none")
    if json_out:
        check_output_file(json_out, "--json-out")
    results = analyse_store(store, m, q, seed=seed, n_boot=n_boot, splits=splits, mixtures=mixtures, n_perm=null_permutations,
                            progress=progress, version=as_of)
    typer.echo("\n".join(store_analysis_lines(results)))
    if json_out:
        write_json_atomic(json_out, results.to_dict())


def _power_table(truth, against, images: str, sims: int, seed: int, alpha: float) -> None:
    from causaliqa.simulate import design_power
    from causaliqa.table import format_table

    if not against:
        raise CausaliqaError("causaliqa simulate --design", "--test", "at least one graph to test against the simulated designs", "none")
    try:
        sizes = [int(x) for x in images.split(",") if x.strip()]
    except ValueError:
        raise CausaliqaError("causaliqa simulate", "--images", "comma-separated whole numbers, e.g. 5,10,20,40", repr(images)) from None
    if not sizes or min(sizes) < 2:
        raise CausaliqaError("causaliqa simulate", "--images", "numbers of images of at least 2", repr(images))
    rows = []
    for n in sizes:
        rates = design_power(truth, against, n, sims, seed, alpha=alpha)
        rows.append([str(n), str(n * 15), *[f"{rates[g.name]:.2f}" for g in against]])
    typer.echo(f"share of {sims} simulated designs from {truth.name} that falsify each graph (alpha {alpha}, Holm within graph):")
    typer.echo(format_table(["images", "variants", *[g.name for g in against]], rows))


def _run_and_print(experiment: Path, overrides: list[str], score: bool = True, out=None, report=None, stand_in: bool = False,
                   **scoring) -> None:
    from causaliqa.experiment.config import load_experiment
    from causaliqa.experiment.run import run_experiment
    from causaliqa.cli.present import experiment_summary

    exp = load_experiment(experiment, overrides, out=out, report=report, stand_in=stand_in)
    if exp.stand_in:
        typer.echo(f"warning: {exp.stand_in}", err=True)
    results, files = run_experiment(exp, score=score, **scoring)
    typer.echo("\n".join(experiment_summary(results)))
    typer.echo(f"\nreport: {files['html']}  (also {files['markdown'].name}, {files['results'].name}, figures/)")


@app.command()
@user_errors
def run(
    experiment: Annotated[Path, typer.Argument(help="Experiment file (experiments/*.yaml).")],
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override a field: dataset.images=/data/val, dataset.limit=100; repeatable.")] = None,
    batch_size: Annotated[Optional[int], typer.Option(min=1, max=1_000_000, help="Overrides scoring.batch_size.")] = None,
    device: Annotated[Optional[str], typer.Option(help="auto, cpu, cuda or cuda:N (overrides scoring.device).")] = None,
    workers: Annotated[Optional[int], typer.Option(min=0, max=1024, help="Decoding/corruption worker processes.")] = None,
    rescore: Annotated[bool, typer.Option("--rescore", help="Re-score stored values whose inputs or estimators changed instead of stopping.")] = False,
    out: Annotated[Optional[str], typer.Option("--out", help="Store folder for the scores (default: the file's out:).")] = None,
    report: Annotated[Optional[str], typer.Option("--report", help="Report folder (default: the file's report:, else the store folder).")] = None,
    stand_in: Annotated[bool, typer.Option("--stand-in", help="If the images are missing, run on scikit-image's 5 photographs (experiments with fallback: skimage; illustrative only, and the report says so).")] = False,
) -> None:
    """Run an experiment: score (reusing the store), the paper's analyses, CI tests per graph, report.

    Paths on the command line (--out, --report, --set dataset.images=...) are relative to the current folder;
    paths inside the experiment file are relative to the file. A missing image folder is an error.

    \b
    causaliqa run experiments/demo.yaml
    causaliqa run experiments/demo.yaml --set dataset.images=my_images --set dataset.labels=my_labels.csv --out myrun
    causaliqa run experiments/table1_nr_iqa.yaml --set dataset.images=/data/imagenet-c --device cuda
    """
    _run_and_print(experiment, set_ or [], batch_size=batch_size, device=device, workers=workers, rescore=rescore, out=out,
                   report=report, stand_in=stand_in)


@app.command()
@user_errors
def simulate(
    graph: Annotated[Path, typer.Argument(help="Graph file.")],
    n: Annotated[int, typer.Option("--n", min=2, max=10_000_000, help="Rows.")] = 1000,
    seed: Annotated[int, typer.Option(min=0, max=2**63 - 1, help="Seeds the model's weights and the draws.")] = 0,
    binary: Annotated[str, typer.Option(help="Comma-separated binary nodes (logistic link); default: M where the graph has it.")] = "",
    categorical: Annotated[str, typer.Option(help="Comma-separated categorical nodes.")] = "",
    out: Annotated[Optional[Path], typer.Option("-o", "--out", help="Write the data (.parquet or .csv).")] = None,
    test: Annotated[Optional[list[Path]], typer.Option("--test", help="Graph files to test against the data (graphs x tests table); repeatable.")] = None,
    correction: Annotated[str, typer.Option(help="holm or bh.")] = "holm",
    alpha: Annotated[float, typer.Option(min=0.0, max=1.0)] = 0.05,
    design: Annotated[bool, typer.Option("--design", help="A full-factorial IQA design from a graph over C, S, X0 (graphs/design_*.yaml): "
                                                  "prints how often each --test graph is falsified (power table).")] = False,
    images: Annotated[str, typer.Option(help="With --design: comma-separated numbers of images (x 5 corruptions x 3 severities).")] = "5,10,20,40",
    sims: Annotated[int, typer.Option(min=1, max=100_000, help="With --design: simulated designs per size.")] = 20,
) -> None:
    """Draw data from a random linear/logistic structural model over GRAPH; optionally test graphs against it.

    \b
    causaliqa simulate graphs/shared_features.yaml --n 3000 --test graphs/baseline.yaml --test graphs/shared_features.yaml
    causaliqa simulate graphs/design_full_image.yaml --design --test graphs/design_condition_only.yaml \
        --test graphs/design_content_only.yaml      # share of designs that falsify each graph, per number of images
    """
    from causaliqa.cli.present import verdict_lines
    from causaliqa.graph import load_graph
    from causaliqa.simulate import column_kinds
    from causaliqa.simulate import simulate as draw
    from causaliqa.verdict import graph_verdicts

    g = load_graph(graph)
    binary_nodes, categorical_nodes = _names(binary), _names(categorical)
    against = [load_graph(p) for p in (test or [])]
    if design:
        _power_table(g, against, images, sims, seed, alpha)
        return
    if out is not None and out.suffix not in (".parquet", ".csv"):
        raise CausaliqaError("--out", None, "a .parquet or .csv file", str(out))
    if out is not None:
        from causaliqa.cli.present import check_output_file

        check_output_file(out, "--out")
    data = draw(g, n, seed, binary_nodes or None, categorical_nodes)
    typer.echo(f"{n} rows from a random linear/logistic model over {g.name} (seed {seed}); columns: {', '.join(data.columns)}")
    if out is not None:
        from causaliqa.atomic import atomic_path

        with atomic_path(out) as tmp:
            data.to_parquet(tmp, index=False) if out.suffix == ".parquet" else data.to_csv(tmp, index=False)
        typer.echo(f"wrote {out}")
    if against:
        kinds = column_kinds(g, binary_nodes or ["M"], categorical_nodes)
        table = graph_verdicts(data, against, {v: [v] for v in data.columns}, kinds, alpha=alpha, correction=correction)
        typer.echo("\n".join(verdict_lines(table)))


def _names(text: str) -> list[str]:
    """``--binary M,Yhat`` -> ["M", "Yhat"]."""
    return [x.strip() for x in text.split(",") if x.strip()]


@app.command()
@user_errors
def demo(
    experiment: Annotated[Path, typer.Option(help="The experiment to run.")] = Path("experiments/demo.yaml"),
    graphs: Annotated[Path, typer.Option(help="Folder of graph files whose claims are checked first.")] = Path("graphs"),
) -> None:
    """The main job on the embedded default: check the paper's claims, then run experiments/demo.yaml (offline).

    The demo's store is its own cache: values an older causaliqa computed differently (a changed estimator
    identity) are re-scored, as `run --rescore` would.
    """
    from causaliqa.graph import graph_files, load_graph
    from causaliqa.graph.claims import check_claims

    results = check_claims([load_graph(p) for p in graph_files([graphs])])
    typer.echo(f"theory: {sum(r.ok for r in results)} of {len(results)} claims of the graphs in {graphs}/ hold (causaliqa check {graphs}/)\n")
    _run_and_print(experiment, [], rescore=True, stand_in=True)
    if not all(r.ok for r in results):
        raise typer.Exit(1)


