"""Quality as a prior on performance: predict (and --evaluate) a task model's accuracy, profile a dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from causaliqa.cli.app import app, user_errors
from causaliqa.errors import CausaliqaError


@app.command()
@user_errors
def predict(
    m: Annotated[str, typer.Option("--m", help="The task model's correctness column, e.g. efficientnet_lite0.correct.")],
    q: Annotated[list[str], typer.Option("--q", help="Quality columns to predict from, e.g. iqa:brisque.score; repeatable.")],
    reference: Annotated[Optional[str], typer.Option(help="A labelled store: the reference P(M | Q) is fitted on its rows.")] = None,
    target: Annotated[Optional[str], typer.Option(help="A store (labels not needed) whose accuracy is predicted.")] = None,
    evaluate: Annotated[Optional[str], typer.Option(help="A labelled store with clean and corrupted rows: test every method on shifts it has not seen.")] = None,
    method: Annotated[Optional[list[str]], typer.Option("--method", help="logistic (the paper's P(M | Q)), isotonic; repeatable (default: both).")] = None,
    anchors: Annotated[bool, typer.Option(help="Also AC, DoC and ATC from the task model's own confidences, when both stores hold them.")] = True,
    n_boot: Annotated[int, typer.Option(min=0, max=100_000, help="Image-id resamples of reference and target for the 95 % intervals.")] = 200,
    seed: Annotated[int, typer.Option(min=0, max=2**63 - 1)] = 0,
    risk_out: Annotated[Optional[Path], typer.Option("--risk-out", help="Write each target row's risk (1 - predicted P(M)) per method to this Parquet file, highest first.")] = None,
    figure: Annotated[Optional[Path], typer.Option(help="With --evaluate: predicted against actual accuracy per group (.png).")] = None,
    json_out: Annotated[Optional[Path], typer.Option("--json-out", help="Also write the results as JSON.")] = None,
) -> None:
    """Predict a task model's accuracy on unlabelled images from quality scores (the paper's prior), beside AC, DoC
    and ATC; or, with --evaluate, measure every method's error on labelled shifts it was not fitted on.

    \b
    causaliqa predict --reference out/demo --target my_scores --m efficientnet_lite0.correct --q efficientnet_lite1.max_prob
    causaliqa predict --evaluate out/demo --m efficientnet_lite0.correct --q iqa:brisque.score --q efficientnet_lite1.max_prob
    """
    from causaliqa.cli.present import check_output_file, evaluation_lines, prediction_lines
    from causaliqa.prior import METHODS, evaluate_prior, predict_accuracy, read_store_frame

    methods = tuple(method or METHODS)
    for name in methods:
        if name not in METHODS:
            raise CausaliqaError("causaliqa predict", "--method", f"one of {', '.join(METHODS)}", repr(name))
    for path, flag in ((risk_out, "--risk-out"), (json_out, "--json-out"), (figure, "--figure")):
        if path is not None:
            check_output_file(path, flag)
    if risk_out is not None and risk_out.suffix != ".parquet":
        raise CausaliqaError("--risk-out", None, "a .parquet file", str(risk_out))
    wanted = [m, *q, *_anchor_columns(m)]
    if evaluate:
        if reference or target:
            raise CausaliqaError("causaliqa predict", "--evaluate", "either --evaluate STORE or --reference and --target", "both")
        result = evaluate_prior(read_store_frame(evaluate, wanted + ["label"], "--evaluate"), m, q, methods, anchors, seed=seed)
        typer.echo("\n".join(evaluation_lines(result)))
        if figure is not None:
            from causaliqa.report.figures import predicted_vs_actual

            best = {e.method: e.q for e in sorted(result.errors, key=lambda e: -e.mae) if e.protocol == "clean -> each group"}
            rows = result.rows[result.rows["protocol"] == "clean -> each group"]
            typer.echo(f"figure: {predicted_vs_actual(rows, best, figure.with_suffix(''))[0]}")
    else:
        if not reference or not target:
            raise CausaliqaError("causaliqa predict", "--reference/--target", "a labelled reference store and a target store (or --evaluate STORE)",
                                 "--reference missing" if not reference else "--target missing")
        result = predict_accuracy(read_store_frame(reference, wanted + ["label"], "--reference"),
                                  read_store_frame(target, wanted + ["label"], "--target"), m, q, methods, anchors, n_boot, seed)
        typer.echo("\n".join(prediction_lines(result)))
        if risk_out is not None:
            from causaliqa.atomic import atomic_path

            first = [c for c in result.risk.columns if c.startswith("risk ")][0]
            with atomic_path(risk_out) as tmp:
                result.risk.sort_values(first, ascending=False).to_parquet(tmp, index=False)
            typer.echo(f"risk per row: {risk_out}")
    if json_out is not None:
        from causaliqa.atomic import write_json_atomic

        write_json_atomic(json_out, result.to_dict())


def _anchor_columns(m: str) -> list[str]:
    from causaliqa.prior import anchor_columns

    try:
        return list(anchor_columns(m))
    except Exception:
        return []


@app.command()
@user_errors
def profile(
    store: Annotated[str, typer.Argument(help="The store of the dataset to profile (labels not needed).")],
    reference: Annotated[str, typer.Option(help="A store of reference images scored clean and under corruptions.")],
    q: Annotated[list[str], typer.Option("--q", help="Quality columns; repeatable.")],
    m: Annotated[Optional[str], typer.Option("--m", help="With a task model's correctness in the reference: its predicted accuracy on the dataset.")] = None,
    n_boot: Annotated[int, typer.Option(min=0, max=100_000)] = 200,
    figure: Annotated[Optional[Path], typer.Option(help="Per Q, the dataset's distribution against its nearest reference cells (.png).")] = None,
    json_out: Annotated[Optional[Path], typer.Option("--json-out")] = None,
) -> None:
    """A dataset's quality distribution against the reference's (corruption, severity) cells: which cells it looks
    most like (Wasserstein-1 distance), how much of it lies outside the reference's range, and the predicted accuracy.

    \b
    causaliqa profile my_scores --reference out/demo --q iqa:brisque.score --q efficientnet_lite1.max_prob --m efficientnet_lite0.correct
    """
    from causaliqa.cli.present import check_output_file, profile_lines
    from causaliqa.prior import profile_dataset, read_store_frame

    for path, flag in ((json_out, "--json-out"), (figure, "--figure")):
        if path is not None:
            check_output_file(path, flag)
    columns = [*q, *([m] if m else []), "label"]
    target_frame = read_store_frame(store, columns, "store")
    reference_frame = read_store_frame(reference, columns, "--reference")
    result = profile_dataset(target_frame, reference_frame, q, m, n_boot)
    typer.echo("\n".join(profile_lines(result)))
    if figure is not None:
        from causaliqa.report.figures import quality_profile

        typer.echo(f"figure: {quality_profile(target_frame, reference_frame, result.profiles, figure.with_suffix(''))[0]}")
    if json_out is not None:
        from causaliqa.atomic import write_json_atomic

        write_json_atomic(json_out, result.to_dict())
