"""Scoring commands: estimators, score, compact. Flags are checked here, before any image is read."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from causaliqa.cli.app import app, user_errors
from causaliqa.errors import CausaliqaError


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
    limit: Annotated[Optional[int], typer.Option(max=10**12, help="Only the first N image ids.")] = None,
    estimator: Annotated[Optional[list[str]], typer.Option("--estimator", "-e", help="ESTIMATOR[:OUTPUT], repeatable (see `causaliqa estimators`).")] = None,
    out: Annotated[Optional[str], typer.Option(help="Store: a folder, a file:// URI, or s3://bucket/prefix (gs://, az://), credentials from the environment (default: scores; with an experiment, its out:).")] = None,
    batch_size: Annotated[Optional[int], typer.Option(min=1, max=1_000_000, help="Images per forward pass (default: 4 on CPU, 256 on CUDA).")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    workers: Annotated[Optional[int], typer.Option(min=0, max=1024, help="Decoding/corruption worker processes (default: half the cores).")] = None,
    part_size: Annotated[int, typer.Option(min=1, max=100_000_000, help="Rows per Parquet part written during the run.")] = 512,
    rescore: Annotated[bool, typer.Option("--rescore", help="Re-score stored rows whose label or image file changed, and columns whose estimator (weights, seed, options) changed, instead of stopping.")] = False,
    strict_labels: Annotated[bool, typer.Option("--strict-labels", help="An image without a label is an error (default: a warning with the count).")] = False,
    backend: Annotated[Optional[str], typer.Option(help="local (default; one process) or ray (Ray Data on a cluster: pip install 'causaliqa[ray]'). Same rows, same store.")] = None,
    address: Annotated[Optional[str], typer.Option(help="With --backend ray: auto (the cluster `ray start` made), HOST:PORT or ray://HOST:PORT; none starts Ray on this machine.")] = None,
    actors: Annotated[Optional[int], typer.Option(min=1, max=1_000_000, help="With --backend ray: scoring actors, each loading every estimator once (default: one per GPU; on CPUs, actors of up to 4 CPUs that leave a quarter of the cluster to decoding).")] = None,
    cpus_per_actor: Annotated[Optional[float], typer.Option(min=0.01, max=1_000_000, help="With --backend ray: CPUs (and torch threads) per scoring actor (default: up to 4).")] = None,
) -> None:
    """Score images (clean and corrupted variants) with every estimator in one batched pass; resumable.

    Holds the store's writer lock; Ctrl-C keeps what was scored. Every estimator's weights load before the
    first image; a stored value whose input or estimator changed stops the run (or is re-scored with --rescore).
    Without --labels the rows are stored unlabelled (label -1): quality scores and confidences need no labels,
    correctness (:correct) does.

    \b
    causaliqa score --images my_images -e tv -e efficientnet_lite0:max_prob --out my_scores
    causaliqa score --images val --labels val.csv --corruptions fog --severities 1,3 -e efficientnet_lite0:correct
    """
    ray = {"backend": backend, "address": address, "actors": actors, "cpus_per_actor": cpus_per_actor}
    summary = score_command(experiment, images, labels, imagenet_c, corruptions, severities, limit, estimator or [], out,
                            batch_size, device, workers, part_size, rescore, strict_labels, ray)
    rescored = f", {summary.rescored} re-scored" if summary.rescored else ""
    typer.echo(f"{summary.scored} variants scored, {summary.skipped} already in the store, {summary.failed} failed{rescored}; "
               f"{summary.rows} rows in {summary.out} ({summary.images_per_second:.1f} img/s)")


@app.command()
@user_errors
def compact(store: Annotated[str, typer.Argument(help="A score store: a folder, file://, s3://bucket/prefix, gs://, az://.")]) -> None:
    """Rewrite the scores table with one row per variant in few files (every run ends with this when needed);
    a data file the log lists but storage lost is forgotten first (its rows are scored again)."""
    from causaliqa.scoring.store import compact as compact_store
    from causaliqa.scoring.store import require_store, table_uri

    store = require_store(store)
    frame = compact_store(store)
    typer.echo(f"{len(frame)} rows in {table_uri(store, 'scores')}")


@app.command()
@user_errors
def history(store: Annotated[str, typer.Argument(help="A score store: a folder, file://, s3://bucket/prefix, gs://, az://.")]) -> None:
    """The scores table's versions, newest first: when, which command, rows written, columns added
    (`causaliqa analyze OUT --as-of VERSION` reads one)."""
    from causaliqa.scoring.store import history as store_history

    for v in store_history(store):
        added = f", added {', '.join(v.new_columns)}" if v.new_columns else ""
        typer.echo(f"{v.version:>5}  {v.when}  {v.operation.lower():<9} {v.rows:>9} rows  {v.command}{added}")


@app.command()
@user_errors
def migrate(store: Annotated[Path, typer.Argument(help="A store folder of the older Parquet layout (scores.parquet, parts/).")]) -> None:
    """Rewrite a store of causaliqa's older Parquet layout as Delta tables, in place; the old files are kept in
    OUT/pre-delta-<time>/."""
    from causaliqa.scoring.migrate import migrate_store

    done = migrate_store(store)
    typer.echo(f"{done.rows} rows x {done.columns} estimator columns, {done.failures} failures, {done.mixtures} mixture rows "
               f"now in {done.out} (Delta tables); the old files are in {done.kept_in}")




@app.command()
@user_errors
def plan(
    experiment: Annotated[Path, typer.Argument(help="An experiment file: what its store still lacks is planned.")],
    nodes: Annotated[int, typer.Option(min=1, max=1_000_000, help="Machines in the Ray cluster.")] = 1,
    cpus_per_node: Annotated[int, typer.Option(min=1, max=1_000_000, help="CPUs per machine.")] = 2,
    gpus_per_node: Annotated[int, typer.Option(min=0, max=100_000, help="GPUs per machine (0: estimators run on CPU actors).")] = 0,
    actors: Annotated[Optional[int], typer.Option(min=1, max=1_000_000, help="Scoring actors (default: as `score --backend ray` lays out the cluster).")] = None,
    cpus_per_actor: Annotated[Optional[float], typer.Option(min=0.01, max=1_000_000, help="CPUs per scoring actor (default: scoring.cpus_per_actor, else as `score --backend ray`).")] = None,
    stages: Annotated[Optional[Path], typer.Option(help="Per-stage costs (default: benchmarks/results/stages.json, written by `make bench`).")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override an experiment field, as in `causaliqa run`.")] = None,
    everything: Annotated[bool, typer.Option("--all", help="Plan every variant, not only what the store lacks.")] = False,
) -> None:
    """Expected wall time and bottleneck stage of `score --backend ray` on a cluster of this shape.

    From per-stage costs measured on one core of this machine (decode, each corruption, each estimator; GPU figures
    only where a GPU was there). Nothing is scored.

    \b
    causaliqa plan experiments/demo.yaml --nodes 8 --cpus-per-node 32 --gpus-per-node 0
    causaliqa plan experiments/demo.yaml --all --set dataset.limit=1300 --set dataset.corruptions=all
    """
    from causaliqa.experiment.config import load_experiment
    from causaliqa.experiment.run import plan_experiment
    from causaliqa.scoring.plan import plan_lines

    result, costs = plan_experiment(load_experiment(experiment, set_ or []), nodes, cpus_per_node, gpus_per_node, actors,
                                    cpus_per_actor, stages, everything)
    typer.echo("\n".join(plan_lines(result, costs)))


FLAGS = {"limit": "--limit", "images": "--images", "labels": "--labels", "severities": "--severities", "corruptions": "--corruptions"}


def score_command(experiment, images, labels, imagenet_c, corruptions, severities, limit, estimators, out,
                  batch_size, device, workers, part_size, rescore=False, strict_labels=False, ray=None):
    from causaliqa.data.datasets import DatasetSpec, build_records, parse_severities
    from causaliqa.scoring.bindings import make_bindings
    from causaliqa.scoring.ray_backend import RayOptions, check_backend
    from causaliqa.scoring.run import require_labels, resolve_device, score_images
    from causaliqa.scoring.store import check_store_path
    from causaliqa.yamlio import validate_model

    if experiment is not None:
        from causaliqa.experiment.config import load_experiment
        from causaliqa.experiment.run import score_experiment

        return score_experiment(load_experiment(experiment, out=out), batch_size=batch_size, device=device, workers=workers,
                                rescore=rescore, ray=ray)
    if images is None:
        raise CausaliqaError("causaliqa score", "--images", "an image folder (or an experiment file)", "nothing")
    if not estimators:
        raise CausaliqaError("causaliqa score", "--estimator", "at least one estimator", "none")
    corr = corruptions if corruptions in ("all", "none") else [c.strip() for c in corruptions.split(",") if c.strip()]
    spec = validate_model(DatasetSpec, {
        "kind": "imagenet_c" if imagenet_c else "imagenet_val", "images": str(images), "labels": str(labels) if labels else None,
        "limit": limit, "corruptions": corr, "severities": parse_severities(severities), "strict_labels": strict_labels,
    }, "causaliqa score", field_names=FLAGS)
    options = RayOptions(**{k: v for k, v in (ray or {}).items() if k != "backend" and v is not None})
    backend = (ray or {}).get("backend") or "local"
    check_backend(backend, options.address)
    resolve_device(device, here=backend == "local")
    out = check_store_path(out or "scores")
    bindings = make_bindings(estimators)  # validate names before walking the images
    records, members = build_records(spec, "causaliqa score")
    require_labels(records, bindings, "causaliqa score")
    return score_images(records, bindings, out, batch_size=batch_size, device=device, workers=workers,
                        part_size=part_size, mixtures=members, rescore=rescore, backend=backend, ray=options)
