"""The directional check: g·v against central differences along random directions."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ...cell import CellError
from ...errors import InputError
from ..report import MethodResult


def run(run, step: float | None = None, directions: int = 3, seed: int = 0, **_: Any) -> MethodResult:
    from ...finite_differences import directional, noise, random_directions

    vs = random_directions(run.points, directions, seed)
    try:
        # f's noise measured at the point (6 evaluations) lets each direction take 4 evaluations
        # (±t, ±2t) instead of 8, with a bound that still covers round-off and truncation
        f0 = run.f0 if run.f0 is not None else run.evaluate(dict(run.points))
        measured = run.measured_noise is None
        spent = []

        def measure(t: float, known: Mapping[int, float], buffers: Mapping[str, Any]) -> float:
            # along the first direction, at the check's own step when it moves each element no more
            # than noise()'s √ε·max(1, |xᵢ|) would (so for many elements): its ±t, ±2t are reused
            fine = t <= math.sqrt(run.eps)
            spent.append(2 if fine else 6)
            return noise(run.evaluate, run.points, run.eps, f0, seed=seed, direction=vs[0] if vs else None,
                         unit=t if fine else None, known=known if fine else None, buffers=buffers)

        top = max((run.largest(x) for x in run.points.values()), default=0.0) if hasattr(run, "largest") else None
        d = directional(run.evaluate, run.points, vs, run.eps, relative_step=step, seed=seed,
                        noise_level=None if measured else run.measured_noise, noise=measure if measured else None, per_direction=4,
                        top=top)
    except CellError as e:
        return MethodResult("directional", "failed", f"the cell failed at a shifted point: {e}")
    except InputError as e:
        return MethodResult("directional", "failed", str(e))
    run.directions = vs
    from ...finite_differences import SAFETY

    # the new differences state bounds (and carry f's noise); the old ones state estimates
    bounds = list(d.errors) if hasattr(d, "noise") else [SAFETY * e for e in d.errors]
    return MethodResult(
        "directional",
        "ok",
        evaluations=d.evaluations + sum(spent),  # the noise's own evaluations are this row's too
        step=d.step,
        details={"directions": d.directions, "seed": seed, "differences": d.differences, "errors": bounds},
    )
