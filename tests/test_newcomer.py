"""What a new user meets on the first day: help texts, one-line mistakes, notebook views, words."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from causaliqa import load_graph
from causaliqa.cli import app

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def test_help_shows_extras_as_written():
    result = runner.invoke(app, ["score", "--help"])
    assert result.exit_code == 0 and "pip install 'causaliqa[ray]'" in " ".join(result.output.split())


@pytest.mark.parametrize("args, message", [
    (["check", "graphs/baseline.yaml", "Q _||_ M", "Q _||_ Y"], "error: causaliqa check: QUERY: expected one query after the graph"),
    (["score", "--images", "graphs", "-e", "iqa:fid"], "expected a per-image no-reference quality metric (Q scores each image), got 'fid', a distance between"),
    (["score", "--images", "graphs", "-e", "iqa:inception_score"], "got 'inception_score', a score of a whole set of generated images"),
    (["score", "--images", "graphs", "-e", "iqa:clipscore"], "which needs a caption per image"),
    (["draw", "graphs/baseline.yaml", "-o", "x.dot", "--highlight", "Q _||_ M"], "--highlight: expected a drawn figure"),
    (["analyze", "out/demo", "--out", "x"], "--out/--report/--set: expected an experiment file as the first argument"),
])
def test_papercuts_are_one_line(args, message):
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and message in result.output and len(result.output.strip().splitlines()) == 1


def test_no_doubled_error_prefix():
    """A failed download named the estimator twice ('iqa:fid: iqa:fid: expected ...')."""
    from causaliqa.errors import CausaliqaError
    from causaliqa.estimators.base import Estimator

    class Failing(Estimator):
        higher_is_better = {"score": True}

        def load(self):
            raise OSError("<urlopen error [Errno -2] Name or service not known>")

    with pytest.raises(CausaliqaError) as err:
        Failing("iqa:musiq").load_checked("iqa:musiq")
    assert str(err.value).startswith("iqa:musiq: expected weights available offline") and "iqa:musiq: iqa:musiq" not in str(err.value)


def test_one_graph_is_singular():
    result = runner.invoke(app, ["check", "graphs/baseline.yaml"])
    assert result.exit_code == 0 and "claims hold in 1 graph." in result.output


def test_draw_highlight_colours_the_open_paths(tmp_path):
    out = tmp_path / "g.svg"
    result = runner.invoke(app, ["draw", "graphs/shared_features.yaml", "-o", str(out), "--highlight", "Q _||_ M | X"])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "NOT separated: 1 open path(s) in red" in text and "#b22222" in text.lower()  # firebrick


def test_notebook_views():
    g = load_graph("graphs/shared_features.yaml")
    assert repr(g) == "<CausalGraph 'shared_features': 7 nodes (3 predicted, 2 latent), 7 edges>" and "\n" not in repr(g)
    svg = ET.fromstring(g._repr_svg_())
    assert svg.tag.endswith("svg") and len([e for e in svg.iter() if e.tag.endswith("circle")]) == 7
    html = g.show("Q _||_ M | X")._repr_html_()
    assert "NOT separated" in html and "Q &lt;- Z -&gt; Yhat -&gt; M" in html and "firebrick" in html
    judgement = g.is_separated("Q _||_ M | X")
    assert "open: non-collider Z is not conditioned on" in judgement._repr_html_()


def test_results_convert_to_pandas():
    from causaliqa.analysis import analyse_pairs

    rng = np.random.default_rng(0)
    ids = np.repeat(np.arange(40), 6)
    q = rng.normal(size=ids.size)
    frame = pd.DataFrame({"image_id": ids, "label": ids % 5, "corruption": np.where(np.arange(ids.size) % 6, "fog", "clean"),
                          "severity": np.arange(ids.size) % 6 % 3, "Q": q,
                          "M": (rng.random(ids.size) < 1 / (1 + np.exp(-2 * q))).astype(float)})
    [pair] = analyse_pairs(frame, ["M"], ["Q"], n_boot=50)
    table = pair.to_frame()
    assert list(table[["m", "q", "images"]].iloc[0]) == ["M", "Q", 40]
    assert table["auc"].iloc[0] == pair.point_wise.auc and table["auc_low"].iloc[0] == pair.point_wise.auc_ci[0]
    assert "<table" in pair._repr_html_()


WORDS = [re.compile(r"\bissue\s*#?\d", re.I), re.compile(r"\bmCE\b")]


def test_no_tracker_numbers_or_ambiguous_mce_in_what_users_read():
    """Say what a thing is, not which ticket made it; 'mCE' means mean Corruption Error in ImageNet-C: CE here."""
    files = [ROOT / "README.md", *ROOT.glob("docs/*.md"), *ROOT.glob("causaliqa/**/*.py"), *ROOT.glob("graphs/*.yaml"),
             *ROOT.glob("experiments/*.yaml")]
    found = [f"{p.relative_to(ROOT)}:{i}" for p in files for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if any(w.search(line) for w in WORDS)]
    assert not found, found


def _console_examples(text: str) -> list[tuple[str, str]]:
    """(command, shown output) for every `$ causaliqa ...` line of a ```console block that shows output."""
    examples = []
    for block in re.findall(r"```console\n(.*?)```", text, re.S):
        lines = block.rstrip("\n").split("\n")
        i = 0
        while i < len(lines):
            if lines[i].startswith("$ causaliqa "):
                j = i + 1
                while j < len(lines) and not lines[j].startswith("$ "):
                    j += 1
                if j > i + 1:
                    examples.append((lines[i][2:], "\n".join(lines[i + 1:j])))
                i = j
            else:
                i += 1
    return examples


README_EXAMPLES = _console_examples((ROOT / "README.md").read_text(encoding="utf-8"))


def test_readme_is_short_and_shows_examples():
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 200
    assert len(README_EXAMPLES) >= 5


@pytest.mark.parametrize("command, shown", README_EXAMPLES, ids=[c for c, _ in README_EXAMPLES])
def test_readme_console_output_is_what_the_code_prints(command, shown):
    import shlex
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "causaliqa.cli", *shlex.split(command)[1:]], capture_output=True, text=True,
                            cwd=ROOT, env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"})
    assert (result.stdout + result.stderr).rstrip("\n") == shown


def test_readme_reads_a_store_with_duckdb_and_polars(tmp_path, monkeypatch):
    """The README's DuckDB and Polars lines, run as written against a store with the demo's name."""
    import numpy as np
    import pandas as pd

    from causaliqa.scoring.store import load_scores, write_part

    [block] = [b for b in re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S) if "duckdb" in b]
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    rows = pd.DataFrame({"image_id": np.repeat([f"i{k}" for k in range(20)], 3), "corruption": np.tile(["clean", "fog", "snow"], 20),
                         "severity": np.tile([0, 2, 2], 20).astype(np.int16), "label": 1, "input_sha": "x"})
    write_part("out/demo", rows.assign(**{"iqa:piqe.score": rng.normal(size=60)}))
    write_part("out/demo", rows.assign(**{"tv.score": rng.random(60)}))  # a column added to the stored rows
    from causaliqa.scoring.store import compact

    compact("out/demo")  # what the end of every run does
    namespace: dict = {}
    lines = [line for line in block.splitlines() if line.strip()]
    expressions = [line for line in lines if line.startswith(("duckdb.sql", "scores.group_by"))]
    exec("\n".join(line for line in lines if line not in expressions), namespace)
    by_duckdb, by_polars = (eval(e, namespace) for e in expressions)
    expected = load_scores("out/demo").groupby("corruption")["tv.score"].mean()
    got_duckdb = by_duckdb.set_index("corruption")["tv"].sort_index()
    got_polars = by_polars.to_pandas().set_index("corruption")["tv.score"].sort_index()
    np.testing.assert_allclose(got_duckdb.to_numpy(), expected.to_numpy())
    np.testing.assert_allclose(got_polars.to_numpy(), expected.to_numpy())
