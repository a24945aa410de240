"""SymPy: the cell traced on symbols, differentiated exactly."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ...cell import CellError
from ...errors import InputError
from ..report import MethodResult

from ..point import host
from ..report import SymbolicSummary, strings


def run(run, **_: Any) -> MethodResult:
    try:
        from ...symbolic import SymbolicUnsupported, trace_and_differentiate
    except ImportError as e:  # pragma: no cover - sympy is a dependency
        return MethodResult("symbolic", "failed", f"SymPy is not available: {e}")
    points = {name: host(t) for name, t in run.points.items()}
    try:
        result = trace_and_differentiate(run.cell, points)
    except CellError as e:
        if isinstance(e.original, SymbolicUnsupported):
            where = run.cell.describe(e.original)
            line = where.split(" raised ")[0] if where.startswith("line ") else ""
            return MethodResult("symbolic", "failed", f"{e.original}" + (f" ({line})" if line else ""))
        return MethodResult("symbolic", "failed", f"SymPy could not follow the cell: {e}")
    except SymbolicUnsupported as e:
        return MethodResult("symbolic", "failed", str(e))
    except RecursionError:
        return MethodResult("symbolic", "failed", "f's expression is nested too deeply for SymPy")
    if not math.isfinite(result.value) and run.f0 is not None and math.isfinite(run.f0):
        return MethodResult("symbolic", "failed", "SymPy's value of f is not finite where the cell's is")
    run.symbolic_kinks = result.kinks
    run.symbolic_summary = SymbolicSummary(result)
    error = {n: np.abs(g) * np.finfo(np.float64).eps for n, g in result.gradient.items()}
    return MethodResult("symbolic", "ok", gradient=result.gradient, error=error, details={"value": result.value})


