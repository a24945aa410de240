"""One module per differentiation method; each turns an :class:`Evaluation` into a MethodResult."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from ...errors import InputError
from ..report import METHODS, MethodResult
from . import autograd, differences, directional, expect, points, symbolic

def plan(methods: Sequence[str] | None, has_expect: bool, n: int, symbolic_limit: int, fd_limit: int, points_around: int = 0) -> list[str]:
    if methods is not None:
        plan = [m for m in METHODS if m in methods]
        if "expect" in plan and not has_expect:
            raise InputError("method 'expect' needs --expect EXPR (your own gradient)")
    else:
        plan = ["autograd"]
        if n <= symbolic_limit:
            plan.insert(0, "symbolic")
        plan += ["central", "forward"] if n <= fd_limit else ["directional"]
    if has_expect and "expect" not in plan:
        plan.append("expect")
    if "directional" in plan and "autograd" not in plan and "symbolic" not in plan:
        plan.insert(0, "autograd")  # the directional check needs a gradient to check
    if "symbolic" in plan and n > symbolic_limit:
        plan.remove("symbolic")
    if points_around and "points" not in plan:
        plan.append("points")
    if "points" in plan and not points_around:
        raise InputError("method 'points' needs --points K (how many random points around the point)")
    if "points" in plan and "autograd" not in plan:
        plan.insert(0, "autograd")  # the points row compares autograd with differences
    return plan


def skipped(methods: Sequence[str] | None, n: int, symbolic_limit: int, fd_limit: int) -> dict[str, str]:
    """Why the methods left out of the plan were left out (shown as skipped rows)."""
    out: dict[str, str] = {}
    if n > symbolic_limit and (methods is None or "symbolic" in methods):
        out["symbolic"] = f"{n:,} scalars is above the symbolic limit of {symbolic_limit:,} (--symbolic-limit)"
    if methods is None:
        if n > fd_limit:
            reason = f"{n:,} scalars is above the per-coordinate limit of {fd_limit:,} (--fd-limit): the directional check replaces it"
            out["central"] = out["forward"] = reason
        else:
            covered = "the one scalar" if n == 1 else f"all {n:,} scalars"
            out["directional"] = f"per-coordinate differences cover {covered}; the directional check is for inputs above {fd_limit:,}"
    return out


def timed(name: str, fn: Callable[[], MethodResult]) -> MethodResult:
    """Run one method; whatever it raises (but Ctrl-C) becomes a failed row with one sentence."""
    start = time.perf_counter()
    try:
        result = fn()
    except InputError as e:
        result = MethodResult(name, "failed", str(e))
    except RecursionError:
        result = MethodResult(name, "failed", "f is nested too deeply for this method")
    except Exception as e:  # noqa: BLE001 - a method's failure is a row of the report, never a traceback
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        result = MethodResult(name, "failed", f"{name} raised {type(e).__name__}" + (f": {first}" if first else ""))
    if result.seconds is None:  # a row computed inside another method's run keeps its own time
        result.seconds = time.perf_counter() - start
    return result


RUNNERS: dict[str, Callable[..., MethodResult]] = {
    "symbolic": symbolic.run,
    "autograd": autograd.run,
    "central": differences.runner("central"),
    "forward": differences.runner("forward"),
    "directional": directional.run,
    "expect": expect.run,
    "points": points.run,
}
