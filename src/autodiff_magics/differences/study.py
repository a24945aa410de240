"""The step-size study: how the error of a difference depends on its step, over 14 decades."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .extrapolation import Evaluate


@dataclass
class StepStudy:
    """Error of forward and central differences along one direction, for steps 10⁻¹ … 10⁻¹⁴."""

    steps: list[float]
    forward: list[float]
    central: list[float]
    exact: float  # the reference directional derivative g·v
    used_forward: float | None
    used_central: float | None
    #: error of the extrapolated central difference ((4·d(h) − d(2h))/3, O(h⁴)) at each step
    extrapolated: list[float] = field(default_factory=list)


def step_study(
    evaluate: Evaluate,
    points: Mapping[str, Any],
    direction: dict[str, Any],
    exact: float,
    f0: float,
    eps: float,
    used: Mapping[str, float | None],
) -> StepStudy:
    """Sweep the step over 14 decades to show where truncation gives way to round-off (4
    evaluations per step: ±h, ±2h)."""
    import torch

    def at(s: float) -> float:
        return evaluate({name: torch.add(x, direction[name], alpha=s) for name, x in points.items()})

    lowest = int(math.floor(math.log10(eps))) + 1
    steps = [10.0**k for k in range(-1, lowest - 2, -1)]
    forward, central, extrapolated = [], [], []
    for h in steps:
        fp, fm, fp2, fm2 = at(h), at(-h), at(2 * h), at(-2 * h)
        d1, d2 = (fp - fm) / (2 * h), (fp2 - fm2) / (4 * h)
        forward.append(abs((fp - f0) / h - exact))
        central.append(abs(d1 - exact))
        extrapolated.append(abs((4 * d1 - d2) / 3 - exact))
    return StepStudy(steps, forward, central, exact, used.get("forward"), used.get("central"), extrapolated)
