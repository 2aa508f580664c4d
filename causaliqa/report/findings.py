"""What an experiment found, in plain words, and the conventions behind every number (read from results only)."""

from __future__ import annotations

import numpy as np

from causaliqa.report.figures import short_name


def _f(x: float) -> str:
    return "n/a" if x is None or x != x else f"{x:.2f}"


def _ci(ci) -> str:
    return f"[{_f(ci[0])}, {_f(ci[1])}]"


def graph_state(verdict) -> str:
    """A graph's verdict in words: falsified, not contradicted (by k tests), not tested (why: its implications could
    be tested in principle but every test was n/a), or untestable with these variables (it implies none)."""
    if verdict.falsified:
        return "FALSIFIED"
    if verdict.predicted_independent:
        return f"not contradicted ({verdict.predicted_independent} tests)"
    if verdict.not_tested:
        return f"not tested ({verdict.not_tested[0]})"
    return "untestable with these variables"


def column_state(verdict) -> str:
    if verdict.falsified:
        return f"FALSIFIED by {verdict.falsified_by[0]}" + (f" (+{len(verdict.falsified_by) - 1})" if len(verdict.falsified_by) > 1 else "")
    if verdict.tested:
        return f"consistent ({verdict.tested} tests)"
    return f"not tested ({verdict.not_tested[0]})" if verdict.not_tested else "untestable"


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
        untestable = [g for g, v in per.items() if not v.tested and not v.not_tested]
        not_tested = [g for g, v in per.items() if not v.tested and v.not_tested]
        text = f"{short_name(column)} ({node}) is consistent with " + (", ".join(kept) if kept else "none of the testable graphs")
        falsified = [g for g, v in per.items() if v.falsified]
        if falsified:
            text += "; the data contradict " + ", ".join(f"{g} ({per[g].falsified_by[0]})" for g in falsified)
        if not_tested:
            text += "; " + ", ".join(f"{g} was not tested ({per[g].not_tested[0]})" for g in not_tested)
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
        seen = (f"the interval lies in '{o.observed}'" if o.observed != "inconclusive"
                else f"inconclusive: the interval spans more than one of lower / equal (within +-{o.margin}) / higher")
        out.append(f"{o.name}: computing Q with {short_name(c.variant)} instead of {short_name(c.baseline)} changed the held-out "
                   f"AUC for {short_name(c.m)} by {c.difference:+.3f} [{c.ci[0]:+.3f}, {c.ci[1]:+.3f}] (paired permutation "
                   f"p = {c.p_value:.3g}): {seen}" + (f"; {said}." if said else "."))
    return out


def prior_table(evaluation) -> tuple[list[str], list[list[str]]]:
    """Quality as a prior: MAE per protocol, method and Q, best first within each protocol."""
    rows = []
    for protocol in dict.fromkeys(e.protocol for e in evaluation.errors):
        for e in sorted((e for e in evaluation.errors if e.protocol == protocol), key=lambda e: e.mae):
            rows.append([protocol, e.method, short_name(e.q) if ", " not in e.q else "all Q", "yes" if e.uses_task_model else "no",
                         f"{e.mae:.1f} [{e.ci[0]:.1f}, {e.ci[1]:.1f}]", str(e.groups)])
    return ["protocol", "method", "from", "uses the task model", "MAE, accuracy points [95 % CI]", "groups"], rows


def images_to_decide(n_images: int, ci, gap: float) -> int | None:
    """Images an interval of this width would need to shrink to a half-width of ``gap`` (widths scale as
    1 / sqrt(images)); None when the interval is undefined or the gap is zero."""
    lo, hi = ci
    if not (np.isfinite(lo) and np.isfinite(hi)) or gap <= 0 or n_images <= 0:
        return None
    return int(np.ceil(n_images * ((hi - lo) / 2 / gap) ** 2))


def _chance_text(p) -> str:
    pw = p.point_wise
    gap = abs(pw.auc - 0.5)
    if gap >= 0.01:
        need = images_to_decide(pw.n_images, pw.auc_ci, gap)
        tail = f"; about {need:,} images would tell an AUC of {_f(pw.auc)} from 0.5" if need else ""
    else:
        need = images_to_decide(pw.n_images, pw.auc_ci, 0.05)
        tail = f"; about {need:,} images would rule out an AUC of 0.55" if need else ""
    return f"{short_name(p.q)} (AUC {_f(pw.auc)} {_ci(pw.auc_ci)}{tail})"


def ranking_sentence(r) -> str:
    """Which Q predicts M best, said no more strongly than the simultaneous intervals of the differences allow."""
    m = short_name(r.m).removesuffix(".correct")
    best = short_name(r.best)

    def diff(q):
        d, (lo, hi) = r.differences[q]
        return f"{short_name(q)} {d:+.3f} [{lo:+.3f}, {hi:+.3f}]"

    if not r.tied:
        return (f"For {m}, {best} has the highest AUC and the data tell it apart from every other metric (AUC of {best} "
                f"minus each: {'; '.join(diff(q) for q in r.beaten)}; simultaneous 95 % intervals, Bonferroni over "
                f"{len(r.differences)} comparisons).")
    text = (f"For {m}, {best} has the highest AUC, but the data cannot tell it from {', '.join(short_name(q) for q in r.tied)} "
            f"(AUC of {best} minus each: {'; '.join(diff(q) for q in r.tied)}; simultaneous 95 % intervals, Bonferroni "
            f"over {len(r.differences)} comparisons, include 0): they tie")
    if r.beaten:
        text += f"; it is ahead of {', '.join(short_name(q) for q in r.beaten)}"
    return text + "."


def _predictability(results) -> list[str]:
    out = []
    rankings = {r.m: r for r in getattr(results, "rankings", ())}
    for m in dict.fromkeys(p.m for p in results.pairs):
        mine = sorted((p for p in results.pairs if p.m == m), key=lambda p: -np.nan_to_num(p.point_wise.auc, nan=-1))
        if not mine:
            continue
        name = short_name(m).removesuffix(".correct")
        best = mine[0].point_wise
        if not np.isfinite(best.auc):
            out.append(pointwise_not_estimable(name, best))
            continue
        if m in rankings:
            text = ranking_sentence(rankings[m])
        else:
            text = (f"Correctness of {name} against {short_name(mine[0].q)}: AUC {_f(best.auc)} {_ci(best.auc_ci)}.")
        text += (f" (Point-wise AUCs are means of {best.splits} 80/20 splits by image; 95 % intervals from an image-id "
                 f"jackknife, each one on its own.)")
        above = [f"{short_name(p.q)} {_ci(p.point_wise.auc_ci)}" for p in mine if p.point_wise.auc_ci[0] > 0.5]
        chance = [_chance_text(p) for p in mine if p.point_wise.auc_ci[0] <= 0.5 <= p.point_wise.auc_ci[1]]
        below = [short_name(p.q) for p in mine if p.point_wise.auc_ci[1] < 0.5]
        if above:
            text += f" Above chance (95 % CI above 0.5): {', '.join(above)}."
        if chance:
            text += f" Inconclusive against chance (the CI includes 0.5): {'; '.join(chance)}."
        if below:
            text += (f" Below 0.5 (the direction fitted on other images predicts held-out images the wrong way): "
                     f"{', '.join(below)}.")
        out.append(text)
    return out


def pointwise_not_estimable(name: str, pw) -> str:
    """Why the point-wise AUC is n/a, and what would make it estimable."""
    held = max(pw.n_images // 5, 0)
    return (f"Point-wise AUC for {name}: not estimable with {pw.n_images} image{'s' if pw.n_images != 1 else ''}: each 80/20 "
            f"split holds out {held} image{'s' if held != 1 else ''}, and a held-out AUC needs variants of at least 2 different "
            f"images with both outcomes (at least 10 images; an interval worth reading needs about 30).")


def _group_wise(results) -> list[str]:
    from causaliqa.stats.correlation import MIN_GROUPS

    trends = [p for p in results.pairs if p.group_wise]
    if not trends:
        return []
    n = trends[0].group_wise.n_groups
    if not trends[0].group_wise.estimable:
        return [f"Group-wise correlations: {n} (corruption, severity) groups are too few to estimate a correlation "
                f"(at least {MIN_GROUPS} are needed; its interval spans most of [-1, 1]); the table lists them for completeness."]

    def corr(p):
        c = p.group_wise.spearman
        return f"{short_name(p.q)} SRCC {c.estimate:+.2f} [{c.ci_low:+.2f}, {c.ci_high:+.2f}]"

    tracks = [corr(p) for p in trends if p.group_wise.spearman.excludes_zero()]
    unclear = [corr(p) for p in trends if not p.group_wise.spearman.excludes_zero()]
    text = f"Across the {n} (corruption, severity) groups:"
    if tracks:
        text += f" mean quality tracks accuracy for {'; '.join(tracks)}."
    if unclear:
        text += f" Inconclusive (the interval includes 0) for {'; '.join(unclear)}."
    flipped = [short_name(p.q) for p in trends if p.group_wise.spearman.excludes_zero() and p.group_wise.pearson.excludes_zero()
               and np.sign(p.group_wise.spearman.estimate) != np.sign(p.group_wise.pearson.estimate)]
    if flipped:
        text += f" Spearman and Pearson disagree in sign for {', '.join(flipped)}: the trend is not monotone and linear alike."
    return [text]


def _conditioning(results) -> list[str]:
    from causaliqa.stats.grouped import MIN_GROUPS

    out = []
    for attr, what in (("by_label", "Holding the label fixed (App. G, per-label CV with an image's variants kept in one fold)"),
                       ("by_image", "Holding the image fixed (App. G, per-image CV over its variants)")):
        found = [(p, getattr(p, attr)) for p in results.pairs if getattr(p, attr)]
        if not found:
            continue
        usable = [(p, g) for p, g in found if g.estimable]
        if not usable:
            g = found[0][1]
            need = ("labels with at least 2 images each" if attr == "by_label" else f"images with at least {2 * g.n_folds} variants")
            out.append(f"{what}: not estimable here: {g.groups_used} of {g.n_groups} groups could be scored and a mean over "
                       f"groups needs at least {MIN_GROUPS} (it needs {need}).")
            continue
        parts = [f"{short_name(p.q)} {_f(g.mean_auc)} {_ci(g.auc_ci)}" for p, g in sorted(usable, key=lambda pg: -np.nan_to_num(pg[1].mean_auc))]
        text = f"{what}: mAUC {'; '.join(parts)} (95 % intervals over groups, each on its own)."
        reversed_ = [short_name(p.q) for p, g in usable if g.auc_ci[1] < 0.5]
        if reversed_:
            text += (f" Below 0.5 for {', '.join(reversed_)}: the direction fitted on some variants of a group predicts its "
                     f"held-out variants the wrong way, so within groups Q's relation to correctness reverses or is not monotone.")
        out.append(text)
    return out


def _mixtures(results) -> list[str]:
    if not results.mixtures:
        return []
    if not any(np.isfinite(m.mean_auc) for m in results.mixtures):
        return ["Mild-corruption mixtures (§6.3): not estimable here: no mixture has a held-out AUC (each mixture holds one "
                "variant per image, and a held-out AUC needs at least 10 images with both outcomes among the held-out ones)."]
    parts = []
    for mix in sorted((m for m in results.mixtures if np.isfinite(m.mean_auc)), key=lambda m: -m.mean_auc):
        band = mix.mean_null
        where = ("" if band is None else (" (outside the no-association band of the mean " if not band.contains(mix.mean_auc)
                                            else " (inside the no-association band of the mean ") + f"{_ci((band.low, band.high))})")
        scored = sum(1 for n in mix.nulls if n is not None)
        parts.append(f"{short_name(mix.q)} {_f(mix.mean_auc)}{where}" + (f", {mix.outside_null} of {scored} p_c outside their own band" if scored else ""))
    return [f"Mild-corruption mixtures (§6.3), mAUC over p_c: {'; '.join(parts)}. A band is where the statistic lands with "
            f"M permuted across images (no association); inside it, these data show no association."]


def findings(results) -> list[str]:
    """One paragraph per topic: predictability, group-wise trends, conditioning, mixtures, graphs, interventions.
    No sentence claims more than its interval supports; where an interval cannot decide, it says so and what would."""
    out = _predictability(results) + _group_wise(results) + _conditioning(results) + _mixtures(results)
    if results.verdict:
        states = [f"{v.graph}: {graph_state(v)}" for v in results.verdict.verdicts]
        text = "Graphs: " + "; ".join(states) + "."
        if all(v.predicted_independent == 0 and not v.not_tested for v in results.verdict.verdicts):
            text += (" None of them implies an independence among the bound variables that these data can test (each "
                     "implication holds given the image X, which cannot be conditioned on), so the data cannot contradict them.")
        out.append(text)
        out.extend(consistency_sentences(results.verdict))
    out.extend(intervention_sentences(results.interventions))
    return out


def conventions(results) -> list[str]:
    """Every statistical convention used, with its settings: one item per topic."""
    spec = results.experiment.spec
    a = spec.analyses
    pw = results.pairs[0].point_wise if results.pairs else None
    splits = pw.splits if pw else a.splits
    return [
        f"Point-wise AUC and CE (paper §4.2): logistic P(M | Q) fitted on 80 % of the image ids and evaluated on the other "
        f"20 % (every variant of an image on one side, clean variants included); the {splits} splits are rounds of a 5-fold "
        f"partition of the ids, so each image is held out equally often; the value is the mean over splits, their range is "
        f"shown apart. The AUC counts pairs of held-out variants of different images (the population AUC; pairs within an "
        f"image are App. G's question) and ranks by the fitted linear predictor.",
        "Point-wise 95 % CI: delete-a-group jackknife over image ids (the ids dealt into up to 100 groups; each replicate "
        "leaves one group out and redoes every split's fitted direction and held-out AUC; estimate +- t x the jackknife "
        "standard error; coverage 0.95 measured by simulation on clustered variants; CE keeps each split's fit). Where the "
        "fitted direction flips between replicates, as with a weak association on few images, the interval widens up to "
        "[0, 1]: the data cannot tell the direction. Intervals are per pair; the ranking sentence uses simultaneous "
        "intervals (Bonferroni over the comparisons with the best).",
        f"Group-wise KRCC, PLCC, SRCC: mean Q against accuracy over the (corruption, severity) groups"
        f"{', the clean images a group of their own' if a.clean_group else ' (clean images are not a group, as in the paper)'}, "
        f"signed, scipy's p-values; Kendall and Spearman CIs: {a.n_boot}-resample expanded percentile bootstrap over "
        f"groups; Pearson: Fisher's z; fewer than 8 groups: too few to estimate.",
        f"Per label and per image (App. G): {a.folds}-fold CV within each group, folds stratified by M; per label the "
        f"folds keep all variants of an image together (a label needs 2 images); a fold counts when its training and test "
        f"parts hold both classes; separated training folds count for AUC (scored on the linear predictor) but not for CE; "
        f"CIs: delete-one-group jackknife over groups; fewer than 10 groups: not estimable.",
        f"Mixtures (§6.3): the point-wise procedure per p_c; each p_c's no-association band and the band of the mean over "
        f"p_c come from {a.null_permutations} permutations of M across images scored on the same splits (the k-th smallest "
        f"and largest values, k = floor(0.025 (permutations + 1)): 95 % coverage exactly under no association).",
        f"Interventions: the paired jackknife CI of the AUC difference on the same replicates, each computation aligned to "
        f"run with correctness; outcomes lower / equal / higher are the regions below -{a.equivalence_margin}, within "
        f"+-{a.equivalence_margin} (the equivalence margin) and above +{a.equivalence_margin}; a prediction agrees only "
        f"when the CI lies in its region, disagrees only when the CI misses it, else inconclusive.",
        f"CI tests: rows are variants of images, so tests respect the image id (image-level variables on one row per image; "
        f"otherwise the generalised covariance measure with cross-fitted flexible regressions and image-id cluster sums; "
        f"fewer than 30 image ids: not tested); a graph's verdict uses Holm within the valid tests of the independences "
        f"that graph implies (alpha {a.ci_tests.alpha}); tests through a proxy never falsify.",
        f"Random streams: seed {spec.seed} feeds separate streams for the splits, the jackknife groups, the CV folds, the "
        f"correlations' resamples and each kind of permutation, so changing how many of one are drawn (--n-boot) changes "
        f"nothing else.",
    ]
