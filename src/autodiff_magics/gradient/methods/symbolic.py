"""SymPy: the cell traced on symbols, differentiated exactly."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ...cell import CellError
from ..report import MethodResult

from ..point import host
from ..report import SymbolicSummary


def run(run, **_: Any) -> MethodResult:
    """SymPy traces the cell (through the evaluation, so silently and with the same random
    draws); it votes only if its f equals the cell's f at the point. When autograd's forward
    was recorded (see :func:`join_autograd`), the record is replayed instead of running f again."""
    done = getattr(run, "symbolic_from_record", None)
    if done is not None:
        return done
    return _run(run, None)


def join_autograd(run) -> bool:
    """Record autograd's forward for the symbolic engine, when the engine can replay a record
    (interface 2): the record is replayed on symbols right after that forward, and the replay's
    annotations (autograd node → expression, value) go to the graph capture (interface 1).
    Returns whether the symbolic row will come from that record."""
    try:
        from ... import symbolic as engine

        record_operators = engine.record_operators
    except (ImportError, AttributeError):
        return False
    from ...symbolic import memo

    recorder: dict[str, Any] = {}

    def factory(leaves: Mapping[str, Any]) -> Any:
        # a pure cell run again at the same point replays what it replayed before: no record needed
        key = memo.pure_key(run.source, leaves) if getattr(run, "pure", False) else None
        recorder["pure"] = key
        if memo.knows_pure(key):
            recorder["record"] = None
            return contextlib.nullcontext()
        recorder["record"] = record_operators(dict(leaves))
        return recorder["record"]

    def annotate(out: Any, leaves: Mapping[str, Any]) -> Any:
        record, key = recorder.pop("record", None), recorder.pop("pure", None)
        if record is None and not memo.knows_pure(key):
            return None
        import time

        start = time.perf_counter()
        try:
            if record is not None:
                record.finish(out)
            result = _run(run, record, pure=(key, out) if key is not None else None)
        except Exception as e:  # noqa: BLE001 - the symbolic row says why; autograd goes on
            result = MethodResult("symbolic", "failed", f"SymPy could not replay the recorded run: {_first_line(e)}")
        result.seconds = time.perf_counter() - start
        run.symbolic_from_record = result
        return getattr(run.symbolic_result, "annotations", None) if result.status == "ok" else None

    run.forward_contexts.append(factory)
    run.annotate = annotate
    return True


def _run(run, record: Any, pure: tuple[Any, Any] | None = None) -> MethodResult:
    """The symbolic row from ``record`` (None: the engine runs the cell itself); ``pure`` is a
    pure cell's (memo key, f's tensor in the recorded run): its replay is remembered by that key,
    and with no record it is taken from there."""
    try:
        from ...symbolic import SymbolicUnsupported, trace_and_differentiate
    except ImportError as e:  # pragma: no cover - sympy is a dependency
        return MethodResult("symbolic", "failed", f"SymPy is not available: {e}")
    copied = [c for c in getattr(run, "cuts", None) or [] if c.startswith("torch.tensor()")]
    if record is not None and copied:
        # torch.tensor(...) builds a new tensor from the values (no operator the record sees reads
        # the variables): the replay would take it as a constant, as autograd does
        return MethodResult("symbolic", "failed", f"{copied[0]} copies values out of the graph, and SymPy replays autograd's "
                            "record, which does not see through the copy")
    points = {name: host(t) for name, t in run.points.items()}
    try:
        result = None
        if pure is not None and record is None:
            from ...symbolic import memo
            from ...symbolic.result import make_symbols

            result = memo.remembered_pure(pure[0], pure[1], {name: make_symbols(name, p.shape) for name, p in points.items()})
        if result is None:
            result = trace_and_differentiate(run, points) if record is None else trace_and_differentiate(run, points, record=record)
            if pure is not None and record is not None:
                from ...symbolic import memo

                memo.remember_pure(pure[0], result, pure[1])
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
    except ValueError as e:
        if "derivative wrt" in str(e):
            return MethodResult(
                "symbolic", "skipped",
                "f uses a piecewise-constant operation (floor, ceil, round, %, fmod, trunc or sign) that SymPy cannot "
                "differentiate at a number; its derivative is 0 wherever it is defined",
            )
        return MethodResult("symbolic", "failed", f"SymPy cannot differentiate f here ({type(e).__name__}: {_first_line(e)})")
    except (TypeError, ArithmeticError, NotImplementedError, AttributeError) as e:
        # SymPy's own refusals, e.g. "Can't calculate derivative wrt 13/10" for floor or %
        return MethodResult("symbolic", "failed", f"SymPy cannot differentiate f here ({type(e).__name__}: {_first_line(e)})")
    run.symbolic_result = result
    if not all(np.all(np.isfinite(g)) for g in result.gradient.values()) and run.f0 is not None and math.isfinite(run.f0):
        return MethodResult("symbolic", "failed", "SymPy's gradient is not finite where the cell's f is")
    refusal = _validate(run, result)
    if refusal is not None:
        return MethodResult("symbolic", "failed", refusal)
    run.symbolic_kinks = result.kinks
    run.symbolic_summary = SymbolicSummary(result)
    error = {n: np.abs(g) * 4 * np.finfo(np.float64).eps for n, g in result.gradient.items()}
    return MethodResult("symbolic", "ok", gradient=result.gradient, error=error, details={"value": result.value})


def _validate(run, result: Any) -> str | None:
    """None when SymPy's f is the cell's f at the point; else why SymPy does not vote.

    Exact and float values differ by round-off; where they differ by more, SymPy's formula is
    evaluated in float64 as the cell would: equal there means the float f loses its digits
    (cancellation, SymPy stays exact and votes), different means SymPy followed another path."""
    f0, sv = run.f0, result.value
    if f0 is None:
        return None
    if not math.isfinite(sv):
        return None if not math.isfinite(f0) else "SymPy's value of f is not finite where the cell's is"
    if abs(sv - f0) <= 64 * np.finfo(np.float64).eps * max(abs(sv), abs(f0)) + 1e-300:
        return None
    rounded = _float_value(result, {n: host(t) for n, t in run.points.items()})
    fmt = _fmt
    if rounded is not None and abs(rounded - f0) <= 1e-9 * max(1.0, abs(f0)) and run.eps <= np.finfo(np.float64).eps:
        if abs(sv - f0) > 1e-6 * max(abs(sv), 1e-300):
            run.cancellation = (
                f"f loses its digits to cancellation at this point: in {str(run.dt).replace('torch.', '')} f = {fmt(f0)}, "
                f"exactly f = {fmt(sv)}."
            )
        return None
    if run.eps > np.finfo(np.float64).eps and abs(sv - f0) <= 64 * run.eps * max(abs(sv), abs(f0), 1.0):
        return None  # a lower-precision check: SymPy is exact, the cell rounds in its dtype
    run.symbolic_other_path = (
        f"SymPy followed another path through the cell: its f is {fmt(sv)} where the cell's f is {fmt(f0)} "
        "(a branch on the type or value of a variable, such as isinstance(x, torch.Tensor), goes another way on symbols); "
        "it does not vote."
    )
    return f"SymPy followed another path: its f = {fmt(sv)}, the cell's f = {fmt(f0)}"


def _float_value(result: Any, points: Mapping[str, np.ndarray]) -> float | None:
    """SymPy's expression evaluated in float64 arithmetic at the point (None if it cannot be)."""
    try:
        import sympy

        symbols = [s for name in points for s in np.asarray(result.symbols[name]).reshape(-1)]
        values = [float(v) for name in points for v in points[name].reshape(-1)]
        fn = sympy.lambdify(symbols, result.expression, modules="numpy")
        with np.errstate(all="ignore"):
            return float(fn(*[np.float64(v) for v in values]))
    except Exception:  # noqa: BLE001 - a formula NumPy cannot evaluate: no float value
        return None


def _fmt(x: float) -> str:
    from ...views.common import fmt_num

    return fmt_num(x)


def _first_line(e: BaseException) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return lines[0] if lines else type(e).__name__
