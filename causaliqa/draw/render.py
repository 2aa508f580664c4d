"""Draw a graph in the paper's style (matplotlib) or as TikZ, Graphviz dot or Mermaid text."""

from __future__ import annotations

from pathlib import Path

from causaliqa.graph.layout import edge_bends, node_positions
from causaliqa.errors import CausaliqaError
from causaliqa.graph.model import CausalGraph

ROLE_STYLE = {
    "observed": {"face": "#d9d9d9", "line": "solid", "shape": "o", "hatch": None, "legend": "observed"},
    "predicted": {"face": "#ffffff", "line": "solid", "shape": "o", "hatch": None, "legend": "predicted / computed"},
    "latent": {"face": "#ffffff", "line": "dashed", "shape": "o", "hatch": None, "legend": "latent (unobserved)"},
    "selection": {"face": "#ffffff", "line": "solid", "shape": "s", "hatch": "////", "legend": "selection (conditioned on)"},
    "context": {"face": "#ffffff", "line": "dotted", "shape": "s", "hatch": None, "legend": "context (not conditioned on)"},
}
FIGURE_FORMATS = (".svg", ".pdf", ".png")
TEXT_FORMATS = (".tex", ".dot", ".mmd")
FORMATS = FIGURE_FORMATS + TEXT_FORMATS
MAX_FIGURE_NODES = 120  # beyond this a drawn DAG is unreadable: write .dot and let Graphviz lay it out


def draw_graph(graph: CausalGraph, path: str | Path, dpi: int = 150, highlight: str | None = None) -> Path:
    """Write ``graph`` to ``path``; the suffix picks the format. Written atomically.

    ``highlight`` (a query such as ``"Q _||_ M | X"``, drawn figures only): the edges of the query's open paths in
    red, its two sides in red and its conditioning set with a thick border, and the verdict under the title."""
    from causaliqa.atomic import atomic_path

    path = Path(path)
    suffix = path.suffix.lower()
    if path.is_dir():
        raise CausaliqaError(str(path), None, f"a file to write (one of {' '.join(FORMATS)}); a folder of graphs draws into a folder",
                             "an existing folder")
    if suffix not in FORMATS:
        raise CausaliqaError(str(path), "suffix", f"one of {' '.join(FORMATS)}", repr(path.suffix or "none"))
    if not path.parent.exists():
        raise CausaliqaError(str(path), None, "an existing output folder", f"no folder {path.parent}")
    if suffix in FIGURE_FORMATS and len(graph.nodes) > MAX_FIGURE_NODES:
        raise CausaliqaError(str(path), None, f"a graph of at most {MAX_FIGURE_NODES} nodes for a drawn figure "
                             "(write .dot and lay it out with Graphviz: dot -Tsvg)", f"{len(graph.nodes)} nodes")
    if highlight is not None and suffix not in FIGURE_FORMATS:
        raise CausaliqaError(str(path), "--highlight", f"a drawn figure ({' '.join(FIGURE_FORMATS)})", repr(suffix))
    judgement = graph.is_separated(highlight, max_paths=10_000) if highlight is not None else None
    if suffix in FIGURE_FORMATS:
        _check_math(graph)
    with atomic_path(path) as tmp:
        if suffix in FIGURE_FORMATS:
            _draw_matplotlib(graph, tmp, suffix[1:], dpi, judgement)
        else:
            text = {".tex": to_tikz, ".dot": to_dot, ".mmd": to_mermaid}[suffix](graph)
            tmp.write_text(text, encoding="utf-8")
    return path


def _check_math(graph: CausalGraph) -> None:
    """A node's ``math`` must be TeX that matplotlib renders; ids and labels are drawn as plain text."""
    from matplotlib.mathtext import MathTextParser

    parser = MathTextParser("path")
    for n, node in graph.nodes.items():
        if node.math:
            try:
                parser.parse(f"${node.math}$")
            except ValueError as err:
                raise CausaliqaError(graph.source, f"nodes.{n}.math", "TeX math that matplotlib can render",
                                     f"{node.math!r} ({str(err).splitlines()[-1].strip()})") from None


def _draw_matplotlib(graph: CausalGraph, out: Path, fmt: str, dpi: int, judgement=None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch
    from matplotlib.patches import FancyArrowPatch

    pos = node_positions(graph)
    xs = [p[0] for p in pos.values()] or [0.0]
    ys = [p[1] for p in pos.values()] or [0.0]
    width = max(xs) - min(xs) + 1.6
    height = max(ys) - min(ys) + 1.8
    fig, ax = plt.subplots(figsize=(1.3 * width + 0.5, 1.1 * height + 0.6))
    radius = 0.22
    hot_edges, sides, given = set(), set(), set()
    if judgement is not None:
        for path in judgement.open_paths:
            hot_edges |= {frozenset(pair) for pair in zip(path.nodes, path.nodes[1:])}
        sides, given = set(judgement.left | judgement.right), set(judgement.given)
    bends = edge_bends(pos, graph.edges, radius)
    for a, b in graph.edges:
        hot = frozenset((a, b)) in hot_edges
        ax.add_patch(
            FancyArrowPatch(pos[a], pos[b], arrowstyle="-|>", mutation_scale=14, lw=2.2 if hot else 1.3,
                            color="firebrick" if hot else "black", connectionstyle=f"arc3,rad={bends[a, b]}",
                            shrinkA=radius * 72 * 1.25, shrinkB=radius * 72 * 1.25, zorder=1)
        )
    for n, node in graph.nodes.items():
        style = ROLE_STYLE[node.role]
        x, y = pos[n]
        if style["shape"] == "s":
            patch = plt.Rectangle((x - radius, y - radius), 2 * radius, 2 * radius)
        else:
            patch = plt.Circle((x, y), radius)
        patch.set(facecolor=style["face"], edgecolor="firebrick" if n in sides else "black", linestyle=style["line"],
                  linewidth=3.0 if n in given or n in sides else 1.4, hatch=style["hatch"], zorder=2)
        ax.add_patch(patch)
        if node.math:
            ax.text(x, y, f"${node.math}$", ha="center", va="center", fontsize=13, zorder=3)
        else:  # plain text: ids such as x_a_b are not TeX
            ax.text(x, y, node.display, ha="center", va="center", fontsize=11 if len(node.display) < 4 else 8, zorder=3, parse_math=False)
    if not graph.nodes:
        ax.text(0, 0, "(empty graph)", ha="center", va="center", fontsize=10, parse_math=False)
    used = [r for r in ROLE_STYLE if any(node.role == r for node in graph.nodes.values())]
    handles = [
        Patch(facecolor=ROLE_STYLE[r]["face"], edgecolor="black", linestyle=ROLE_STYLE[r]["line"], linewidth=1.2,
              hatch=ROLE_STYLE[r]["hatch"], label=ROLE_STYLE[r]["legend"])
        for r in used
    ]
    if handles:
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=len(handles), frameon=False, fontsize=8)
    title = graph.title or graph.name
    if judgement is not None:
        from causaliqa.graph.query import Query

        query = Query(judgement.left, judgement.right, judgement.given)
        verdict = "separated" if judgement.separated else f"NOT separated: {len(judgement.open_paths)} open path(s) in red"
        title += f"\n{query}  ->  {verdict}"
    ax.set_title(title, fontsize=11, parse_math=False)
    ax.set_xlim(min(xs) - 0.6, max(xs) + 0.6)
    ax.set_ylim(min(ys) - 0.6, max(ys) + 0.6)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.savefig(out, format=fmt, dpi=dpi, bbox_inches="tight", metadata=None if fmt == "png" else {})
    plt.close(fig)


_TEX_SPECIAL = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#",
                "^": r"\^{}", "_": r"\_", "%": r"\%", "~": r"\textasciitilde{}", "\n": " "}


def escape_tex(text: str) -> str:
    """Plain text for LaTeX: every special character escaped."""
    return "".join(_TEX_SPECIAL.get(ch, ch) for ch in text)


def _names(graph: CausalGraph) -> dict[str, str]:
    """Exporter-safe node names n0, n1, ... (ids such as A_B and AB, or 'end', never collide or clash)."""
    return {n: f"n{i}" for i, n in enumerate(graph.nodes)}


def to_tikz(graph: CausalGraph) -> str:
    pos = node_positions(graph)
    names = _names(graph)
    styles = {
        "observed": "circle, draw, fill=gray!30, minimum size=8mm",
        "predicted": "circle, draw, minimum size=8mm",
        "latent": "circle, draw, dashed, minimum size=8mm",
        "selection": "rectangle, draw, pattern=north east lines, minimum size=7mm",
        "context": "rectangle, draw, dotted, minimum size=7mm",
    }
    lines = [
        f"% {escape_tex(graph.title or graph.name)}: generated by causaliqa",
        "% needs \\usetikzlibrary{arrows.meta, patterns}",
        "\\begin{tikzpicture}[>={Stealth}, x=2cm, y=1.6cm,",
    ]
    lines += [f"  {role}/.style={{{style}}}," for role, style in styles.items()]
    lines[-1] = lines[-1].rstrip(",") + "]"
    for n, node in graph.nodes.items():
        x, y = pos[n]
        label = f"${node.math}$" if node.math else escape_tex(node.display)
        lines.append(f"  \\node[{node.role}] ({names[n]}) at ({x:g},{y:g}) {{{label}}};  % {escape_tex(n)}")
    for a, b in graph.edges:
        lines.append(f"  \\draw[->] ({names[a]}) -- ({names[b]});")
    lines.append("\\end{tikzpicture}")
    return "\n".join(lines) + "\n"


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(graph: CausalGraph) -> str:
    """Graphviz: every id and label quoted and escaped, so keywords (node, edge, graph, strict) are fine."""
    pos = node_positions(graph)
    attrs = {
        "observed": 'shape=circle, style=filled, fillcolor="#d9d9d9"',
        "predicted": "shape=circle",
        "latent": "shape=circle, style=dashed",
        "selection": 'shape=box, style=filled, fillcolor="#ffffff:#bbbbbb"',
        "context": "shape=box, style=dotted",
    }
    lines = [f"digraph {_dot_quote(graph.name)} {{", "  rankdir=LR;"]
    for n, node in graph.nodes.items():
        x, y = pos[n]
        lines.append(f"  {_dot_quote(n)} [label={_dot_quote(node.display)}, {attrs[node.role]}, pos=\"{x * 100:g},{y * 100:g}\"];")
    lines += [f"  {_dot_quote(a)} -> {_dot_quote(b)};" for a, b in graph.edges]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_label(text: str) -> str:
    return '"' + "".join(f"#{ord(ch)};" if ch in '"#<>&' else (" " if ch == "\n" else ch) for ch in text) + '"'


def to_mermaid(graph: CausalGraph) -> str:
    """Mermaid flowchart: safe node names (n0, n1, ...), labels quoted with entity codes for special characters."""
    names = _names(graph)
    shape = {"observed": "(({}))", "predicted": "(({}))", "latent": "(({}))", "selection": "[{}]", "context": "[{}]"}
    lines = ["flowchart LR"]
    for n, node in graph.nodes.items():
        lines.append(f"  {names[n]}{shape[node.role].format(_mermaid_label(node.display))}:::{node.role}")
    lines += [f"  {names[a]} --> {names[b]}" for a, b in graph.edges]
    lines += [
        "  classDef observed fill:#d9d9d9,stroke:#000",
        "  classDef predicted fill:#fff,stroke:#000",
        "  classDef latent fill:#fff,stroke:#000,stroke-dasharray:4 3",
        "  classDef selection fill:#bbb,stroke:#000",
        "  classDef context fill:#fff,stroke:#000,stroke-dasharray:1 2",
    ]
    return "\n".join(lines) + "\n"
