"""Estimator specs (``iqa:brisque``, ``efficientnet_lite0:correct``) -> one Binding per estimator."""

from __future__ import annotations

from causaliqa.errors import CausaliqaError
from causaliqa.estimators.registry import get_estimator, parse_binding
from causaliqa.scoring.run import Binding


def make_bindings(specs: list[str], where: str = "--estimator", options: dict[str, dict] | None = None) -> list[Binding]:
    """Group specs by estimator so each model runs once per batch, whatever outputs are kept."""
    wanted: dict[str, list[str]] = {}
    for spec in specs:
        name, output = parse_binding(spec, where)
        outputs = wanted.setdefault(name, [])
        if output not in outputs:
            outputs.append(output)
    bindings = []
    for name, outputs in wanted.items():
        estimator = get_estimator(name, where=where, **(options or {}).get(name, {}))
        for output in outputs:
            if output not in estimator.outputs:
                raise CausaliqaError(where, None, f"an output of {name} ({', '.join(estimator.outputs)})", repr(output))
        bindings.append(Binding(estimator, tuple(outputs)))
    return bindings
