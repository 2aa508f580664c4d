"""What an experiment found, in plain words, and the conventions behind every number (read from results only)."""

from __future__ import annotations

import numpy as np

from causaliqa.report.figures import short_name


def _f(x: float) -> str:
    return "n/a" if x is None or x != x else f"{x:.2f}"


def _ci(ci) -> str:
    return f"[{_f(ci[0])}, {_f(ci[1])}]"


def graph_state(verdict) -> str:
    """A graph's verdict in words: falsified, not contradicted (by k tests), or untestable with these variables."""
    if verdict.falsified:
        return "FALSIFIED"
    if verdict.predicted_independent == 0:
        return "untestable with these variables"
    return f"not contradicted ({verdict.predicted_independent} tests)"


def column_state(verdict) -> str:
    if verdict.falsified:
        return f"FALSIFIED by {verdict.falsified_by[0]}" + (f" (+{len(verdict.falsified_by) - 1})" if len(verdict.falsified_by) > 1 else "")
    return "untestable" if verdict.tested == 0 else f"consistent ({verdict.tested} tests)"


def has_column_verdicts(verdict) -> bool:
    """Whether any reading of a multi-column node could be contradicted (else the per-reading view says nothing)."""
    return any(v.tested for v in verdict.by_column)


def consistency_table(verdict) -> tuple[list[str], list[list[str]]]:
    """Rows: each column of a multi-column node (each quality metric); columns: each graph with that reading."""
    graphs = [v.graph for v in verdict.verdicts]
    rows = []
    for node, column in dict.fromkeys((v.node, v.column) for v in verdict.by_column):
        rows.append([f"{node} = {short_name(column)}", *[column_state(verdict.column_verdict(g, column)) for g in graphs]])
    return ["reading", *graphs], rows


def consistency_sentences(verdict) -> list[str]:
    """In plain words: which graphs each metric is consistent with (those the data could contradict, and did not)."""
    graphs = [v.graph for v in verdict.verdicts]
    out = []
    if not has_column_verdicts(verdict):
        return out
    for node, column in dict.fromkeys((v.node, v.column) for v in verdict.by_column):
        per = {g: verdict.column_verdict(g, column) for g in graphs}
        kept = [g for g, v in per.items() if not v.falsified and v.tested]
        untestable = [g for g, v in per.items() if not v.tested]
        text = f"{short_name(column)} ({node}) is consistent with " + (", ".join(kept) if kept else "none of the testable graphs")
        falsified = [g for g, v in per.items() if v.falsified]
        if falsified:
            text += "; the data contradict " + ", ".join(f"{g} ({per[g].falsified_by[0]})" for g in falsified)
        if untestable:
            text += "; " + ", ".join(untestable) + " cannot be contradicted with these variables"
        out.append(text + ".")
    return out


def intervention_table(outcomes) -> tuple[list[str], list[list[str]]]:
    """Prediction vs result, side by side: one row per (intervention, variant, M)."""
    graphs = list(dict.fromkeys(g for o in outcomes for g in o.predictions))
    rows = []
    for o in outcomes:
        c = o.comparison
        cells = [f"{o.predictions[g]}: {o.agreement[g]}" if g in o.predictions else "-" for g in graphs]
        rows.append([o.name, short_name(c.m), f"{short_name(c.baseline)} -> {short_name(c.variant)}", f"{c.auc_baseline:.3f}",
                     f"{c.auc_variant:.3f}", f"{c.difference:+.3f} [{c.ci[0]:+.3f}, {c.ci[1]:+.3f}]", f"{c.p_value:.3g}",
                     o.observed, *cells])
    return ["intervention", "M", "Q computed by", "AUC before", "AUC after", "difference [95 % CI]", "paired permutation p",
            "observed", *[f"{g} predicts" for g in graphs]], rows


def intervention_sentences(outcomes) -> list[str]:
    out = []
    for o in outcomes:
        c = o.comparison
        said = "; ".join(f"{g} predicted {p} ({o.agreement[g]})" for g, p in o.predictions.items())
        out.append(f"{o.name}: computing Q with {short_name(c.variant)} instead of {short_name(c.baseline)} changed the held-out "
                   f"AUC for {short_name(c.m)} by {c.difference:+.3f} [{c.ci[0]:+.3f}, {c.ci[1]:+.3f}] (paired permutation "
                   f"p = {c.p_value:.3g}): {o.observed}" + (f"; {said}." if said else "."))
    return out


def findings(results) -> list[str]:
    """One paragraph per topic: predictability, group-wise trends, conditioning, mixtures, graphs."""
    out = []
    for m in dict.fromkeys(p.m for p in results.pairs):
        mine = sorted((p for p in results.pairs if p.m == m), key=lambda p: -np.nan_to_num(p.point_wise.auc, nan=-1))
        if not mine:
            continue
        best = mine[0].point_wise
        above = [short_name(p.q) for p in mine if p.point_wise.auc_ci[0] > 0.5]
        chance = [short_name(p.q) for p in mine if p.point_wise.auc_ci[0] <= 0.5 <= p.point_wise.auc_ci[1]]
        below = [short_name(p.q) for p in mine if p.point_wise.auc_ci[1] < 0.5]
        text = (f"Correctness of {short_name(m).removesuffix('.correct')} is best predicted by {short_name(mine[0].q)}: AUC "
                f"{_f(best.auc)} {_ci(best.auc_ci)} (mean of {best.splits} 80/20 splits by image; the splits ranged "
                f"{_f(best.auc_range[0])}-{_f(best.auc_range[1])}).")
        if above:
            text += f" AUC above chance (95 % CI above 0.5): {', '.join(above)}."
        if chance:
            text += f" Indistinguishable from chance: {', '.join(chance)}."
        if below:
            text += f" Below 0.5 (the score runs against correctness as fitted on other images): {', '.join(below)}."
        out.append(text)
    trends = [p for p in results.pairs if p.group_wise]
    if trends:
        g = trends[0].group_wise
        parts = [f"{short_name(p.q)} SRCC {p.group_wise.spearman.estimate:+.2f}" for p in trends]
        text = f"Across the {g.n_groups} (corruption, severity) groups, mean quality tracks accuracy: {'; '.join(parts)}."
        flipped = [short_name(p.q) for p in trends
                   if np.sign(p.group_wise.spearman.estimate) != np.sign(p.group_wise.pearson.estimate)]
        if flipped:
            text += f" Spearman and Pearson disagree in sign for {', '.join(flipped)}: the trend is not monotone and linear alike."
        out.append(text)
    cond = [(p, p.by_image) for p in results.pairs if p.by_image]
    if cond:
        p, g = max(cond, key=lambda pg: np.nan_to_num(pg[1].mean_auc))
        out.append(f"Holding the image fixed (App. G), {short_name(p.q)} still predicts correctness best: mAUC {_f(g.mean_auc)} "
                   f"{_ci(g.auc_ci)} over {g.folds_used} folds of {g.groups_used} images.")
    if results.mixtures:
        null = next((m.null for m in results.mixtures if m.null), None)
        parts = [f"{short_name(m.q)} {_f(m.mean_auc)}" for m in sorted(results.mixtures, key=lambda m: -np.nan_to_num(m.mean_auc))]
        text = f"Mild-corruption mixtures (§6.3), mAUC over p_c: {'; '.join(parts)}."
        if null:
            text += f" With M permuted across images the AUC falls in {_ci((null.low, null.high))}: values inside it show no association."
        out.append(text)
    if results.verdict:
        states = [f"{v.graph}: {graph_state(v)}" for v in results.verdict.verdicts]
        text = "Graphs: " + "; ".join(states) + "."
        if all(v.predicted_independent == 0 for v in results.verdict.verdicts):
            text += (" None of them implies an independence among the bound variables that these data can test (each "
                     "implication holds given the image X, which cannot be conditioned on), so the data cannot contradict them.")
        out.append(text)
        out.extend(consistency_sentences(results.verdict))
    out.extend(intervention_sentences(results.interventions))
    return out


def conventions(results) -> str:
    """Every statistical convention used, with its settings."""
    spec = results.experiment.spec
    a = spec.analyses
    pw = results.pairs[0].point_wise if results.pairs else None
    splits = pw.splits if pw else a.splits
    return (
        f"Conventions. Point-wise AUC and CE (paper §4.2): logistic P(M | Q) fitted on 80 % of the image ids and evaluated on "
        f"the other 20 % (every variant of an image on one side, clean variants included), repeated over {splits} random "
        f"splits; the reported value is the mean over splits, the spread their range, and the 95 % CI the percentile "
        f"interval of a bootstrap whose resampling unit is the test image id (all its variants move together; {a.n_boot // splits} resamples per split, {a.n_boot // splits * splits} in all). Group-wise KRCC, PLCC, "
        f"SRCC: mean Q against accuracy over the (corruption, severity) groups"
        f"{', the clean images a group of their own' if a.clean_group else ' (clean images are not a group, as in the paper)'}, "
        f"signed, scipy's p-values, {a.n_boot}-resample bootstrap CIs over groups. Per label and per image (App. G): "
        f"{a.folds}-fold CV within each group, folds stratified by M; a fold counts when its training and test parts hold "
        f"both classes; separated training folds count for AUC (the slope's sign is known) but not for CE; every exclusion is "
        f"counted below; CIs resample groups ({a.n_boot} resamples). Mixtures (§6.3): the point-wise procedure per p_c; the "
        f"no-association band permutes M across images ({a.null_permutations} permutations, scored on the analysis's own "
        f"splits). CI tests: rows are variants of images, so tests "
        f"respect the image id (image-level variables on one row per image; otherwise the generalised covariance measure "
        f"with spline adjustment and image-id cluster sums); a graph's verdict uses Holm within the valid tests of the "
        f"independences that graph implies (alpha {a.ci_tests.alpha}); tests through a proxy never falsify. Seeds: {spec.seed} draws the splits and their resamples (split by split, in "
        f"that order), the CV folds and, on its second stream, the group resamples; {spec.seed} + 7919 the permutations. "
        f"Resamples are drawn as a loop over resamples draws them and scored as count-weighted statistics, which equal "
        f"the loop's results exactly (tests/test_fast_paths.py)."
    )
