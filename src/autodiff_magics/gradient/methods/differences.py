"""Per-coordinate central and forward differences."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ...cell import CellError
from ...errors import InputError
from ..report import MethodResult


def runner(scheme: str) -> Callable[..., MethodResult]:
    def runner(run, step: float | None = None, **_: Any) -> MethodResult:
        from ...differences.coordinates import per_coordinate, plan_of

        # the central row measures f's noise on its way; the forward row reuses it instead of
        # spending evaluations of its own on noise()
        level = getattr(run, "measured_noise", None) if scheme == "forward" else None
        # the central row's batch also evaluates the forward row's points, which then runs no cell of its own
        plans = run.difference_plans
        if scheme == "central" and "forward" in run.planned:
            plans["forward"] = plan_of(run.points, "forward", run.eps, step)
        also = plans["forward"][1] if scheme == "central" and "forward" in plans else None
        known = run.shared_shifts if scheme == "forward" else None
        try:
            d = per_coordinate(run.evaluate, run.points, scheme, run.eps, run.f0, relative_step=step, evaluate_batch=run.evaluate_batch,
                               noise_level=level, also=also, known=known, planned=plans.get(scheme))
        except CellError as e:
            return MethodResult(scheme, "failed", f"the cell failed at a shifted point: {e}")
        except InputError as e:
            return MethodResult(scheme, "failed", str(e))
        if scheme == "central":
            run.shared_shifts = d.also
            run.fd_kinks = d.kinks
            if getattr(d, "noise", None) is not None and math.isfinite(d.noise):
                run.measured_noise = d.noise
        run.notes_after.extend(n for n in getattr(d, "notes", []) if n not in run.notes_after)
        return MethodResult(
            scheme,
            "ok",
            gradient=d.gradient,
            error=error_bound(run, d),
            evaluations=d.evaluations,
            step=d.relative_step,
            details={"roundoff_share": d.roundoff_share, **({"noise": d.noise} if getattr(d, "noise", None) is not None else {})},
            roundoff=getattr(d, "roundoff", None) or None,
        )

    return runner


def error_bound(run, d: Any) -> dict[str, np.ndarray]:
    """The stated error bound per component: the differences' own estimate (×SAFETY unless the
    differences say it is already a bound), plus round-off at the scale of f's intermediates.

    ε·|f|/h underestimates round-off where f is small but its parts are not (``Σx² − 1`` at a
    point on the unit circle): the parts' scale is taken as max(|f|, Σ|∂f/∂xᵢ·xᵢ|), or f's own
    noise at the point when the differences measured it."""
    from ...finite_differences import SAFETY

    if hasattr(d, "f_scale"):  # the differences state bounds, with round-off from f's measured noise
        return {n: np.asarray(e, dtype=float) for n, e in d.error.items()}
    bound = getattr(d, "error_bound", None)
    base = bound if bound is not None else {n: SAFETY * e for n, e in d.error.items()}
    noise = getattr(d, "noise", None)
    if noise is None:
        parts = sum(float(np.nansum(np.abs(g * run.points[n].detach().cpu().double().numpy()))) for n, g in d.gradient.items())
        noise = run.eps * max(abs(run.f0 or 0.0), parts if math.isfinite(parts) else 0.0)
    return {n: base[n] + SAFETY * noise / np.maximum(np.abs(d.steps[n]), np.finfo(np.float64).tiny) for n in base}
