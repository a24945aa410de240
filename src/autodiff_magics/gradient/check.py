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

import math
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..cell import CellFunction
from ..errors import InputError
from .comparison import choose_reference, compare
from .comparison import study as step_study
from .evaluation import Evaluation
from .methods import RUNNERS, plan, skipped, timed
from .methods.symbolic import join_autograd
from .point import expand_modules, host, pick_device, prepare
from .report import METHODS, GradientReport, MethodResult, Variable

__all__ = ["gradient"]

_DTYPES = ("float64", "float32", "float16", "bfloat16")


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
    points_around: int = 0,
    silence: Callable[[], Any] | None = None,
    forward_contexts: Sequence[Callable[[], Any]] = (),
    progress: Callable[[str, int, int], None] | None = None,
    **points: Any,
) -> GradientReport:
    """Differentiate f at a point by every method and cross-check them.

    ``f`` is Python source whose last expression is f (as in a ``%%gradient`` cell) or a
    callable taking the variables by name; the variables and their points come as keywords
    (``x=[1., 2., 3.]``) or in ``at``. Source reads ``namespace`` (default: the caller's
    globals) and never writes to it. ``expect`` is your own gradient: values (for one
    variable), a dict by variable, or a string evaluated with the variables at the point.
    A variable may be the user's own tensor (also a model's parameter: the cell's every use of
    it is differentiated) or a ``torch.nn.Module`` (every parameter, named ``model.0.weight``).
    ``points_around=K`` also compares autograd with central differences at K random points
    around the point. ``silence`` is a context manager factory that hides the extra runs'
    displays (the magics pass one for IPython's display); ``forward_contexts`` are entered
    around autograd's forward (e.g. an operator recorder); ``progress(method, done, total)``
    hears about slow checks.

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
    cell = CellFunction(f, namespace)
    run = Evaluation(cell, dt, eps, notes, namespace=namespace if isinstance(f, str) else None, silence=silence, forward_contexts=forward_contexts)
    try:
        with run.guard():
            report = _check(run, f, cell, points, sources, dt, dtype, device, notes, methods, step, rtol, atol, expect, namespace,
                            directions, seed, symbolic_limit, fd_limit, study, points_around, progress)
        report.notes = notes + run.notes_after  # the guard adds what it saw on the way out
    finally:
        close = getattr(progress, "close", None)
        if close is not None:
            close()
    return report


def _evaluations(planned: Sequence[str], n: int, directions: int, points_around: int) -> int:
    """About how many times the methods will run the cell (for the progress line), one by one: a
    vmap batch that takes the place of its rows lowers the count as it runs (``run.saved``)."""
    # central: x ± k·h, k = 1…4, per coordinate; forward: two steps per coordinate (run in the
    # central row's batch or loop when both run)
    per = {"symbolic": 1, "autograd": 1, "central": 8 * n, "forward": 2 * n, "directional": 4 * directions + 6, "points": 5 * points_around}
    tried = 1 if "central" in planned or "forward" in planned else 0  # the batch's own run, or its attempt
    return sum(per.get(m, 0) for m in planned) + tried


def _check(run, f, cell, points, sources, dt, dtype, device, notes, methods, step, rtol, atol, expect, namespace,
           directions, seed, symbolic_limit, fd_limit, study, points_around, progress) -> GradientReport:
    points, originals = expand_modules(points, sources, notes)
    dev = pick_device(device, points)
    tensors = {name: prepare(name, value, dt, dev, sources.get(name), notes) for name, value in points.items()}
    variables = {name: Variable(name, tuple(t.shape), host(t), sources.get(name, name), dtype, str(t.device)) for name, t in tensors.items()}
    run.set_points(tensors, originals, remake=lambda name: prepare(name, points[name], dt, dev, sources.get(name), []))
    if run.promote:
        lower = sorted({str(o.dtype).replace("torch.", "") for o in originals.values() if o.dtype != dt})
        # each variable has its own "x is float32; checked in float64" note: this one says what else happens
        notes.append(
            f"every other {', '.join(lower)} tensor the cell reaches (a module's parameters and buffers, constants) is promoted "
            f"as well: the cell runs on {dtype} copies, your objects are unchanged (--dtype {lower[0]} checks in their own dtype)"
        )
    planned = plan(methods, expect is not None, run.numel, symbolic_limit, fd_limit, points_around)
    run.hold_forward = "autograd" in planned
    value = run.value()
    current = [""]
    if progress is not None:
        total = run.count + _evaluations(planned, run.numel, directions, points_around)
        run.progress = lambda done: progress(current[0], done, total - run.saved)
    if "symbolic" in planned and "autograd" in planned and join_autograd(run):
        planned = ["autograd"] + [m for m in planned if m != "autograd"]  # symbolic replays autograd's record
    run.planned = planned
    results: dict[str, MethodResult] = {}
    for name in planned:
        current[0] = name
        results[name] = timed(name, lambda name=name: RUNNERS[name](run, step=step, expect=expect, namespace=namespace, directions=directions, seed=seed, points_around=points_around))
    for name, reason in skipped(methods, run.numel, symbolic_limit, fd_limit).items():
        results.setdefault(name, MethodResult(name, "skipped", reason))
    reference = choose_reference(run, results)
    verdict = compare(run, results, reference, rtol, atol, value)
    study_result = step_study(run, results, reference, value, step) if study else None
    ordered = {m: results[m] for m in METHODS if m in results}
    return GradientReport(
        source=cell.source,
        value=value,
        variables=variables,
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




