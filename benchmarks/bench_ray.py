"""Ray Data backend vs the local backend on ONE machine, on the same job; and `causaliqa plan`'s prediction checked.

Job: real images x {clean, gaussian_noise, contrast} x severities {1, 3}, scored with tv, BRISQUE (shared parameter
file) and EfficientNet-Lite0 into a fresh store by each backend. Ray's start-up is reported on its own: starting a local Ray
instance, and the seconds until the first scored rows come back (worker processes import torch and load every
model); images/s are compared after the first rows, for both backends alike (overall figures are in the JSON too).
Targets: Ray >= 0.8x the local images/s; `plan` (stages.json, 1 node x this machine's CPUs) within 30 % of the
measured Ray wall time (start-up included in both). Run bench_stages.py first. Writes results/ray.json.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from causaliqa.data.datasets import DatasetSpec, build_records
from causaliqa.scoring.bindings import make_bindings
from causaliqa.scoring.plan import StageCosts, load_stage_costs, plan_run
from causaliqa.scoring.ray_backend import RayOptions
from causaliqa.scoring.run import score_images
from common import report, shared_images

SHARED = Path(__file__).resolve().parents[2] / "shared"


def specs() -> list[str]:
    return ["tv", f"iqa:brisque@{SHARED / 'weights' / 'brisque_svm_weights.pth'}", "efficientnet_lite0:correct",
            "efficientnet_lite0:max_prob"]


def main() -> None:
    args, root = shared_images("bench_ray", __doc__, 64)
    import ray

    spec = DatasetSpec(kind="imagenet_val", images=str(root / "images"), labels=str(root / "labels.csv"), limit=args.images,
                       corruptions=["gaussian_noise", "contrast"], severities=[1, 3])
    records = build_records(spec, "bench")[0]
    cpus = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as tmp:
        local = score_images(records, make_bindings(specs()), Path(tmp) / "local", progress=False)
        start = time.perf_counter()
        ray.init(address="local", num_cpus=cpus, logging_level="ERROR", log_to_driver=False, include_dashboard=False)
        startup = time.perf_counter() - start
        try:
            options = RayOptions()
            distributed = score_images(records, make_bindings(specs()), Path(tmp) / "ray", progress=False, backend="ray", ray=options)
        finally:
            ray.shutdown()
    ratio = distributed.steady_images_per_second / local.steady_images_per_second
    # start-up as `plan` reads it: the instance, then the time until the first rows came back less the time the
    # first rows themselves took at the steady rate (worker processes importing torch and loading every model)
    workers_up = distributed.first_rows_s - distributed.first_rows / distributed.steady_images_per_second
    costs = load_stage_costs()
    costs = StageCosts(costs.cpu, costs.gpu, startup + workers_up, costs.source)
    predicted = plan_run([(r.corruption, r.severity, r.generated) for r in records], [b.estimator.spec.base for b in make_bindings(specs())],
                         costs, nodes=1, cpus_per_node=cpus)
    measured = startup + distributed.seconds
    error = predicted.wall_s / measured - 1
    streaming = max(st.seconds for st in predicted.stages)  # the stage costs alone, against the run less its start-up
    streaming_measured = distributed.seconds - workers_up
    rows = [
        {"workload": f"ray start-up (local instance, {cpus} CPUs, then workers and models up)", "ours_s": startup + workers_up,
         "instance_s": startup, "workers_s": workers_up, "target": "report", "met": True},
        {"workload": "first rows back (models loaded, workers up): ray backend vs local backend", "ours_s": distributed.first_rows_s,
         "reference_s": local.first_rows_s, "ratio": local.first_rows_s / distributed.first_rows_s, "target": "report", "met": True},
        {"workload": f"{len(records)} variants, steady img/s after the first rows: ray vs local", "ours_s": distributed.seconds,
         "reference_s": local.seconds, "ratio": local.seconds / distributed.seconds,
         "ray_img_s": distributed.steady_images_per_second, "local_img_s": local.steady_images_per_second,
         "ray_img_s_overall": distributed.images_per_second, "local_img_s_overall": local.images_per_second,
         "ray_vs_local": ratio, "target": "ray >= 0.8x local steady img/s", "met": ratio >= 0.8},
        {"workload": "causaliqa plan vs measured ray wall time (start-up included)", "ours_s": predicted.wall_s, "reference_s": measured,
         "ratio": predicted.wall_s / measured, "error": error, "bottleneck": predicted.bottleneck,
         "stages_s": {s.stage: s.seconds for s in predicted.stages}, "target": "within 30 %", "met": abs(error) <= 0.30,
         "streaming_predicted_s": streaming, "streaming_measured_s": streaming_measured,
         "streaming_error": streaming / streaming_measured - 1},
    ]
    report("ray", {"variants": len(records), "images": args.images, "cpus": cpus, "actors": predicted.actors}, rows)


if __name__ == "__main__":
    main()
