"""Estimator specs (``iqa:brisque``, ``efficientnet_lite0:correct``) -> one Binding per estimator."""

from __future__ import annotations

from causaliqa.errors import CausaliqaError
from causaliqa.estimators.registry import get_estimator, resolve_spec
from causaliqa.estimators.spec import EstimatorSpec
from causaliqa.scoring.run import Binding


def make_bindings(specs: list[str], where: str = "--estimator", options: dict[str, dict] | None = None) -> list[Binding]:
    """Group specs by estimator so each model runs once per batch, whatever outputs are kept."""
    wanted: dict[EstimatorSpec, list[str]] = {}
    for i, text in enumerate(specs):
        spec = resolve_spec(text, f"{where}[{i}]" if len(specs) > 1 else where)
        outputs = wanted.setdefault(spec.estimator, [])
        if spec.output not in outputs:
            outputs.append(spec.output)
    options = options or {}
    by_estimator = {str(resolve_spec(k, f"{where}: estimator_options").estimator): (k, v) for k, v in options.items()}
    unknown = [k for name, (k, _) in by_estimator.items() if name not in {str(s) for s in wanted}]
    if unknown:
        raise CausaliqaError(where, f"estimator_options.{unknown[0]}", f"one of the bound estimators ({', '.join(map(str, wanted))})", repr(unknown[0]))
    bindings = []
    for spec, outputs in wanted.items():
        _, opts = by_estimator.get(str(spec), (None, {}))
        bindings.append(Binding(get_estimator(spec, where=f"{where}: {spec}", **dict(opts or {})), tuple(outputs)))
    return bindings
