"""The paper's analysis at the paper's size: `causaliqa analyze` on a synthetic 3.8M-row store, all 18
(M, Q) pairs, every analysis (group-wise, point-wise, per-label and per-image CV, 20 mixtures with a null band).

Runs the real command in a child process and reports its wall time, its peak RSS, and the per-pair cost of each
analysis stage (from the command's own stage timings), so the next slow part is visible. Target: <= 10 min and
<= 8 GB on this 2-core machine.

    python benchmarks/bench_paper_analysis.py [--store /tmp/paper_store]   # made (about 12 s) when absent
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import report

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_paper_store import M_MODELS, Q_SCORES, make  # noqa: E402

TARGET_S, TARGET_GB = 600, 8.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=None, help="an existing paper store (else one is made in a temp folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = args.store or Path(tmp) / "paper_store"
        if not (store / "scores").is_dir():
            make(store)
        m = [f"{model}.correct" for model in M_MODELS]
        q = list(Q_SCORES)
        out = Path(tmp) / "analysis.json"
        command = [str(Path(sys.executable).with_name("causaliqa")), "analyze", str(store), *[a for c in m for a in ("--m", c)],
                   *[a for c in q for a in ("--q", c)], "--no-progress", "--json-out", str(out)]
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - started
        peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 ** 2
        result = json.loads(out.read_text())
    pairs = len(m) * len(q)
    per_pair = {stage: round(s / pairs, 3) for stage, s in result["timings"].items() if stage != "read"}
    report("paper_analysis", {"rows": result["n_rows"], "pairs": pairs, "mixture_fractions": len(result["mixtures"][0]["fractions"]),
                              "n_boot": 1000, "splits": 10, "null_permutations": 200},
           [{"workload": f"causaliqa analyze, {result['n_rows']:,} rows x {pairs} pairs, every analysis + 20 mixtures",
             "ours_s": wall, "peak_rss_gb": round(peak_gb, 2), "read_s": round(result["timings"]["read"], 1),
             "per_pair_s": per_pair, "target": f"<= {TARGET_S} s, <= {TARGET_GB:g} GB",
             "met": wall <= TARGET_S and peak_gb <= TARGET_GB}])


if __name__ == "__main__":
    main()
