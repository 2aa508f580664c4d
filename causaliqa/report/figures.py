"""Result figures in the paper's style, each written as PNG and PDF (atomically)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

MARKERS = {0: "*", 1: "o", 2: "s", 3: "^", 4: "D", 5: "v"}


def short_name(column: str) -> str:
    """A column's display name: ``iqa:brisque.score`` -> ``brisque``; ``efficientnet_lite1.max_prob`` kept;
    ``resnet34@model.correct`` -> ``resnet34.correct`` (a weights file is dropped), while a random-initialised or
    tagged model keeps its tag (``efficientnet_lite1@random.max_prob``), and a ``#variant`` its name: each is another
    computation. Parsed with the
    one spec type, not by hand.

    >>> short_name("iqa:brisque.score"), short_name("efficientnet_lite1@random.max_prob"), short_name("iqa:brisque#gray.score")
    ('brisque', 'efficientnet_lite1@random.max_prob', 'brisque#gray')
    """
    from causaliqa.estimators.spec import EstimatorSpec, split_column

    key, output = split_column(column)
    if not output:
        return column
    spec = EstimatorSpec.parse(key)
    name = spec.name + (f"#{spec.variant}" if spec.variant else "") + (f"@{spec.weights}" if spec.weights_kind in ("random", "tag") else "")
    return name if output == "score" else f"{name}.{output}"


STYLE = {"font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9, "xtick.labelsize": 8, "ytick.labelsize": 8,
         "legend.fontsize": 8, "figure.titlesize": 9}  # one font scale for every figure of a report

# 15 qualitative colours, one per ImageNet-C corruption in the benchmark's order, no two alike (tab20's pairs of a
# dark and a light shade of one hue had brightness and contrast in two blues); severity is the marker
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
           "#000080", "#ffd700", "#00ff7f", "#8b0000", "#ff00ff"]


def corruption_colours(names) -> dict:
    """A fixed colour per corruption (the same in every figure and run); clean is black."""
    from causaliqa.data.corrupt import CORRUPTIONS

    order = list(CORRUPTIONS) + sorted(set(names) - set(CORRUPTIONS) - {"clean"})
    return {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(order)} | {"clean": "black"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(STYLE)
    return plt


BANNER: list[str] = []  # while a report on stand-in data draws its figures: the line each figure carries on top


def save_figure(fig, stem: Path) -> list[Path]:
    from causaliqa.atomic import atomic_path

    if BANNER:
        fig.suptitle(BANNER[0], color="firebrick", fontsize=9, y=1.02)
    written = []
    for suffix in ("png", "pdf"):
        path = stem.with_suffix(f".{suffix}")
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=150, bbox_inches="tight", format=suffix)
        written.append(path)
    _plt().close(fig)
    return written


def accuracy_vs_quality(groups: pd.DataFrame, m: str, q_columns: list[str], stem: Path) -> list[Path]:
    """Paper Fig 3/5/7: one point per (corruption, severity), coloured by corruption, marked by severity."""
    plt = _plt()
    corruptions = sorted(c for c in groups["corruption"].unique() if c != "clean")
    colours = corruption_colours(corruptions)
    cols = min(3, len(q_columns))
    rows = -(-len(q_columns) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.0 * rows), squeeze=False)
    for ax in axes.flat[len(q_columns):]:
        ax.set_visible(False)
    for ax, q in zip(axes.flat, q_columns):
        for _, row in groups.iterrows():
            ax.scatter(row[q], row[m], color=colours[row["corruption"]], marker=MARKERS.get(int(row["severity"]), "o"), s=28)
        ax.set_xlabel(f"mean {short_name(q)}")
        ax.set_title(short_name(q))
        ax.grid(alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel(f"accuracy of {short_name(m).removesuffix('.correct')}")
    handles = [plt.Line2D([], [], color=colours[c], marker="*" if c == "clean" else "o", ls="", label=c) for c in ["clean", *corruptions]]
    handles += [plt.Line2D([], [], color="grey", marker=MARKERS[s], ls="", label=f"severity {s}")
                for s in sorted(int(s) for s in groups["severity"].unique() if s > 0)]
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=min(6, len(handles)), frameon=False)
    fig.tight_layout()
    return save_figure(fig, stem)


def auc_with_ci(pairs, stem: Path) -> list[Path]:
    """Point-wise AUC of P(M | Q) per metric with its image-id jackknife 95 % CI, one row per task model."""
    plt = _plt()
    ms = list(dict.fromkeys(p.m for p in pairs))
    fig, axes = plt.subplots(len(ms), 1, figsize=(5.5, 0.45 * len(pairs) / len(ms) + 1.2 * len(ms)), squeeze=False)
    for ax, m in zip(axes[:, 0], ms):
        mine = [p for p in pairs if p.m == m]
        y = np.arange(len(mine))
        auc = np.array([p.point_wise.auc for p in mine])
        lo = np.array([p.point_wise.auc_ci[0] for p in mine])
        hi = np.array([p.point_wise.auc_ci[1] for p in mine])
        ax.errorbar(auc, y, xerr=[np.nan_to_num(auc - lo), np.nan_to_num(hi - auc)], fmt="o", color="tab:blue", capsize=3)
        ax.axvline(0.5, color="grey", ls="--", lw=1)
        ax.set_yticks(y, [short_name(p.q) for p in mine])
        ax.set_xlim(0.0, 1.0)
        ax.set_title(f"M = {short_name(m)}")
        ax.set_xlabel("AUC of P(M | Q), 95 % jackknife CI")
    fig.tight_layout()
    return save_figure(fig, stem)


def conditioning(pairs, stem: Path) -> list[Path]:
    """Paper Fig 20: mean fold AUC of per-label and per-image logistic models with 95 % CIs over groups, one row per
    (M, Q) pair; a mean that is not estimable (too few groups) is marked n/a, not drawn."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.0, 0.5 + 0.42 * len(pairs)))
    y = np.arange(len(pairs))[::-1]
    for offset, attr, colour, what in ((0.14, "by_label", "tab:orange", "given the label"),
                                       (-0.14, "by_image", "tab:green", "given the image")):
        found = [getattr(p, attr) for p in pairs]
        ok = np.array([g is not None and g.estimable for g in found])
        means = np.array([g.mean_auc if g is not None and g.estimable else np.nan for g in found])
        lo = np.array([g.auc_ci[0] if g is not None and g.estimable else np.nan for g in found])
        hi = np.array([g.auc_ci[1] if g is not None and g.estimable else np.nan for g in found])
        if ok.any():
            ax.errorbar(means[ok], y[ok] + offset, xerr=[means[ok] - lo[ok], hi[ok] - means[ok]], fmt="o", color=colour,
                        capsize=3, label=f"{what} (CI over groups)")
        missing = [g for g in found if g is not None and not g.estimable]
        if missing:  # said once, in the legend: too few groups to estimate a mean over groups
            ax.plot([], [], ls="", label=f"{what}: n/a for {len(missing)} pair(s) (at most {max(g.groups_used for g in missing)} "
                                         f"groups; 10 needed)")
    ax.axvline(0.5, color="grey", ls="--", lw=1)
    ax.set_yticks(y, [f"{short_name(p.q)}  (M = {short_name(p.m).removesuffix('.correct')})" for p in pairs])
    ax.set_xlim(0, 1)
    ax.set_xlabel("mean AUC of P(M | Q) within groups")
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=1, frameon=False)
    fig.tight_layout()
    return save_figure(fig, stem)


def mixture_distributions(data: pd.DataFrame, q_columns: list[str], stem: Path) -> list[Path]:
    """Paper Fig 21: the distribution of each Q in each mixture (fraction p_c of images corrupted)."""
    plt = _plt()
    fractions = sorted(data["p_c"].unique())
    cols = min(3, len(q_columns))
    rows = -(-len(q_columns) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.8 * rows), squeeze=False)
    for ax in axes.flat[len(q_columns):]:
        ax.set_visible(False)
    for ax, q in zip(axes.flat, q_columns):
        ax.boxplot([data.loc[data["p_c"] == f, q].dropna().to_numpy() for f in fractions], showfliers=False,
                   medianprops={"color": "black"})
        step = max(1, len(fractions) // 8)  # at most 8 tick labels, never overlapping
        ax.set_xticks(np.arange(1, len(fractions) + 1)[::step], [f"{f:g}" for f in fractions][::step])
        ax.set_xlabel("fraction of corrupted images p_c")
        ax.set_title(short_name(q))
    fig.tight_layout()
    return save_figure(fig, stem)


def mixture_auc(mixtures, stem: Path) -> list[Path]:
    """Paper Fig 22: AUC of P(M | Q) against the corrupted fraction p_c with 95 % CIs (points with error bars, one
    colour per metric); the grey band is where each p_c's AUC lands when M is permuted across images (no
    association), drawn once (the bands of the metrics nearly coincide: the widest is shown)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.8, 3.2))
    with_bands = [m for m in mixtures if m.nulls and all(n is not None for n in m.nulls)]
    if with_bands:
        fractions = with_bands[0].fractions
        lo = np.min([[n.low for n in m.nulls] for m in with_bands], 0)
        hi = np.max([[n.high for n in m.nulls] for m in with_bands], 0)
        ax.fill_between(fractions, lo, hi, color="0.88", zorder=0, step="mid", label="95 % band with M permuted (no association)")
    n = len(mixtures)
    width = (min(np.diff(mixtures[0].fractions)) if len(mixtures[0].fractions) > 1 else 0.1) * 0.6
    for i, mix in enumerate(mixtures):
        x = np.asarray(mix.fractions) + (i - (n - 1) / 2) * width / max(n, 1)
        auc = np.asarray(mix.auc)
        lo_ci = np.asarray([c[0] for c in mix.auc_ci])
        hi_ci = np.asarray([c[1] for c in mix.auc_ci])
        ax.errorbar(x, auc, yerr=[np.nan_to_num(auc - lo_ci), np.nan_to_num(hi_ci - auc)], fmt="o", ms=4, capsize=2, lw=0.8,
                    elinewidth=0.8, alpha=0.9,
                    label=f"{short_name(mix.q)} / {short_name(mix.m).removesuffix('.correct')} (mAUC {mix.mean_auc:.3f})")
    ax.axhline(0.5, color="grey", ls="--", lw=1)
    ax.set_xlabel("fraction of mildly corrupted images p_c")
    ax.set_ylabel("AUC (mean of 80/20 splits by image)")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    fig.tight_layout()
    return save_figure(fig, stem)


def predicted_vs_actual(rows: pd.DataFrame, best: dict, stem: Path) -> list[Path]:
    """Predicted against actual accuracy per held-out group, one panel per method (its best Q), the identity line,
    corruption colours (``causaliqa predict --evaluate``). ``rows``: protocol, method, q, group, corruption,
    predicted, actual; ``best``: method -> Q shown."""
    plt = _plt()
    methods = list(best)
    cols = min(4, len(methods))
    nrows = -(-len(methods) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(3.0 * cols, 3.0 * nrows), squeeze=False)
    colours = corruption_colours(rows["corruption"].unique())
    for ax in axes.flat[len(methods):]:
        ax.set_visible(False)
    for ax, method in zip(axes.flat, methods):
        mine = rows[(rows["method"] == method) & (rows["q"] == best[method])]
        for corruption, part in mine.groupby("corruption"):
            ax.scatter(100 * part["actual"], 100 * part["predicted"], color=colours.get(corruption, "grey"), s=18, label=corruption)
        ax.plot([0, 100], [0, 100], color="grey", lw=1, ls="--")
        ax.set_xlim(0, 100)
        ax.set_ylim(0, 100)
        mae = mine["error"].mean() if "error" in mine else float("nan")
        ax.set_title(f"{method}: {short_name(best[method].split(', ')[0]) if ', ' not in best[method] else 'all Q'}\nMAE {mae:.1f} points")
        ax.set_xlabel("actual accuracy (%)")
        ax.set_ylabel("predicted accuracy (%)")
    handles = [plt.Line2D([], [], color=colours[c], marker="o", ls="", label=c) for c in sorted(rows["corruption"].unique())]
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=min(5, len(handles)), frameon=False)
    fig.tight_layout()
    return save_figure(fig, stem)


def quality_profile(target: pd.DataFrame, reference: pd.DataFrame, profiles, stem: Path) -> list[Path]:
    """Per Q: the target's distribution against the reference's clean cell and its nearest cells (``causaliqa profile``)."""
    plt = _plt()
    cols = min(3, len(profiles))
    nrows = -(-len(profiles) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(3.4 * cols, 2.8 * nrows), squeeze=False)
    for ax in axes.flat[len(profiles):]:
        ax.set_visible(False)
    for ax, profile in zip(axes.flat, profiles):
        q = profile.q
        values = [target[q].dropna().to_numpy()]
        names = ["target"]
        for name, _ in profile.nearest[:2]:
            corruption, _, severity = name.partition(" severity ")
            cell = reference[(reference["corruption"] == corruption) & ((reference["severity"] == int(severity)) if severity else True)]
            values.append(cell[q].dropna().to_numpy())
            names.append(f"reference: {name}")
        ax.hist(values, bins=30, density=True, histtype="step", label=names, linewidth=1.4)
        ax.set_title(short_name(q))
        ax.set_xlabel(short_name(q))
        ax.legend(frameon=False, fontsize=7)
    fig.tight_layout()
    return save_figure(fig, stem)
