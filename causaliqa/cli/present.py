"""Results as terminal text: the paper's table (built here only), conditioning lines, experiment summaries,
simulation verdicts. The library returns frozen result objects; nothing below computes a statistic."""

from __future__ import annotations

from causaliqa.report.figures import short_name
from causaliqa.table import format_table

def paper_table(pairs, short: bool = False, conditioning: bool = False) -> str:
    """The paper's table as terminal text (built by ``causaliqa.report.tables``, the one place it is built)."""
    from causaliqa.report.tables import paper_table as build

    return format_table(*build(pairs, with_ci=False, short=short, conditioning=conditioning))


def mixture_text(mix) -> str:
    """mAUC over p_c against its own no-association band, and how many p_c values leave theirs."""
    if mix.mean_auc != mix.mean_auc:
        return (f"not estimable over {len(mix.fractions)} fractions (no held-out AUC: a mixture holds one variant per image, "
                "and a held-out AUC needs at least 10 images with both outcomes)")
    band = (f" (no-association band of the mean [{mix.mean_null.low:.3f}, {mix.mean_null.high:.3f}])" if mix.mean_null else "")
    scored = sum(1 for n in mix.nulls if n is not None)
    outside = f"; {mix.outside_null} of {scored} p_c outside their own band" if scored else ""
    return f"mAUC {mix.mean_auc:.3f} over {len(mix.fractions)} fractions{band}{outside}"


def ranking_lines(rankings) -> list[str]:
    """Per M: which Q predicts best, and which the data cannot tell apart from it (simultaneous 95 % intervals)."""
    from causaliqa.report.findings import ranking_sentence

    return [ranking_sentence(r) for r in rankings]


def conditioning_lines(pairs) -> list[str]:
    out = []
    for r in pairs:
        for g in (r.by_label, r.by_image):
            if g:
                out.append(f"{r.m} ~ {r.q} | {g.by}: mAUC {g.mean_auc:.3f} [{g.auc_ci[0]:.3f}, {g.auc_ci[1]:.3f}] over "
                           f"{g.folds_used} of {g.folds_total} folds ({g.folds_separated} separated, kept for AUC; excluded: "
                           f"{g.folds_test_one_class} one-class test, {g.folds_train_one_class} one-class training), "
                           f"mean CE {g.mean_cross_entropy:.3f}")
    return out


def store_analysis_lines(results) -> list[str]:
    """What `causaliqa analyze STORE` prints: the paper's table, conditioning lines, mixtures, stage timings."""
    lines = [paper_table(results.pairs), *conditioning_lines(results.pairs)]
    for mix in results.mixtures:
        lines.append(f"{mix.m} ~ {mix.q} | mixtures: {mixture_text(mix)}")
    lines += ranking_lines(results.rankings)
    lines.append("seconds: " + ", ".join(f"{stage} {s:.1f}" for stage, s in results.timings.items()))
    return lines


def prior_lines(evaluations) -> list[str]:
    """One line per M: the best quality prior under ATC's protocol, beside ATC."""
    lines = []
    for evaluation in evaluations:
        best = evaluation.best("clean -> each group")
        atc = min((e for e in evaluation.errors if e.protocol == "clean -> each group" and e.method.startswith("ATC")),
                  key=lambda e: e.mae, default=None)
        if best is not None:
            lines += ["", f"quality as a prior on {short_name(evaluation.m)} (fitted on clean images, each group predicted): best "
                      f"{best.method} from {short_name(best.q) if ', ' not in best.q else 'all Q'}, MAE {best.mae:.1f} points"
                      + (f"; {atc.method} {atc.mae:.1f}" if atc else "")]
    return lines


def experiment_summary(results) -> list[str]:
    """What `causaliqa run` prints: the paper's table, mixtures, the verdict per graph and per reading, interventions."""
    from causaliqa.report.findings import consistency_sentences, consistency_table, graph_state, has_column_verdicts, intervention_table

    lines = ([results.experiment.stand_in, ""] if results.experiment.stand_in else [])
    lines += [f"{results.experiment.name}: {results.n_rows} scored variants", "", paper_table(results.pairs, short=True, conditioning=True)]
    lines += ranking_lines(results.rankings)
    lines += prior_lines(results.prior)
    if results.mixtures:
        lines += ["", "mild-corruption mixtures:"] + [f"  {short_name(m.q)}: {mixture_text(m)}" for m in results.mixtures]
    if results.verdict:
        v = results.verdict
        lines += ["", f"graphs (Holm within each graph's implied independences, alpha {v.alpha}; {len(v.tests)} tests in the appendix):"]
        for g in v.verdicts:
            state = f"FALSIFIED by {len(g.falsified_by)} test(s): {'; '.join(g.falsified_by[:3])}" if g.falsified else graph_state(g)
            lines.append(f"  {g.graph}: {state}")
        if has_column_verdicts(v):
            lines += ["", "per reading (Holm within the graph's tests with that column):", format_table(*consistency_table(v)), ""]
            lines += consistency_sentences(v)
    if results.interventions:
        lines += ["", "interventions (held-out AUC after vs before, paired):", format_table(*intervention_table(results.interventions))]
    return lines


def verdict_lines(table) -> list[str]:
    """A graphs x tests table and one verdict line per graph (``causaliqa simulate --test``)."""
    from causaliqa.report.findings import graph_state

    lines = ["", format_table(table.header(), table.rows()), ""]
    lines += [f"{v.graph}: {'FALSIFIED by ' + '; '.join(v.falsified_by) if v.falsified else graph_state(v)}" for v in table.verdicts]
    return lines


def check_output_file(path, where: str) -> None:
    """An output file can be written there: its folder exists and it is not itself a folder (checked before work)."""
    from pathlib import Path

    from causaliqa.errors import CausaliqaError

    path = Path(path)
    if path.is_dir():
        raise CausaliqaError(where, None, "a file path to write", f"{path} is a folder")
    if not path.parent.is_dir():
        raise CausaliqaError(where, None, "a file in an existing folder", f"no folder {path.parent}")


def _pct(x: float) -> str:
    return "n/a" if x != x else f"{100 * x:.1f}"


def prediction_lines(result) -> list[str]:
    """`causaliqa predict`: the overall table, the per-group table, the causal reading of each Q, notes."""
    from causaliqa.report.figures import short_name
    from causaliqa.table import format_table

    labelled = any(e.actual == e.actual for e in result.estimates)
    lines = [f"reference: {result.reference_rows} rows of {result.reference_images} images, accuracy {_pct(result.reference_accuracy)} %; "
             f"target: {result.target_rows} rows of {result.target_images} images",
             f"predicted accuracy of {short_name(result.m).removesuffix('.correct')} on the target (%, 95 % interval from "
             f"{result.n_boot} image-id resamples of reference and target):"]
    overall = [e for e in result.estimates if e.group == "all"]
    header = ["method", "from", "predicted [95 % CI]"] + (["actual"] if labelled else [])
    lines.append(format_table(header, [[e.method, short_name(e.q) if ", " not in e.q else "all Q", f"{_pct(e.accuracy)} [{_pct(e.ci[0])}, {_pct(e.ci[1])}]"]
                                       + ([_pct(e.actual)] if labelled else []) for e in overall]))
    groups = [e for e in result.estimates if e.group != "all"]
    if groups:
        best = overall[0]
        mine = [e for e in groups if e.method == best.method and e.q == best.q]
        lines += ["", f"per group ({best.method} from {short_name(best.q)}):",
                  format_table(["group", "rows", "predicted [95 % CI]"] + (["actual"] if labelled else []),
                               [[e.group, e.rows, f"{_pct(e.accuracy)} [{_pct(e.ci[0])}, {_pct(e.ci[1])}]"] + ([_pct(e.actual)] if labelled else [])
                                for e in mine])]
    lines += ["", "what the graphs say about each Q:"] + [f"  {short_name(q)}: {text}" for q, text in result.reading.items()]
    lines += [f"note: {n}" for n in result.notes]
    lines.append(f"seconds: {result.seconds:.1f}")
    return lines


def evaluation_lines(result) -> list[str]:
    """`causaliqa predict --evaluate`: MAE per protocol, method and Q, best first."""
    from causaliqa.report.figures import short_name
    from causaliqa.table import format_table

    lines = [f"mean absolute error of the predicted accuracy of {short_name(result.m).removesuffix('.correct')}, in accuracy "
             "points, over held-out groups (95 % interval: groups resampled; they share images, so it is indicative):"]
    for protocol in dict.fromkeys(e.protocol for e in result.errors):
        mine = sorted((e for e in result.errors if e.protocol == protocol), key=lambda e: e.mae)
        lines += ["", f"{protocol} ({mine[0].groups} groups):",
                  format_table(["method", "from", "uses the task model", "MAE [95 % CI]"],
                               [[e.method, short_name(e.q) if ", " not in e.q else "all Q", "yes" if e.uses_task_model else "no",
                                 f"{e.mae:.1f} [{e.ci[0]:.1f}, {e.ci[1]:.1f}]"] for e in mine])]
    lines += ["", "what the graphs say about each Q:"] + [f"  {short_name(q)}: {text}" for q, text in result.reading.items()]
    lines.append(f"seconds: {result.seconds:.1f}")
    return lines


def profile_lines(result) -> list[str]:
    from causaliqa.report.figures import short_name

    lines = [f"{result.target_rows} rows profiled against the reference's (corruption, severity) cells (Wasserstein-1 distance "
             "between Q distributions, in reference standard deviations):"]
    for p in result.profiles:
        near = "; ".join(f"{name} ({d:.2f})" for name, d in p.nearest)
        lines.append(f"  {short_name(p.q)}: looks most like {p.nearest[0][0] if p.nearest else 'n/a'}; nearest: {near}; "
                     f"{100 * p.outside_range:.1f} % of rows outside the reference's range [{p.reference_range[0]:.3g}, {p.reference_range[1]:.3g}]")
        if p.reading:
            lines.append(f"    {p.reading}")
    if result.prediction is not None:
        lines += ["", *prediction_lines(result.prediction)]
    return lines
