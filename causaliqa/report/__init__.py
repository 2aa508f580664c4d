"""Write an experiment's report: results.json, report.md, a self-contained report.html and figures."""

from __future__ import annotations

import base64
import re
import html
from pathlib import Path

from causaliqa.verdict import PROXY_MEANING
from causaliqa.report.figures import (
    accuracy_vs_quality, auc_with_ci, conditioning, mixture_auc, mixture_distributions, short_name,
)


def _fmt(x, digits: int = 3) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return "n/a" if x != x else f"{x:.{digits}f}"
    return str(x)


def _ci(ci) -> str:
    return f"[{_fmt(ci[0])}, {_fmt(ci[1])}]"


def _write_text(path: Path, text: str) -> None:
    from causaliqa.atomic import write_text_atomic

    write_text_atomic(path, text)


def _blocks(results, figures: dict[str, list[Path]]) -> list[tuple]:
    """The report as a list of blocks, rendered to Markdown and HTML alike: findings first, tests in an appendix."""
    from causaliqa.report.findings import consistency_table, conventions, findings, graph_state, has_column_verdicts, intervention_table
    from causaliqa.report.tables import paper_table

    exp = results.experiment
    spec = exp.spec
    b: list[tuple] = [("h1", f"{spec.name}: causaliqa report")]
    if exp.stand_in:
        b.append(("p", exp.stand_in + "."))
    if spec.description:
        b.append(("p", " ".join(spec.description.split())))
    b.append(("h2", "Findings"))
    b += [("p", text) for text in findings(results)]
    corr = sorted(set(results.groups["corruption"]) - {"clean"})
    sev = sorted(set(int(s) for s in results.groups["severity"]) - {0})
    data_line = (f"Data: {results.n_rows} scored variants; corruptions: {', '.join(corr) or 'none'}; severities: "
                 f"{', '.join(map(str, sev)) or 'none'}. Bindings: " + "; ".join(
                     f"{n} = {', '.join(short_name(c) for c in bd.columns) or 'the images'}" for n, bd in exp.bindings.items()) + ".")
    if results.scoring:
        s = results.scoring
        data_line += f" Scoring: {s.scored} variants scored, {s.skipped} reused from the store, {s.failed} failed, {s.images_per_second:.1f} img/s."
    b.append(("p", data_line))
    b.append(("h2", "Predictability of M from Q (paper Tables 1-4)"))
    b.append(("table", *paper_table(results.pairs, with_ci=True)))
    b.append(("h3", "Conventions"))
    b.append(("list", conventions(results)))
    b += [("img", f, cap) for f, cap in ((figures.get("accuracy_vs_quality"), "Accuracy against mean Q per (corruption, severity) group (paper Fig 3/5/7)."),
                                         (figures.get("auc"), "Point-wise AUC with 95 % image-id jackknife CIs.")) if f]
    b.append(("h2", "Conditioning on the label and on the image content (paper Fig 20, App. G)"))
    rows = []
    for p in results.pairs:
        for g in (p.by_label, p.by_image):
            if g:
                auc = f"{_fmt(g.mean_auc)} {_ci(g.auc_ci)}" if g.estimable else f"n/a ({g.groups_used} groups; 10 needed)"
                rows.append([short_name(p.m), short_name(p.q), g.by, auc, _fmt(g.mean_cross_entropy) if g.estimable else "n/a",
                             f"{g.groups_used} of {g.n_groups}", f"{g.folds_used} of {g.folds_total}", str(g.folds_separated),
                             str(g.folds_test_one_class), str(g.folds_train_one_class)])
    b.append(("table", ["M", "Q", "given", "mAUC [95 % CI over groups]", "mean CE (non-separated folds)", "groups used", "folds used",
                        "of which separated (AUC only)", "excluded: one-class test fold", "excluded: one-class training fold"], rows))
    if figures.get("conditioning"):
        b.append(("img", figures["conditioning"], "Mean fold AUC of one logistic model per label and per image id, 95 % CI over groups."))
    if results.mixtures:
        b.append(("h2", "Mild-corruption mixtures (paper §6.3)"))
        b.append(("table", ["M", "Q", "p_c values", "mAUC over p_c", "no-association band of the mAUC", "p_c outside their own band",
                            "AUC at smallest p_c [CI]", "AUC at largest p_c [CI]"],
                  [[short_name(m.m), short_name(m.q), str(len(m.fractions)), _fmt(m.mean_auc),
                    _ci((m.mean_null.low, m.mean_null.high)) if m.mean_null else "n/a",
                    f"{m.outside_null} of {sum(1 for n in m.nulls if n is not None)}",
                    f"{_fmt(m.auc[0])} {_ci(m.auc_ci[0])}", f"{_fmt(m.auc[-1])} {_ci(m.auc_ci[-1])}"]
                   for m in results.mixtures]))
        for key, cap in (("mixture_distributions", "Distribution of Q per p_c (paper Fig 21)."),
                         ("mixture_auc", "AUC against p_c with 95 % CIs; grey: the AUC's range with M permuted across images (paper Fig 22).")):
            if figures.get(key):
                b.append(("img", figures[key], cap))
    if results.verdict:
        v = results.verdict
        b.append(("h2", "Verdict per graph"))
        b.append(("p", "A graph is falsified when the data reject an independence it implies: Holm's correction within the "
                       f"valid tests of that graph's own implied independences, alpha = {v.alpha}. 'Untestable with these "
                       "variables': the graph implies no independence among the bound variables that can be tested. A "
                       "dependence a graph allows but the data do not show is listed, not held against it (it can be a lack of power)."))
        b.append(("table", ["graph", "verdict", "falsified by", "tests in its family", "allowed dependences not found"],
                  [[g.graph, graph_state(g), "; ".join(g.falsified_by) or "-", str(g.predicted_independent),
                    str(len(g.dependences_not_found))] for g in v.verdicts]))
        if has_column_verdicts(v):
            b.append(("p", "Each reading of a node bound to several columns is its own hypothesis (the graph with Q computed by "
                           "that metric), judged by Holm within the graph's implied independences tested with that column."))
            b.append(("table", *consistency_table(v)))
    if results.interventions:
        b.append(("h2", "Interventions on the quality computation"))
        b.append(("p", "Each row changes how Q is computed while the images stay the same, and compares the held-out AUC of "
                       "P(M | Q) after and before on the same splits and the same image-id jackknife replicates (a paired jackknife CI; "
                       "resampling unit: the test image id) and by a paired permutation test that swaps the two computations' "
                       "standardised values for a random half of the images (all variants of an image together; exact when "
                       "the two computations are exchangeable under no change, approximate for unlike scores). Each "
                       "computation is first aligned to run with correctness. With the equivalence margin "
                       f"{results.experiment.spec.analyses.equivalence_margin}, 'lower' / 'equal' / 'higher' are the AUC differences "
                       "below minus the margin, within it, and above it; 'observed' names the region holding the whole 95 % CI, "
                       "else 'inconclusive'. A prediction agrees only when the CI lies in its region, disagrees only when the CI "
                       "misses it, and is inconclusive otherwise. Each graph's prediction is the experiment file's, with its reason."))
        b.append(("table", *intervention_table(results.interventions)))
        for o in results.interventions:
            if o.why:
                b.append(("p", f"{o.name}, {short_name(o.comparison.variant)}: {o.why}"))
    for evaluation in getattr(results, "prior", ()):
        from causaliqa.report.findings import prior_table

        b.append(("h2", f"Quality as a prior on the accuracy of {short_name(evaluation.m).removesuffix('.correct')}"))
        b.append(("p", "Each method predicts the task model's accuracy on groups of images it was not fitted on: fitted on the "
                       "clean images, it predicts each (corruption, severity) group (ATC's protocol); fitted on the clean images "
                       "and the other corruptions, it predicts each severity of the corruption left out. Mean absolute error in "
                       "accuracy points over the groups, with a 95 % interval from resampling groups (groups share images, so "
                       "it is indicative). logistic is the paper's P(M | Q); isotonic a monotone P(M | Q); AC, DoC and ATC "
                       "(max probability MC, negative entropy NE) use the task model's own confidences."))
        if evaluation.errors:
            b.append(("table", *prior_table(evaluation)))
        else:
            b.append(("p", "Not estimable here: no method could be fitted on these rows (" + "; ".join(evaluation.skipped[:2]) + ")."))
        key = f"prior_{short_name(evaluation.m)}"
        if figures.get(key):
            b.append(("img", figures[key], "Predicted against actual accuracy per group, fitted on the clean images; the dashed line is a perfect prediction."))
        b += [("p", f"{short_name(q)}: {text}") for q, text in evaluation.reading.items()]
    b.append(("h2", "Graphs"))
    for g in exp.graphs:
        b.append(("img", figures[f"dag_{g.name}"], f"{g.title or g.name}: {' '.join(g.description.split())}"))
    if results.verdict:
        v = results.verdict
        b.append(("h2", "Appendix: conditional-independence tests"))
        b.append(("p", "'_||_': the graph implies independence (d-separation), with its Holm-adjusted p-value when the test is in "
                       "its family; 'dep': it does not. 'p' is the test's own p-value; the exploratory column "
                       f"({'Holm' if v.correction == 'holm' else 'Benjamini-Hochberg'} over every valid test) judges no graph. "
                       "Tests through a proxy are marked [X ~ proxy] and never falsify; n/a tests say why in the note."))
        b.append(("table", v.header(), v.rows()))
        for node, cols in exp.proxies.items():
            for col in cols:
                b.append(("p", f"Proxy {node} ~ {col}: {PROXY_MEANING[col]}"))
        if results.verdict_note:
            b.append(("p", f"Rows: {results.verdict_note}."))
    b.append(("p", f"Reproduce: causaliqa run {exp.source}. All numbers are in results.json."))
    return b


def _markdown(blocks, root: Path) -> str:
    from causaliqa.table import format_table

    out = []
    for block in blocks:
        kind = block[0]
        if kind == "h1":
            out.append(f"# {block[1]}")
        elif kind == "h2":
            out.append(f"## {block[1]}")
        elif kind == "h3":
            out.append(f"### {block[1]}")
        elif kind == "p":
            out.append(block[1])
        elif kind == "list":
            out.append("\n".join(f"- {item}" for item in block[1]))
        elif kind == "table":
            out.append(format_table(block[1], [[str(c).replace("|", "\\|") for c in r] for r in block[2]], markdown=True))
        elif kind == "img":
            out.append(f"![{block[2]}]({block[1][0].relative_to(root).as_posix()})\n\n*{block[2]}*")
    return "\n\n".join(out) + "\n"


def _css_width(png: Path, dpi: int = 150) -> int:
    """CSS pixels (96 per inch) of a figure saved at ``dpi``."""
    from PIL import Image

    with Image.open(png) as img:
        return round(img.size[0] / dpi * 96)


def _html(blocks, title: str) -> str:
    e = html.escape
    body = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3"):
            body.append(f"<{kind}>{e(block[1])}</{kind}>")
        elif kind == "p":
            body.append(f"<p>{e(block[1])}</p>")
        elif kind == "list":
            body.append("<ul>" + "".join(f"<li>{e(item)}</li>" for item in block[1]) + "</ul>")
        elif kind == "table":
            head = "".join(f"<th>{e(str(h))}</th>" for h in block[1])
            rows = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in r) + "</tr>" for r in block[2])
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif kind == "img":
            png = block[1][0]
            data = base64.b64encode(png.read_bytes()).decode("ascii")
            width = _css_width(png)  # the figure's printed size: every figure's text at one size on screen
            body.append(f'<figure><img alt="{e(block[2])}" style="width:{width}px" src="data:image/png;base64,{data}">'
                        f'<figcaption>{e(block[2])}</figcaption></figure>')
    style = ("body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}"
             "table{border-collapse:collapse;font-size:13px;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 6px;text-align:left}"
             "th{background:#f3f3f3}img{max-width:100%;height:auto}figcaption{font-size:13px;color:#555}li{margin:0.3em 0}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{e(title)}</title><style>{style}</style></head>"
            f"<body>{''.join(body)}</body></html>\n")


def write_figures(results, folder: Path) -> dict[str, list[Path]]:
    """Every figure of the report (each carries the stand-in banner when the run used stand-in data)."""
    from causaliqa.report import figures as fig_module

    fig_module.BANNER[:] = ["STAND-IN DATA (5 scikit-image photographs; illustrative only)"] if results.experiment.stand_in else []
    try:
        return _write_figures(results, folder)
    finally:
        fig_module.BANNER.clear()


STEMS = ("accuracy_vs_quality", "auc", "conditioning", "mixture_auc", "mixture_distributions", "dag_", "prior_")


def _write_figures(results, folder: Path) -> dict[str, list[Path]]:
    from causaliqa.draw import draw_graph

    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():  # figures an earlier run drew that this one may not (a section now without data)
        if old.suffix in (".png", ".pdf") and old.name.startswith(STEMS):
            old.unlink()
    exp = results.experiment
    m_cols, q_cols = exp.columns("M"), exp.columns("Q")
    figures: dict[str, list[Path]] = {}
    if exp.spec.analyses.group_wise and len(results.groups) > 1:
        figures["accuracy_vs_quality"] = []
        for m in m_cols:
            figures["accuracy_vs_quality"] += accuracy_vs_quality(results.groups, m, q_cols, folder / f"accuracy_vs_quality_{re.sub(r'[^A-Za-z0-9_-]', '_', short_name(m))}")
    # a figure only where it has something to show (a section without data says why in words instead)
    if any(p.point_wise.auc == p.point_wise.auc for p in results.pairs):
        figures["auc"] = auc_with_ci(results.pairs, folder / "auc")
    if any(g is not None and g.estimable for p in results.pairs for g in (p.by_label, p.by_image)):
        figures["conditioning"] = conditioning(results.pairs, folder / "conditioning")
    if results.mixtures and results.mixture_values is not None:
        figures["mixture_distributions"] = mixture_distributions(results.mixture_values, q_cols, folder / "mixture_distributions")
        if any(m.mean_auc == m.mean_auc for m in results.mixtures):
            figures["mixture_auc"] = mixture_auc(results.mixtures, folder / "mixture_auc")
    for evaluation in getattr(results, "prior", ()):
        from causaliqa.report.figures import predicted_vs_actual

        rows = evaluation.rows[evaluation.rows["protocol"] == "clean -> each group"]
        best = {e.method: e.q for e in sorted(evaluation.errors, key=lambda e: -e.mae) if e.protocol == "clean -> each group"}
        if len(rows):
            name = short_name(evaluation.m)
            figures[f"prior_{name}"] = predicted_vs_actual(rows, best, folder / f"prior_{re.sub(r'[^A-Za-z0-9_-]', '_', name)}")
    for g in exp.graphs:
        figures[f"dag_{g.name}"] = [draw_graph(g, folder / f"dag_{g.name}.{s}") for s in ("png", "pdf")]
    return figures


def write_report(results) -> dict[str, Path]:
    """Write every report file under the experiment's output folder; returns name -> path."""
    from causaliqa.atomic import write_json_atomic

    out = results.experiment.report_dir
    out.mkdir(parents=True, exist_ok=True)
    figures = write_figures(results, out / "figures")
    blocks = _blocks(results, figures)
    files = {"results": out / "results.json", "markdown": out / "report.md", "html": out / "report.html"}
    write_json_atomic(files["results"], results.to_dict())
    _write_text(files["markdown"], _markdown(blocks, out))
    _write_text(files["html"], _html(blocks, f"{results.experiment.name}: causaliqa report"))
    return files
