"""Quality as a prior on a task model's accuracy, against the methods people use (AC, DoC, ATC), on real images.

On the shared ImageNet-val images (300 x clean + 15 corruptions x severities 1, 3, 5 = 13,800 variants, scored once
into --store), M = EfficientNet-Lite0's correctness: every method's mean absolute error (accuracy points) under
ATC's protocol (fit on clean rows, predict each of the 45 groups) and leave-one-corruption-out, with intervals from
resampling groups; the wall time of `predict --evaluate`; and `predict` on the synthetic 3.8M-row paper store.

Targets: the best predictor that does not use the task model's own outputs within 1.5x of ATC's MAE; the best
predictor overall at or below ATC's MAE.

    python benchmarks/bench_prior.py [--store out/bench_prior] [--paper-store /tmp/paper_store]

Scoring the store takes about 25 minutes on 2 cores (the command is printed and run when --store lacks rows).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import report

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

M = "efficientnet_lite0.correct"
NR = ["iqa:brisque.score", "iqa:niqe.score", "iqa:piqe.score", "tv.score"]
OTHER_MODELS = ["efficientnet_lite1.max_prob", "efficientnet_lite1.entropy", "efficientnet_lite1.max_logit", "efficientnet_lite2.max_prob"]
OWN = ["efficientnet_lite0.max_prob"]
ESTIMATORS = ["iqa:brisque@{w}/brisque_svm_weights.pth", "iqa:niqe@{w}/niqe_modelparameters.mat", "iqa:piqe", "tv",
              "efficientnet_lite0:correct", "efficientnet_lite0:max_prob", "efficientnet_lite0:entropy",
              "efficientnet_lite1:max_prob", "efficientnet_lite1:entropy", "efficientnet_lite1:max_logit", "efficientnet_lite2:max_prob"]


def score_store(store: Path, images: int) -> None:
    shared = ROOT.parent / "shared"
    data = shared / "data" / "imagenet-val-1300"
    if not (data / "labels.csv").exists():
        raise SystemExit(f"bench_prior needs the shared images at {data}")
    command = [str(Path(sys.executable).with_name("causaliqa")), "score", "--images", str(data / "images"), "--labels",
               str(data / "labels.csv"), "--limit", str(images), "--corruptions", "all", "--severities", "1,3,5",
               *[a for e in ESTIMATORS for a in ("-e", e.format(w=shared / "weights"))], "--out", str(store), "--part-size", "2000"]
    print(" ".join(command))
    subprocess.run(command, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=ROOT / "out" / "bench_prior")
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--paper-store", type=Path, default=None, help="the synthetic 3.8M-row store (made when absent)")
    args = parser.parse_args()
    from causaliqa.prior import evaluate_prior, predict_accuracy
    from causaliqa.scoring.store import load_scores

    if not (args.store / "scores").is_dir():
        score_store(args.store, args.images)
    frame = load_scores(args.store)
    started = time.perf_counter()
    without = evaluate_prior(frame, M, NR + OTHER_MODELS)  # no output of the task model: 'logistic (all Q)' over these
    with_own = evaluate_prior(frame, M, OWN + NR + OTHER_MODELS)  # its own confidence too, and the anchors
    evaluate_s = time.perf_counter() - started
    errors = {(e.protocol, e.method, e.q): e for e in [*with_own.errors, *without.errors]}
    rows = []
    for protocol in ("clean -> each group", "leave one corruption out"):
        mine = [e for (p, _, _), e in errors.items() if p == protocol]
        atc = min((e for e in mine if e.method.startswith("ATC")), key=lambda e: e.mae)
        free = min((e for e in mine if not e.uses_task_model), key=lambda e: e.mae)
        best = min(mine, key=lambda e: e.mae)
        table = sorted(mine, key=lambda e: e.mae)
        rows.append({"workload": f"{protocol}: best without the task model's outputs vs ATC", "ours_s": evaluate_s,
                     "best_free": f"{free.method} from {free.q}: {free.mae:.2f} [{free.ci[0]:.2f}, {free.ci[1]:.2f}]",
                     "atc": f"{atc.method}: {atc.mae:.2f} [{atc.ci[0]:.2f}, {atc.ci[1]:.2f}]",
                     "ratio_to_atc": round(free.mae / atc.mae, 3), "target": "<= 1.5x ATC's MAE", "met": free.mae <= 1.5 * atc.mae})
        rows.append({"workload": f"{protocol}: best overall vs ATC", "ours_s": evaluate_s,
                     "best": f"{best.method} from {best.q}: {best.mae:.2f} [{best.ci[0]:.2f}, {best.ci[1]:.2f}]",
                     "atc": f"{atc.method}: {atc.mae:.2f}", "target": "<= ATC's MAE", "met": best.mae <= atc.mae,
                     "mae_table": [{"method": e.method, "q": e.q, "mae": round(e.mae, 2), "ci": [round(e.ci[0], 2), round(e.ci[1], 2)],
                                    "uses_task_model": e.uses_task_model} for e in table]})
    with tempfile.TemporaryDirectory() as tmp:
        from make_paper_store import make

        paper = args.paper_store or Path(tmp) / "paper_store"
        if not (paper / "scores").is_dir():
            make(paper)
        columns = ["resnet34.correct", "conf_strong.max_prob"]
        big = load_scores(paper, columns)
        started = time.perf_counter()
        prediction = predict_accuracy(big, big.drop(columns=["resnet34.correct"]), "resnet34.correct", ["conf_strong.max_prob"],
                                      ("logistic",), anchors=False, n_boot=200)
        predict_s = time.perf_counter() - started
    rows.append({"workload": f"predict on the paper store ({len(big):,} rows as reference and as target, logistic, 200 resamples)",
                 "ours_s": predict_s, "predicted": round(prediction.estimates[0].accuracy, 4), "target": "< 60 s", "met": predict_s < 60})
    report("prior", {"store_rows": len(frame), "images": int(frame["image_id"].nunique()), "groups": 45,
                     "paper_store_rows": len(big)}, rows)


if __name__ == "__main__":
    main()
