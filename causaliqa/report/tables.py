"""The paper's Table 1-4 layout, built once for the report (with CIs and sample sizes) and the terminal (plain)."""

from __future__ import annotations

from causaliqa.report.figures import short_name


def _f(x) -> str:
    return "n/a" if x is None or x != x else f"{x:.3f}"


def _ci(ci) -> str:
    return f"[{_f(ci[0])}, {_f(ci[1])}]"


def _with_ci(x, ci) -> str:
    return "n/a" if x is None or x != x else f"{_f(x)} {_ci(ci)}"


def _corr(c, with_ci: bool) -> str:
    return f"{c.estimate:+.3f} [{c.ci_low:+.2f}, {c.ci_high:+.2f}]" if with_ci else f"{c.estimate:+.3f}"


def paper_table(pairs, with_ci: bool = False, short: bool = True, conditioning: bool = False) -> tuple[list[str], list[list[str]]]:
    """Header and rows: M, Q, AUC, CE, signed KRCC, PLCC, SRCC (absolute values would hide sign disagreements).

    ``with_ci`` adds the 95 % CIs, the rows / images, the AUC's range over splits and the number of groups;
    ``conditioning`` adds the per-label and per-image mean AUCs.
    """
    name = short_name if short else (lambda c: c)
    header = ["task model (M)", "IQA metric (Q)"]
    header += ["rows / images", "AUC [95 % CI]", "AUC over splits", "CE [95 % CI]"] if with_ci else ["AUC", "CE"]
    header += ["KRCC [CI]", "PLCC [CI]", "SRCC [CI]", "groups"] if with_ci else ["KRCC", "PLCC", "SRCC"]
    header += ["mAUC|Y", "mAUC|image"] if conditioning else []
    rows = []
    for p in pairs:
        gw, pw = p.group_wise, p.point_wise
        row = [name(p.m), name(p.q)]
        if with_ci:
            splits = "n/a" if pw.auc_range[0] != pw.auc_range[0] else f"{_f(pw.auc_range[0])}-{_f(pw.auc_range[1])}"
            row += [f"{p.n_rows} / {p.n_images}", _with_ci(pw.auc, pw.auc_ci), splits, _with_ci(pw.cross_entropy, pw.cross_entropy_ci)]
        else:
            row += [_f(pw.auc), _f(pw.cross_entropy)]
        row += [_corr(c, with_ci) for c in (gw.kendall, gw.pearson, gw.spearman)] if gw else ["n/a"] * 3
        row += ([str(gw.n_groups) if gw else "n/a"] if with_ci else [])
        row += [_f(g.mean_auc) if g and g.estimable else "n/a" for g in (p.by_label, p.by_image)] if conditioning else []
        rows.append(row)
    return header, rows
