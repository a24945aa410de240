"""The heart of ``%%gradient``: one function, every differentiation method, cross-checked.

:func:`gradient` runs f (a cell's source or a Python callable) through autograd, SymPy, central
and forward differences, the directional check and the user's own ``expect``; compares each with
the reference (SymPy when it could follow f, else autograd) using tolerances derived from each
method's own error and the dtype; and explains every disagreement in plain words. It returns a
:class:`GradientReport` of plain data.

    >>> from autodiff_magics import gradient
    >>> r = gradient("sin(2*x)", x=3.5)
    >>> round(float(r.gradient["x"]), 12), r.agree
    (1.507804508687, True)
"""

from __future__ import annotations

import functools
import math
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .cell import CellError, CellFunction
from .errors import InputError
from .report import Report

__all__ = ["METHODS", "GradientReport", "MethodResult", "Disagreement", "gradient"]

#: every method a report can hold, in the order the tables show them
METHODS = ("symbolic", "autograd", "central", "forward", "directional", "expect")

_DTYPES = ("float64", "float32", "float16", "bfloat16")


@dataclass
class MethodResult:
    """One row of the comparison: a method's gradient (or why there is none) and its cost."""

    name: str
    status: str  # "ok" | "skipped" | "failed"
    reason: str | None = None
    gradient: dict[str, np.ndarray] | None = None
    error: dict[str, np.ndarray] | None = None  # estimated absolute error per component
    max_abs_error: float | None = None  # largest |this − reference|
    seconds: float | None = None
    evaluations: int | None = None
    step: float | None = None  # relative step (differences) or absolute step (directional)
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status}
        if self.status == "ok":
            if self.gradient is not None:
                out["gradient"] = {k: v.tolist() for k, v in self.gradient.items()}
            out["max_abs_error"] = self.max_abs_error
        else:
            out["reason"] = self.reason
        out["seconds"] = self.seconds
        if self.evaluations is not None:
            out["evaluations"] = self.evaluations
        if self.step is not None:
            out["step"] = self.step
        if self.details:
            out.update(self.details)
        return out


@dataclass
class Disagreement:
    """One component (or one direction) where a method and the reference differ."""

    method: str
    variable: str | None  # None for a direction of the directional check
    index: tuple[int, ...]
    value: float
    expected: float
    tolerance: float

    def label(self) -> str:
        if self.variable is None:
            return f"direction {self.index[0] + 1}"
        return self.variable + (f"[{', '.join(map(str, self.index))}]" if self.index else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "variable": self.variable,
            "index": list(self.index),
            "value": self.value,
            "expected": self.expected,
            "tolerance": self.tolerance,
        }


@dataclass
class Variable:
    """A variable as the report keeps it: its point (a host float64 copy) and notes."""

    name: str
    shape: tuple[int, ...]
    point: np.ndarray
    source: str
    dtype: str
    device: str

    @property
    def numel(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


class SymbolicSummary:
    """SymPy's formulas for the report, printed (as text and LaTeX) only when first shown.

    It keeps SymPy expressions, which are small immutable data (no tensors, no graph)."""

    def __init__(self, result: Any) -> None:
        self._result = result
        self.kinks: list[str] = list(result.kinks)

    def _print(self, exprs: dict[str, np.ndarray], how: Callable[[Any], str]) -> dict[str, np.ndarray]:
        return {n: _strings(d, how) for n, d in exprs.items()}

    @functools.cached_property
    def expression(self) -> str:
        return self._result.text(self._result.expression)

    @functools.cached_property
    def latex(self) -> str:
        return self._result.latex(self._result.expression)

    @functools.cached_property
    def derivatives(self) -> dict[str, np.ndarray]:
        """Each partial derivative as text (object arrays shaped like the variables)."""
        return self._print(self._result.derivatives, self._result.text)

    @functools.cached_property
    def derivatives_latex(self) -> dict[str, np.ndarray]:
        return self._print(self._result.derivatives, self._result.latex)

    @functools.cached_property
    def exact_gradient(self) -> dict[str, np.ndarray]:
        """The gradient's exact values at the point, as text (``2*cos(7)``)."""
        return self._print(self._result.exact_values, self._result.text)

    @functools.cached_property
    def exact_value(self) -> str:
        return self._result.text(self._result.exact_value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "expression": self.expression,
            "latex": self.latex,
            "derivatives": {k: v.tolist() for k, v in self.derivatives.items()},
            "exact_gradient": {k: v.tolist() for k, v in self.exact_gradient.items()},
            "exact_value": self.exact_value,
        }


@dataclass
class GradientReport(Report):
    """What ``%%gradient`` found: the value, every method's gradient, the verdict and why."""

    _views = "gradient"

    source: str
    value: float
    variables: dict[str, Variable]
    reference: str
    methods: dict[str, MethodResult]
    agree: bool
    verdict: str
    explanations: list[str]
    disagreements: list[Disagreement]
    notes: list[str]
    dtype: str
    device: str
    symbolic: SymbolicSummary | None = None
    graph: Any = None  # GraphReport of the autograd run, with the gradient that flowed
    study: Any = None  # StepStudy, when asked for
    tolerance: str = ""
    #: the methods most likely wrong where they disagree (autograd when it is the odd one out)
    suspects: list[str] = field(default_factory=list)

    @property
    def gradient(self) -> dict[str, np.ndarray]:
        """The reference gradient, per variable (float64 arrays shaped like the variables)."""
        ref = self.methods.get(self.reference)
        return dict(ref.gradient) if ref is not None and ref.gradient is not None else {}

    def __repr__(self) -> str:
        return f"<GradientReport f={self.value!r} reference={self.reference} agree={self.agree}>"

    def to_dict(self) -> dict[str, Any]:
        """The public contract (see the README): plain JSON-ready data."""
        return {
            "value": self.value,
            "variables": {n: v.point.tolist() for n, v in self.variables.items()},
            "reference": self.reference,
            "gradient": {n: g.tolist() for n, g in self.gradient.items()},
            "methods": {n: m.to_dict() for n, m in self.methods.items()},
            "agree": self.agree,
            "verdict": self.verdict,
            "explanations": list(self.explanations),
            "disagreements": [d.to_dict() for d in self.disagreements],
            "symbolic": self.symbolic.to_dict() if self.symbolic is not None else None,
            "suspects": list(self.suspects),
            "notes": list(self.notes),
            "dtype": self.dtype,
            "device": self.device,
            "graph": self.graph.to_dict() if self.graph is not None else None,
        }


# -- entry point -----------------------------------------------------------------------------------


def gradient(
    f: str | Callable[..., Any],
    /,
    at: Mapping[str, Any] | None = None,
    *,
    namespace: Mapping[str, Any] | None = None,
    methods: Sequence[str] | None = None,
    step: float | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    dtype: str = "float64",
    expect: Any = None,
    device: str | None = None,
    directions: int = 3,
    seed: int = 0,
    symbolic_limit: int = 64,
    fd_limit: int = 1000,
    study: bool = False,
    sources: Mapping[str, str] | None = None,
    **points: Any,
) -> GradientReport:
    """Differentiate f at a point by every method and cross-check them.

    ``f`` is Python source whose last expression is f (as in a ``%%gradient`` cell) or a
    callable taking the variables by name; the variables and their points come as keywords
    (``x=[1., 2., 3.]``) or in ``at``. Source reads ``namespace`` (default: the caller's
    globals) and never writes to it. ``expect`` is your own gradient: values (for one
    variable), a dict by variable, or a string evaluated with the variables at the point.

        >>> r = gradient(lambda x: (x**3).sum(), x=[1.0, 2.0])
        >>> r.gradient["x"].tolist()
        [3.0, 12.0]
    """
    import torch

    points = {**(at or {}), **points}
    if not points:
        raise InputError("no variable to differentiate with respect to: give one, e.g. x=3.5")
    if dtype not in _DTYPES:
        raise InputError(f"dtype {dtype!r} is not one of {', '.join(_DTYPES)}")
    for name, value in [("step", step), ("rtol", rtol), ("atol", atol)]:
        if value is not None and (not math.isfinite(value) or value < 0 or (name == "step" and value == 0)):
            raise InputError(f"{name} must be a positive finite number, got {value}")
    if methods is not None:
        unknown = [m for m in methods if m not in METHODS]
        if unknown:
            raise InputError(f"unknown method {', '.join(map(repr, unknown))}; choose from {', '.join(METHODS)}")
    sources = dict(sources or {})
    if namespace is None and isinstance(f, str):
        namespace = sys._getframe(1).f_globals
    dt = getattr(torch, dtype)
    eps = torch.finfo(dt).eps
    notes: list[str] = []
    dev = _pick_device(device, points)
    tensors = {name: _prepare(name, value, dt, dev, sources.get(name), notes) for name, value in points.items()}
    cell = CellFunction(f, namespace)
    run = _Run(cell, tensors, dt, eps, notes)
    with run.guard():
        value = run.value()
        plan = _plan(methods, expect is not None, run.numel, symbolic_limit, fd_limit)
        results: dict[str, MethodResult] = {}
        for name in plan:
            results[name] = _timed(name, lambda name=name: _METHOD_RUNNERS[name](run, step=step, expect=expect, namespace=namespace, directions=directions, seed=seed))
        for name, reason in _skipped(methods, run.numel, symbolic_limit, fd_limit).items():
            results.setdefault(name, MethodResult(name, "skipped", reason))
        reference = "symbolic" if _ok(results, "symbolic") else "autograd"
        if not _ok(results, reference):
            reference = next((m for m in ("central", "forward") if _ok(results, m)), reference)
        verdict = _compare(run, results, reference, rtol, atol, value)
        study_result = _study(run, results, reference, value, step) if study else None
    ordered = {m: results[m] for m in METHODS if m in results}
    return GradientReport(
        source=cell.source,
        value=value,
        variables={
            name: Variable(name, tuple(t.shape), _host(t), sources.get(name, name), dtype, str(t.device))
            for name, t in tensors.items()
        },
        reference=reference,
        methods=ordered,
        agree=verdict.agree,
        verdict=verdict.headline,
        explanations=verdict.explanations,
        disagreements=verdict.disagreements,
        notes=notes + run.notes_after,
        dtype=dtype,
        device=str(dev),
        symbolic=run.symbolic_summary,
        graph=run.graph,
        study=study_result,
        tolerance=verdict.tolerance,
        suspects=verdict.suspects,
    )


def _ok(results: Mapping[str, MethodResult], name: str) -> bool:
    return name in results and results[name].status == "ok"


# -- preparing the point ---------------------------------------------------------------------------


def _pick_device(device: str | None, points: Mapping[str, Any]):
    import torch

    if device is None:
        devices = {v.device for v in points.values() if isinstance(v, torch.Tensor)}
        if len(devices) > 1:
            raise InputError(f"the variables live on different devices ({', '.join(sorted(map(str, devices)))}): pass --device")
        return devices.pop() if devices else torch.get_default_device()
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise InputError(f"{device!r} is not a device name (e.g. cpu, cuda, cuda:1): {e}") from None
    try:
        torch.empty(0, device=dev)
    except (RuntimeError, AssertionError, AttributeError) as e:
        raise InputError(f"device {device!r} is not available here ({str(e).splitlines()[0]})") from None
    return dev


def _prepare(name: str, value: Any, dt: Any, dev: Any, source: str | None, notes: list[str]):
    """A fresh tensor of the check's dtype on the device: the user's object is never touched."""
    import torch

    what = f"--wrt {name}" if source == name else name
    original = value
    if isinstance(value, torch.Tensor):
        if value.is_complex():
            raise InputError(f"{what} is complex: f must be a real function of real variables (split it into .real and .imag)")
        if value.layout != torch.strided:
            raise InputError(f"{what} is a {str(value.layout).replace('torch.', '')} tensor: pass a dense one (.to_dense())")
        if value.device.type == "meta":
            raise InputError(f"{what} is a meta tensor: it has a shape but no values to differentiate at")
        tensor = value.detach()
    else:
        if isinstance(value, (str, bytes)) or value is None or callable(value) and not hasattr(value, "__array__"):
            kind = "None" if value is None else type(value).__name__
            raise InputError(f"{what} is a {kind}, not a number, list, array or tensor")
        try:
            arr = np.asarray(value)
        except (ValueError, TypeError) as e:
            raise InputError(f"{what} is not a rectangular array of numbers ({e})") from None
        if arr.dtype == object:
            try:
                arr = np.asarray(value, dtype=np.float64)
            except (ValueError, TypeError):
                raise InputError(f"{what} is not a number, list, array or tensor of numbers (it holds {type(value).__name__} items)") from None
        if np.iscomplexobj(arr):
            raise InputError(f"{what} is complex: f must be a real function of real variables (split it into real and imaginary parts)")
        if arr.dtype.kind not in "biuf":
            raise InputError(f"{what} holds {arr.dtype} values, not numbers")
        tensor = torch.from_numpy(np.array(arr, order="C", copy=True))
    if tensor.numel() == 0:
        raise InputError(f"{what} is empty: there is nothing to differentiate")
    if not (tensor.is_floating_point()):
        kind = ("a boolean" if tensor.dim() == 0 else "booleans") if tensor.dtype == torch.bool else ("an integer" if tensor.dim() == 0 else "integers")
        notes.append(f"{name} was given as {kind}; promoted to {str(dt).replace('torch.', '')}")
    elif tensor.dtype != dt and isinstance(original, torch.Tensor):
        notes.append(f"{name} is {str(tensor.dtype).replace('torch.', '')}; checked in {str(dt).replace('torch.', '')} (use --dtype to change)")
    fresh = tensor.to(device=dev, dtype=dt, copy=True).contiguous()
    bad = ~torch.isfinite(fresh)
    if bool(bad.any()):
        where = torch.nonzero(bad)[0].tolist()
        at = f"{name}[{', '.join(map(str, where))}]" if where else name
        kind = "nan" if math.isnan(float(fresh.reshape(-1)[bad.reshape(-1)][0])) else "infinite"
        raise InputError(f"{at} is {kind}: differentiate at a finite point")
    return fresh


def _host(t: Any) -> np.ndarray:
    return t.detach().to("cpu", dtype=__import__("torch").float64).numpy().copy()


# -- the run: evaluations with state guarded ------------------------------------------------------


class _Run:
    """Evaluates the cell for every method, keeping torch's global state as it was."""

    def __init__(self, cell: CellFunction, points: dict[str, Any], dt: Any, eps: float, notes: list[str]) -> None:
        self.cell = cell
        self.points = points
        self.dt = dt
        self.eps = eps
        self.notes = notes
        self.notes_after: list[str] = []
        self.numel = sum(int(t.numel()) for t in points.values())
        self.graph = None
        self.symbolic_summary: SymbolicSummary | None = None
        self.symbolic_kinks: list[str] = []
        self.fd_kinks: list[tuple[str, tuple[int, ...], float, float]] = []
        self.cuts: list[str] = []
        self.custom_functions: list[str] = []
        self.directions: list[dict[str, Any]] = []  # the directional check's random directions
        self.f0: float | None = None

    @contextmanager
    def guard(self):
        """Default dtype = the check's dtype while f runs; grad mode and dtype restored always.

        The cell runs dozens of times: its warnings are collected and reported once each, as
        notes, instead of printed on every run (library deprecation chatter is dropped)."""
        import torch

        dtype, grad = torch.get_default_dtype(), torch.is_grad_enabled()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                if self.dt in (torch.float32, torch.float64):
                    torch.set_default_dtype(self.dt)
                yield
            finally:
                torch.set_default_dtype(dtype)
                torch.set_grad_enabled(grad)
        seen: list[str] = []
        for w in caught:
            if issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning, FutureWarning)):
                continue
            text = f"the cell warned: {w.category.__name__}: {str(w.message).splitlines()[0]}"
            if text not in seen:
                seen.append(text)
        self.notes_after.extend(seen[:3])

    def evaluate(self, variables: Mapping[str, Any]) -> float:
        """f at these tensors, as a float (no graph is built)."""
        import torch

        with torch.no_grad():
            out = self.cell(variables)
        return _scalar(out, strict=False)

    def evaluate_batch(self, batched: Mapping[str, Any]) -> list[float]:
        """f at a batch of points (leading dimension) through ``torch.func.vmap``; raises when
        the cell does something vmap cannot batch, and the caller then goes one by one."""
        import torch
        from torch.func import vmap

        rows = next(iter(batched.values())).shape[0]
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # vmap's notes on slow fallbacks are ours, not the cell's
            out = vmap(lambda variables: self.cell(variables))(dict(batched))
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (rows,) or out.is_complex():
            raise ValueError("f is not one real number per point")
        return out.detach().double().cpu().tolist()

    def value(self) -> float:
        """f at the point; refuses results that are not one real number, with the reason."""
        import torch

        try:
            with torch.no_grad():
                out = self.cell(dict(self.points))
        except CellError as e:
            raise InputError(str(e)) from None
        value = _scalar(out, strict=True)
        self.f0 = value
        return value


def _scalar(out: Any, strict: bool) -> float:
    """One real number from the cell's value, or InputError saying how to get one."""
    import torch

    if isinstance(out, torch.Tensor):
        if out.numel() != 1:
            raise InputError(
                f"f must be a scalar, but the cell's last expression has shape {tuple(out.shape)}: "
                "reduce it, e.g. with .sum(), .mean() or .norm()"
            )
        if out.is_complex():
            raise InputError("f is complex: it must be real (take .real, .abs() or a norm)")
        if strict and (out.dtype == torch.bool or not out.is_floating_point()):
            raise InputError(f"f is a {str(out.dtype).replace('torch.', '')} tensor: it must be a real number (integer and boolean values have no gradient)")
        return float(out.detach().reshape(()).double().cpu())
    if isinstance(out, np.ndarray) or isinstance(out, np.generic):
        arr = np.asarray(out)
        if arr.size != 1:
            raise InputError(
                f"f must be a scalar, but the cell's last expression has shape {arr.shape}: reduce it, e.g. with .sum() or .mean()"
            )
        if np.iscomplexobj(arr):
            raise InputError("f is complex: it must be real (take .real, abs() or a norm)")
        if arr.dtype.kind not in "biuf":
            raise InputError(f"f is a NumPy {arr.dtype} value, not a number")
        return float(arr.reshape(()))
    if isinstance(out, bool):
        raise InputError("f is a boolean (True/False): it must be a real number")
    if isinstance(out, (int, float)):
        return float(out)
    if isinstance(out, complex):
        raise InputError("f is complex: it must be real (take .real, abs() or a norm)")
    if type(out).__module__.startswith("sympy"):
        try:
            return float(out)
        except TypeError:
            raise InputError("f is a SymPy expression with free symbols, not a number") from None
    kind = "None (did the last line assign instead of compute?)" if out is None else f"a {type(out).__name__}"
    raise InputError(f"the cell's last expression must be a number or a one-element tensor, but it is {kind}")


def _is_numpy_conversion(error: BaseException) -> bool:
    text = str(error)
    return "numpy()" in text and "requires grad" in text


# -- methods ---------------------------------------------------------------------------------------


def _plan(methods: Sequence[str] | None, has_expect: bool, n: int, symbolic_limit: int, fd_limit: int) -> list[str]:
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
    return plan


def _skipped(methods: Sequence[str] | None, n: int, symbolic_limit: int, fd_limit: int) -> dict[str, str]:
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


def _timed(name: str, fn: Callable[[], MethodResult]) -> MethodResult:
    start = time.perf_counter()
    result = fn()
    result.seconds = time.perf_counter() - start
    return result


def _run_symbolic(run: _Run, **_: Any) -> MethodResult:
    try:
        from .symbolic import SymbolicUnsupported, trace_and_differentiate
    except ImportError as e:  # pragma: no cover - sympy is a dependency
        return MethodResult("symbolic", "failed", f"SymPy is not available: {e}")
    points = {name: _host(t) for name, t in run.points.items()}
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


def _strings(arr: np.ndarray, fmt: Callable[[Any], str]) -> np.ndarray:
    out = np.empty(arr.shape, dtype=object)
    for idx, expr in np.ndenumerate(arr):
        out[idx] = fmt(expr)
    return out


def _run_autograd(run: _Run, **_: Any) -> MethodResult:
    import torch

    from .cuts import CutSpy

    leaves = {name: t.detach().clone().requires_grad_(True) for name, t in run.points.items()}
    spy = CutSpy(run.cell)
    try:
        with torch.enable_grad(), spy:
            out = run.cell(dict(leaves))
    except CellError as e:
        if _is_numpy_conversion(e.original):
            return MethodResult(
                "autograd",
                "failed",
                f"autograd cannot follow NumPy code: {run.cell.describe(e.original).split(' raised ')[0]} converts a tensor "
                "to a NumPy array; write sin(x) or torch.sin(x) instead of np.sin(x)",
            )
        return MethodResult("autograd", "failed", f"the cell failed under autograd: {e}")
    run.cuts = spy.cuts
    names = list(leaves)
    if not isinstance(out, torch.Tensor) or not out.requires_grad:
        grads = {n: np.zeros(tuple(leaves[n].shape)) for n in names}
        what = "a tensor without a graph" if isinstance(out, torch.Tensor) else f"a plain {type(out).__name__}"
        run.notes_after.append(f"autograd: the cell returns {what}, so to autograd f does not depend on the variables (gradient 0)")
        return MethodResult("autograd", "ok", gradient=grads, error={n: np.zeros_like(g) for n, g in grads.items()}, details={"nodes": 0})
    capture = _capture(out, leaves)
    try:
        if capture is not None:
            with capture:
                raw = torch.autograd.grad(out, [leaves[n] for n in names], allow_unused=True)
        else:
            raw = torch.autograd.grad(out, [leaves[n] for n in names], allow_unused=True)
    except RuntimeError as e:
        return MethodResult("autograd", "failed", f"the backward pass raised: {str(e).splitlines()[0]}")
    if capture is not None:
        run.graph = capture.report()
        run.custom_functions = _custom_functions(run.graph)
    grads = {}
    for n, g in zip(names, raw):
        if g is None:
            grads[n] = np.zeros(tuple(leaves[n].shape))
            run.notes_after.append(f"autograd: f does not use {n} (its gradient is zero)")
        else:
            grads[n] = _host(g)
    nodes = run.graph.count if run.graph is not None else 1
    scale = 8 * run.eps * math.sqrt(max(nodes, 1))
    error = {n: np.abs(g) * scale for n, g in grads.items()}
    return MethodResult("autograd", "ok", gradient=grads, error=error, details={"nodes": nodes})


def _capture(out: Any, leaves: Mapping[str, Any]):
    try:
        from .graph import capture_flow
    except ImportError:  # the graph module is optional while it is being built
        return None
    return capture_flow(out, leaves)


def _custom_functions(graph: Any) -> list[str]:
    names = []
    for node in graph.nodes:
        if node.kind == "custom":
            names.append(node.op)
    return sorted(set(names))


def _run_differences(scheme: str) -> Callable[..., MethodResult]:
    def runner(run: _Run, step: float | None = None, **_: Any) -> MethodResult:
        from .finite_differences import per_coordinate

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


def _run_directional(run: _Run, step: float | None = None, directions: int = 3, seed: int = 0, **_: Any) -> MethodResult:
    from .finite_differences import directional, random_directions

    vs = random_directions(run.points, directions, seed)
    try:
        d = directional(run.evaluate, run.points, vs, run.eps, relative_step=step, seed=seed)
    except CellError as e:
        return MethodResult("directional", "failed", f"the cell failed at a shifted point: {e}")
    except InputError as e:
        return MethodResult("directional", "failed", str(e))
    run.directions = vs
    return MethodResult(
        "directional",
        "ok",
        evaluations=d.evaluations,
        step=d.step,
        details={"directions": d.directions, "seed": seed, "differences": d.differences, "errors": d.errors},
    )


def _run_expect(run: _Run, expect: Any = None, namespace: Mapping[str, Any] | None = None, **_: Any) -> MethodResult:
    import torch

    value = expect
    if isinstance(expect, str):
        scope = dict(namespace or {})
        from .functions import NAMES

        scope.update(NAMES)
        scope.update({n: t.detach().clone() for n, t in run.points.items()})
        try:
            with torch.no_grad():
                value = eval(compile(expect, "<--expect>", "eval"), scope)
        except SyntaxError as e:
            raise InputError(f"--expect {expect!r} is not valid Python: {e.msg}") from None
        except Exception as e:
            raise InputError(f"could not evaluate --expect {expect!r}: {type(e).__name__}: {e}") from None
    names = list(run.points)
    if isinstance(value, Mapping):
        missing = [n for n in names if n not in value]
        if missing:
            raise InputError(f"--expect gives no gradient for {', '.join(missing)}")
        per_var = {n: value[n] for n in names}
    elif len(names) == 1:
        per_var = {names[0]: value}
    elif isinstance(value, (list, tuple)) and len(value) == len(names):
        per_var = dict(zip(names, value))
    else:
        raise InputError(f"--expect must give one gradient per variable ({', '.join(names)}): a dict by name or a list in that order")
    grads, error = {}, {}
    for n, v in per_var.items():
        shape = tuple(run.points[n].shape)
        eps = np.finfo(np.float64).eps
        if isinstance(v, torch.Tensor):
            eps = torch.finfo(v.dtype).eps if v.is_floating_point() else eps
            arr = v.detach().to("cpu", torch.float64).numpy()
        else:
            try:
                arr = np.asarray(v, dtype=np.float64)
            except (TypeError, ValueError):
                raise InputError(f"--expect for {n} is not numbers: {v!r}") from None
            if isinstance(v, np.ndarray) and v.dtype.kind == "f":
                eps = np.finfo(v.dtype).eps
        if arr.size == int(np.prod(shape)) and arr.shape != shape:
            arr = arr.reshape(shape)
        if arr.shape != shape:
            raise InputError(f"--expect for {n} has shape {arr.shape}, but {n} has shape {shape}")
        grads[n] = arr.copy()
        error[n] = 4 * eps * np.abs(arr)
    return MethodResult("expect", "ok", gradient=grads, error=error, details={"source": expect if isinstance(expect, str) else None})


_METHOD_RUNNERS: dict[str, Callable[..., MethodResult]] = {
    "symbolic": _run_symbolic,
    "autograd": _run_autograd,
    "central": _run_differences("central"),
    "forward": _run_differences("forward"),
    "directional": _run_directional,
    "expect": _run_expect,
}


# -- comparison and verdict ------------------------------------------------------------------------


@dataclass
class _Verdict:
    headline: str
    explanations: list[str]
    disagreements: list[Disagreement]
    tolerance: str
    suspects: list[str] = field(default_factory=list)
    #: every method agrees with a reference that ran, and f is finite
    agree: bool = False


def _compare(run: _Run, results: dict[str, MethodResult], reference: str, rtol: float | None, atol: float | None, value: float) -> _Verdict:
    from .finite_differences import SAFETY

    ref = results.get(reference)
    explanations: list[str] = []
    disagreements: list[Disagreement] = []
    if ref is None or ref.status != "ok" or ref.gradient is None:
        reasons = "; ".join(f"{m.name}: {m.reason}" for m in results.values() if m.status == "failed")
        return _Verdict("No gradient could be computed.", [reasons] if reasons else [], [], "")
    gscale = max((float(np.max(np.abs(g))) for g in ref.gradient.values() if g.size), default=0.0)
    floor = 16 * run.eps * gscale
    user = rtol is not None or atol is not None
    tolerance_text = (
        f"|method − {reference}| ≤ {atol or 0:g} + {rtol or 0:g}·|{reference}|"
        if user
        else f"derived per component: {SAFETY:g}× (the method's estimated error + the reference's) + 16ε·max|g|"
    )
    per_method_ok: dict[str, bool] = {}
    inconclusive: list[str] = []
    for name, m in results.items():
        if name == reference or m.status != "ok":
            continue
        if name == "directional":
            m.details["reference"] = reference
            ok = _compare_directional(run, m, ref, floor, rtol, atol, disagreements)
            per_method_ok[name] = ok
            continue
        worst = 0.0
        widest = 0.0
        ok = True
        for var, g_ref in ref.gradient.items():
            g = m.gradient[var]
            diff = np.abs(g - g_ref)
            largest = float(np.max(diff)) if diff.size else 0.0
            if math.isnan(largest) or largest > worst:
                worst = largest
            if user:
                tol = (atol if atol is not None else floor) + (rtol or 0.0) * np.abs(g_ref)
            else:
                tol = SAFETY * (m.error[var] + ref.error[var]) + floor
            widest = max(widest, float(np.max(tol)) if np.size(tol) else 0.0)
            bad = ~(diff <= tol)  # NaN counts as a disagreement
            for idx in zip(*np.nonzero(bad)) if bad.ndim else ([()] if bool(bad) else []):
                idx = tuple(int(i) for i in idx)
                disagreements.append(Disagreement(name, var, idx, float(g[idx]), float(g_ref[idx]), float(np.asarray(tol)[idx] if np.ndim(tol) else tol)))
                ok = False
        m.max_abs_error = worst
        per_method_ok[name] = ok
        # a tolerance as wide as the gradient itself makes "agreement" meaningless: say so
        if ok and not user and gscale > 0 and widest > 0.25 * gscale and math.isfinite(value):
            inconclusive.append(name)
    ref.max_abs_error = 0.0
    explanations.extend(_explain(run, results, reference, disagreements, per_method_ok, value))
    suspects = sorted({d.method for d in disagreements}, key=METHODS.index)
    if disagreements and _autograd_is_odd(results, reference, per_method_ok):
        suspects = ["autograd"] + [m for m in suspects if m == "expect"]
    compared = [n for n, m in results.items() if m.status == "ok"]
    if not math.isfinite(value):
        headline = f"f is {_fmt(value)} at the point: no gradient there is meaningful."
    elif not disagreements and inconclusive:
        headline = f"Inconclusive: {_join(inconclusive)} cannot resolve the gradient at this step and dtype."
        for name in inconclusive:
            m = results[name]
            explanations.append(
                f"{name} differences in {str(run.dt).replace('torch.', '')} with a step of {m.step:.2g}·max(1, |xᵢ|) carry an estimated "
                f"round-off error as large as the gradient (ε·|f|/h), so their agreement means nothing; the step that suits "
                f"this dtype is ≈ {_suited_step(name, run.eps):.2g}·max(1, |xᵢ|) (the default when --step is not given)."
            )
    elif not disagreements:
        others = [n for n in compared if n != reference]
        if others:
            headline = f"All {len(compared)} methods agree (reference: {reference})."
        else:
            headline = f"Only {reference} ran: nothing to cross-check."
    else:
        bad_methods = sorted({d.method for d in disagreements}, key=METHODS.index)
        places = sorted({d.label() for d in disagreements})
        where = f"at {', '.join(places[:4])}{' and more' if len(places) > 4 else ''}"
        if _autograd_is_odd(results, reference, per_method_ok):
            others = [m for m in bad_methods if m != "expect"]
            headline = f"autograd disagrees with {_join(others)} {where}."
        else:
            headline = f"{_join(bad_methods)} {'disagrees' if len(bad_methods) == 1 else 'disagree'} with {reference} {where}."
        if run.symbolic_kinks or run.fd_kinks:
            headline = "f is not differentiable at the point: " + headline
    suspects += [m for m in inconclusive if m not in suspects]
    agree = not disagreements and not suspects and math.isfinite(value)
    return _Verdict(headline, explanations, disagreements, tolerance_text, suspects, agree)


def _compare_directional(run: _Run, m: MethodResult, ref: MethodResult, floor: float, rtol, atol, disagreements: list[Disagreement]) -> bool:
    import torch

    ok = True
    from .finite_differences import SAFETY

    expected, exp_err = [], []
    for v in run.directions:
        dot, err = 0.0, 0.0
        for var, g in ref.gradient.items():
            # directions are ±1, so |g·v| terms are |g| and the error bound is a plain sum
            vt = v[var].detach().to("cpu", torch.float64).reshape(-1)
            gt = torch.from_numpy(g.reshape(-1))
            dot += float(gt @ vt)
            err += float(torch.from_numpy(ref.error[var].reshape(-1)).sum()) + 4 * run.eps * float(gt.abs().sum())
        expected.append(dot)
        exp_err.append(err)
    diffs = m.details["differences"]
    errs = m.details["errors"]
    worst = 0.0
    for k, (d, e, x, xe) in enumerate(zip(diffs, errs, expected, exp_err)):
        diff = abs(d - x)
        worst = max(worst, diff)
        tol = ((atol if atol is not None else floor) + (rtol or 0.0) * abs(x)) if (rtol is not None or atol is not None) else SAFETY * (e + xe) + floor
        if not diff <= tol:
            disagreements.append(Disagreement("directional", None, (k,), d, x, tol))
            ok = False
    m.details["expected"] = expected
    m.max_abs_error = worst
    return ok


def _fmt(x: float) -> str:
    from .views.common import fmt_num

    return fmt_num(x)


def _explain(
    run: _Run,
    results: dict[str, MethodResult],
    reference: str,
    disagreements: list[Disagreement],
    per_method_ok: dict[str, bool],
    value: float,
) -> list[str]:
    """Plain-words reasons for what disagrees, most specific first."""
    out: list[str] = []
    if not math.isfinite(value):
        out.append(f"f evaluates to {_fmt(value)} at the point, so every method's numbers are meaningless there.")
    by_method: dict[str, list[Disagreement]] = {}
    for d in disagreements:
        by_method.setdefault(d.method, []).append(d)
    kinks = list(run.symbolic_kinks)
    fd_kink_labels = [f"{v}[{', '.join(map(str, i))}]" if i else v for v, i, _, _ in run.fd_kinks]
    if kinks or fd_kink_labels:
        where = ", ".join(kinks) if kinks else ", ".join(fd_kink_labels)
        slopes = "; ".join(
            f"left slope {_fmt(lft)}, right slope {_fmt(rgt)} in {v}{'[' + ', '.join(map(str, i)) + ']' if i else ''}"
            for v, i, lft, rgt in run.fd_kinks
        )
        out.append(
            f"f is not differentiable at this point ({where} sits exactly on its kink"
            + (f"; {slopes}" if slopes else "")
            + "). Autograd, SymPy and the differences each pick a different but legitimate value there "
            "(autograd takes torch's convention, e.g. 0 for abs; SymPy sign(0) = 0 or Heaviside(0) = 1/2; "
            "a forward difference sees the right-hand slope). Move the point off the kink to compare them."
        )
    autograd_odd = "autograd" in by_method or _autograd_is_odd(results, reference, per_method_ok)
    explained = autograd_odd and bool(run.cuts or run.custom_functions)
    for method, items in by_method.items():
        where = ", ".join(f"{d.label()} ({_fmt(d.value)} vs {_fmt(d.expected)})" for d in items[:6])
        more = f" and {len(items) - 6} more" if len(items) > 6 else ""
        if method == "expect":
            support = [m for m in ("central", "forward", "autograd", "symbolic") if m != reference and per_method_ok.get(m)]
            backing = f"; {_join(support)} agree with {reference}, so the expected values are the likely culprit" if support else ""
            out.append(f"Your --expect differs from {reference} at {where}{more}{backing}.")
            continue
        if kinks or fd_kink_labels or (explained and method != "autograd" and reference == "autograd"):
            continue
        if method in ("central", "forward", "directional") and run.eps > np.finfo(np.float64).eps and results[method].details.get("roundoff_share", 0) > 0.5:
            out.append(
                f"{method} differences in {str(run.dt).replace('torch.', '')} are dominated by round-off at this step "
                f"(about ε·|f|/h); the step that suits this dtype is ≈ {_suited_step(method, run.eps):.2g}·max(1, |x|) "
                "(the default when --step is not given); or check in float64."
            )
            continue
        out.append(f"{method} disagrees with {reference} at {where}{more}.")
    if autograd_odd and not (kinks or fd_kink_labels):
        if run.cuts:
            out.append(
                "Autograd's graph is cut by " + ", ".join(run.cuts)
                + ": autograd treats what these return as constants, so its gradient misses those paths, while "
                "SymPy and the differences see the whole function. Keep the computation in tensors (no .item(), .detach(), .numpy() or float())."
            )
        elif run.custom_functions:
            out.append(
                "The cell uses the custom autograd.Function "
                + ", ".join(run.custom_functions)
                + ": autograd follows its hand-written backward, and the other methods disagree with it, so that backward is the likely culprit."
            )
        elif "autograd" in by_method or reference == "autograd":
            out.append("Autograd is the odd one out; look for operations that stop gradients (torch.no_grad, in-place edits of .data) in the cell.")
    return out


def _autograd_is_odd(results: dict[str, MethodResult], reference: str, per_method_ok: dict[str, bool]) -> bool:
    """Autograd is the reference, and every other method that ran disagrees with it."""
    others = [m for m in ("symbolic", "central", "forward", "directional") if m in per_method_ok]
    return reference == "autograd" and bool(others) and not any(per_method_ok[m] for m in others)


def _join(words: Sequence[str]) -> str:
    """a, b and c"""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _suited_step(method: str, eps: float) -> float:
    from .finite_differences import default_step

    return default_step("central" if method != "forward" else "forward", eps)


def _study(run: _Run, results: dict[str, MethodResult], reference: str, value: float, step: float | None):
    import torch

    from .finite_differences import random_directions, step_study

    ref = results.get(reference)
    if ref is None or ref.status != "ok" or ref.gradient is None:
        return None
    v = random_directions(run.points, 1, 12345)[0]
    exact = sum(float(torch.from_numpy(g.reshape(-1)) @ v[n].detach().to("cpu", torch.float64).reshape(-1)) for n, g in ref.gradient.items())
    top = max(float(t.abs().max()) for t in run.points.values())
    used = {
        m: results[m].step * max(1.0, top) if m in results and results[m].status == "ok" and results[m].step else None
        for m in ("forward", "central")
    }
    try:
        return step_study(run.evaluate, run.points, v, exact, value, run.eps, used)
    except CellError:
        return None
