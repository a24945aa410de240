"""Per-coordinate central and forward differences."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ...cell import CellError
from ...errors import InputError
from ..report import MethodResult


def runner(scheme: str) -> Callable[..., MethodResult]:
    def runner(run, step: float | None = None, **_: Any) -> MethodResult:
        from ...finite_differences import per_coordinate

        try:
            d = per_coordinate(run.evaluate, run.points, scheme, run.eps, run.f0, relative_step=step, evaluate_batch=run.evaluate_batch)
        except CellError as e:
            return MethodResult(scheme, "failed", f"the cell failed at a shifted point: {e}")
        except InputError as e:
            return MethodResult(scheme, "failed", str(e))
        if scheme == "central":
            run.fd_kinks = d.kinks
        return MethodResult(
            scheme,
            "ok",
            gradient=d.gradient,
            error=d.error,
            evaluations=d.evaluations,
            step=d.relative_step,
            details={"roundoff_share": d.roundoff_share},
        )

    return runner


