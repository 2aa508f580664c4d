"""Write an experiment's report: results.json, report.md, a self-contained report.html and figures."""

from __future__ import annotations

import base64
import re
import html
import os
import uuid
from pathlib import Path

from causaliqa.experiment.config import PROXY_MEANING
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
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _blocks(results, figures: dict[str, list[Path]]) -> list[tuple]:
    """The report as a list of blocks, rendered to Markdown and HTML alike."""
    exp = results.experiment
    spec = exp.spec
    b: list[tuple] = [("h1", f"{spec.name}: causaliqa report")]
    if spec.description:
        b.append(("p", " ".join(spec.description.split())))
    corr = sorted(set(results.groups["corruption"]) - {"clean"})
    sev = sorted(set(int(s) for s in results.groups["severity"]) - {0})
    ids = results.n_rows
    b.append(("p", f"{ids} scored variants; corruptions: {', '.join(corr) or 'none'}; severities: {', '.join(map(str, sev)) or 'none'}. "
                   f"Seed {spec.seed}. Bindings: " + "; ".join(f"{n} = {', '.join(short_name(c) for c in bd.columns) or 'the images'}"
                                                             for n, bd in exp.bindings.items()) + "."))
    if results.scoring:
        s = results.scoring
        b.append(("p", f"Scoring: {s.scored} variants scored, {s.skipped} reused from the store, {s.failed} failed, "
                       f"{s.images_per_second:.1f} img/s."))
    # verdict first: it is what the report is for
    if results.verdict:
        v = results.verdict
        b.append(("h2", "Verdict per graph"))
        b.append(("p", f"Each graph's implied independencies among the bound variables were tested at alpha = {v.alpha} "
                       f"({'Holm' if v.correction == 'holm' else 'Benjamini-Hochberg'} correction over all {len(v.tests)} tests). "
                       "A graph is falsified when the data reject an independence it implies; a dependence it allows but the "
                       "data do not show is listed, not held against it (it can be a lack of power)."))
        b.append(("table", ["graph", "verdict", "falsified by", "independence tests it implies", "allowed dependences not found (tests)"],
                  [[g.graph, "FALSIFIED" if g.falsified else "not contradicted", "; ".join(g.falsified_by) or "-",
                    str(g.predicted_independent), str(len(g.dependences_not_found))] for g in v.verdicts]))
        if not any(g.predicted_independent for g in v.verdicts):
            b.append(("p", "None of these graphs implies an independence among the bound low-dimensional variables: in each, "
                           "the image X lies on every path between them, and X cannot be conditioned on. These data cannot "
                           "falsify them; the tests below measure the dependences the graphs allow."))
        b.append(("h2", "Graphs x tests"))
        b.append(("p", "'_||_': the graph implies independence (d-separation); 'dep': it does not. 'data': dependent when the "
                       "adjusted p-value is below alpha. Tests through a proxy are marked [X ~ proxy] and never falsify."))
        b.append(("table", v.header(), v.rows()))
        for node, cols in exp.proxies.items():
            for col in cols:
                b.append(("p", f"Proxy {node} ~ {col}: {PROXY_MEANING[col]}"))
        if results.verdict_note:
            b.append(("p", f"Rows: {results.verdict_note}."))
    b.append(("h2", "Predictability of M from Q (paper Tables 1-4)"))
    b.append(("p", "AUC and CE: logistic P(M | Q) fitted on 80 % of the image ids, evaluated on the other 20 % (all variants of "
                   "an id on one side); 95 % bootstrap CI over test ids. |KRCC|, |PLCC|, |SRCC|: group-wise correlation of mean Q "
                   "and accuracy over (corruption, severity) groups."))
    rows = []
    for p in results.pairs:
        gw = p.group_wise
        rows.append([short_name(p.m), short_name(p.q), f"{_fmt(p.point_wise.auc)} {_ci(p.point_wise.auc_ci)}",
                     f"{_fmt(p.point_wise.cross_entropy)} {_ci(p.point_wise.cross_entropy_ci)}",
                     *([f"{_fmt(abs(c.estimate))} (p {c.p_value:.2g})" for c in (gw.kendall, gw.pearson, gw.spearman)] if gw else ["n/a"] * 3)])
    b.append(("table", ["task model (M)", "IQA metric (Q)", "AUC [95 % CI]", "CE [95 % CI]", "|KRCC|", "|PLCC|", "|SRCC|"], rows))
    b += [("img", f, cap) for f, cap in ((figures.get("accuracy_vs_quality"), "Accuracy against mean Q per (corruption, severity) group (paper Fig 3/5/7)."),
                                         (figures.get("auc"), "Point-wise AUC with 95 % bootstrap CIs.")) if f]
    b.append(("h2", "Conditioning on the label and on the image content (paper Fig 20, App. G)"))
    rows = []
    for p in results.pairs:
        for g in (p.by_label, p.by_image):
            if g:
                rows.append([short_name(p.m), short_name(p.q), g.by, f"{_fmt(g.mean_auc)} ± {_fmt(g.std_auc)}",
                             f"{_fmt(g.mean_cross_entropy)} ± {_fmt(g.std_cross_entropy)}", str(g.n_groups), str(g.folds_used),
                             str(g.folds_one_class), str(g.folds_separated)])
    b.append(("table", ["M", "Q", "given", "mAUC ± sd", "mCE ± sd", "groups", "folds used", "one-class folds", "separated folds"], rows))
    if figures.get("conditioning"):
        b.append(("img", figures["conditioning"], "Mean AUC (± sd over folds) of one logistic model per label and per image id."))
    if results.mixtures:
        b.append(("h2", "Mild-corruption mixtures (paper §6.3)"))
        b.append(("table", ["M", "Q", "p_c values", "mAUC over p_c", "AUC at smallest p_c", "AUC at largest p_c"],
                  [[short_name(m.m), short_name(m.q), str(len(m.fractions)), _fmt(m.mean_auc), _fmt(m.auc[0]), _fmt(m.auc[-1])]
                   for m in results.mixtures]))
        for key, cap in (("mixture_distributions", "Distribution of Q per p_c (paper Fig 21)."), ("mixture_auc", "AUC against p_c (paper Fig 22).")):
            if figures.get(key):
                b.append(("img", figures[key], cap))
    b.append(("h2", "Graphs"))
    for g in exp.graphs:
        b.append(("img", figures[f"dag_{g.name}"], f"{g.title or g.name}: {' '.join(g.description.split())}"))
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
        elif kind == "p":
            out.append(block[1])
        elif kind == "table":
            out.append(format_table(block[1], [[str(c).replace("|", "\\|") for c in r] for r in block[2]], markdown=True))
        elif kind == "img":
            out.append(f"![{block[2]}]({block[1][0].relative_to(root).as_posix()})\n\n*{block[2]}*")
    return "\n\n".join(out) + "\n"


def _html(blocks, title: str) -> str:
    e = html.escape
    body = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2"):
            body.append(f"<{kind}>{e(block[1])}</{kind}>")
        elif kind == "p":
            body.append(f"<p>{e(block[1])}</p>")
        elif kind == "table":
            head = "".join(f"<th>{e(str(h))}</th>" for h in block[1])
            rows = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in r) + "</tr>" for r in block[2])
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif kind == "img":
            png = block[1][0]
            data = base64.b64encode(png.read_bytes()).decode("ascii")
            body.append(f'<figure><img alt="{e(block[2])}" src="data:image/png;base64,{data}"><figcaption>{e(block[2])}</figcaption></figure>')
    style = ("body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}"
             "table{border-collapse:collapse;font-size:13px;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 6px;text-align:left}"
             "th{background:#f3f3f3}img{max-width:100%}figcaption{font-size:13px;color:#555}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{e(title)}</title><style>{style}</style></head>"
            f"<body>{''.join(body)}</body></html>\n")


def write_figures(results, folder: Path) -> dict[str, list[Path]]:
    from causaliqa.draw import draw_graph
    from causaliqa.analysis import mixture_frame
    from causaliqa.scoring.store import load_mixtures, load_scores

    folder.mkdir(parents=True, exist_ok=True)
    exp = results.experiment
    m_cols, q_cols = exp.columns("M"), exp.columns("Q")
    figures: dict[str, list[Path]] = {}
    if exp.spec.analyses.group_wise and len(results.groups) > 1:
        figures["accuracy_vs_quality"] = []
        for m in m_cols:
            figures["accuracy_vs_quality"] += accuracy_vs_quality(results.groups, m, q_cols, folder / f"accuracy_vs_quality_{re.sub(r'[^A-Za-z0-9_-]', '_', short_name(m))}")
    figures["auc"] = auc_with_ci(results.pairs, folder / "auc")
    if any(p.by_label or p.by_image for p in results.pairs):
        figures["conditioning"] = conditioning(results.pairs, folder / "conditioning")
    if results.mixtures:
        data = mixture_frame(load_scores(exp.out), load_mixtures(exp.out))
        figures["mixture_distributions"] = mixture_distributions(data, q_cols, folder / "mixture_distributions")
        figures["mixture_auc"] = mixture_auc(results.mixtures, folder / "mixture_auc")
    for g in exp.graphs:
        figures[f"dag_{g.name}"] = [draw_graph(g, folder / f"dag_{g.name}.{s}") for s in ("png", "pdf")]
    return figures


def write_report(results) -> dict[str, Path]:
    """Write every report file under the experiment's output folder; returns name -> path."""
    from causaliqa.atomic import write_json_atomic

    out = results.experiment.out
    out.mkdir(parents=True, exist_ok=True)
    figures = write_figures(results, out / "figures")
    blocks = _blocks(results, figures)
    files = {"results": out / "results.json", "markdown": out / "report.md", "html": out / "report.html"}
    write_json_atomic(files["results"], _jsonable(results.to_dict()))
    _write_text(files["markdown"], _markdown(blocks, out))
    _write_text(files["html"], _html(blocks, f"{results.experiment.name}: causaliqa report"))
    return files


def _jsonable(value):
    """NaN -> None and numpy scalars -> Python, so results.json is strict JSON."""
    import math

    import numpy as np

    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def summary_lines(results) -> list[str]:
    """What `causaliqa run` prints: the paper's table, conditioning, mixtures and the verdict per graph."""
    from causaliqa.table import format_table

    lines = [f"{results.experiment.name}: {results.n_rows} scored variants", ""]
    rows = []
    for p in results.pairs:
        gw = p.group_wise
        corr = [f"{abs(c.estimate):.3f}" for c in (gw.kendall, gw.pearson, gw.spearman)] if gw else ["n/a"] * 3
        label = f"{p.by_label.mean_auc:.3f}" if p.by_label else "n/a"
        image = f"{p.by_image.mean_auc:.3f}" if p.by_image else "n/a"
        rows.append([short_name(p.m), short_name(p.q), f"{p.point_wise.auc:.3f}", f"{p.point_wise.cross_entropy:.3f}", *corr, label, image])
    lines.append(format_table(["task model (M)", "IQA metric (Q)", "AUC", "CE", "|KRCC|", "|PLCC|", "|SRCC|", "mAUC|Y", "mAUC|image"], rows))
    if results.mixtures:
        lines += ["", "mild-corruption mixtures: " + "; ".join(f"{short_name(m.q)} mAUC {m.mean_auc:.3f}" for m in results.mixtures)]
    if results.verdict:
        v = results.verdict
        lines += ["", f"CI tests ({len(v.tests)}, {v.correction}, alpha {v.alpha}):"]
        for g in v.verdicts:
            state = f"FALSIFIED by {len(g.falsified_by)} test(s): {'; '.join(g.falsified_by[:3])}" if g.falsified else "not contradicted"
            lines.append(f"  {g.graph}: {state} ({g.predicted_independent} tested independences implied)")
    return lines
