"""Autograd: one forward with a graph, one backward on the check's own leaves."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ...arrays import largest_abs
from ...cell import CellError
from .. import remembered
from ..bounds import RelativeBound
from ..report import MethodResult

from ..point import host


def _is_numpy_conversion(error: BaseException) -> bool:
    text = str(error)
    return "numpy()" in text and "requires grad" in text


def run(run, **_: Any) -> MethodResult:
    """One forward with a graph on the check's own leaves, then one backward.

    The steps are separate so that an engine can join in: the forward runs inside
    ``run.forward_contexts`` (e.g. the symbolic engine's operator recorder), ``run.annotate``
    (when set) turns the forward's output into graph annotations, and the graph capture receives
    them (interface 1 of the brief)."""
    import torch

    # leaves over the check's own points, not copies of them (a 10⁶-parameter model: 8 MB less):
    # a cell that writes its variables in place gets a copy of them from the evaluation
    out = _held(run)
    if out is not None:
        leaves, out = out
    else:
        leaves = {name: t.detach().requires_grad_(True) for name, t in run.points.items()}
        out = forward(run, leaves)
    if isinstance(out, MethodResult):
        return out
    names = list(leaves)
    if not isinstance(out, torch.Tensor) or not out.requires_grad:
        grads = {n: np.zeros(tuple(leaves[n].shape)) for n in names}
        what = "a tensor without a graph" if isinstance(out, torch.Tensor) else f"a plain {type(out).__name__}"
        run.notes_after.append(f"autograd: the cell returns {what}, so to autograd f does not depend on the variables (gradient 0)")
        return MethodResult("autograd", "ok", gradient=grads, error={n: np.zeros_like(g) for n, g in grads.items()}, details={"nodes": 0})
    if out.numel() != 1:
        return MethodResult("autograd", "failed", f"the cell's value under autograd has shape {tuple(out.shape)}, not one number")
    annotations = run.annotate(out, leaves) if getattr(run, "annotate", None) is not None else None
    # a pure cell run again at the same point: the last run's picture, if this backward matches it
    key = remembered.graph_key(run, leaves, annotations is not None)
    held = remembered.recall(key)
    capture = None if held is not None else _capture(out, leaves, annotations, run.namespace)
    try:
        with capture if capture is not None else contextlib.nullcontext():
            raw = torch.autograd.grad(out.reshape(()), [leaves[n] for n in names], allow_unused=True)
    except RuntimeError as e:
        return MethodResult("autograd", "failed", f"the backward pass raised: {str(e).splitlines()[0]}")
    if capture is not None:
        run.graph = capture.report()
        run.custom_functions = run.graph.custom_functions()
    release = getattr(annotations, "release", None)
    if release is not None:
        release()  # the annotations hold autograd nodes: once captured, the report must not pin the graph
    grads = {}
    for n, g in zip(names, raw):
        if g is None:
            grads[n] = np.zeros(tuple(leaves[n].shape))
            run.notes_after.append(f"autograd: f does not use {n} (its gradient is zero)")
        else:
            grads[n] = host(g)
    if held is not None:
        if remembered.same_gradient(held[1], grads):
            run.graph, run.custom_functions = remembered.copy_of(held[0]), []
        else:  # another gradient than the picture's: the graph is captured again, on a run of its own
            remembered.forget(key)  # and the next run captures (and remembers) its own
            run.graph = _captured_again(run)
    elif capture is not None:
        remembered.remember(key, run.graph, grads)
    nodes = run.graph.count if run.graph is not None else 1
    # round-off of the backward formulas: relative to each component, and absolute at the
    # gradient's scale (a component that cancels to 0 keeps the round-off of its parts); torch's
    # special functions (digamma's backward, polygamma) are accurate to about 1e-13, not ε, in
    # float64 (and the float32 budget is kept as measured); a float16/bfloat16 op computes in
    # float32 and rounds once, so there each node costs about ε (2048ε would be the whole gradient)
    scale = (2048 if run.eps <= 2.0**-23 else 16) * run.eps * math.sqrt(max(nodes, 1))
    # max|g| (no temporary) propagates NaN and inf, so only a gradient with a non-finite component
    # is searched again for its largest finite one
    top, nan = 0.0, []
    for n, g in grads.items():
        largest = largest_abs(g)
        if not math.isfinite(largest):
            nan.append(n)
            a = np.abs(g)
            finite = a[np.isfinite(a)]
            largest = float(np.max(finite)) if finite.size else 0.0
        elif hasattr(run, "know"):  # max|g| is finite, so g is: the comparison need not read g again
            run.know("largest", g, largest)
            run.know("finite", g, True)
        top = max(top, largest)
    error = RelativeBound(grads, scale, 16 * run.eps * top)
    details = {"nodes": nodes}
    if nan:
        details["nonfinite"] = nan
    return MethodResult("autograd", "ok", gradient=grads, error=error, details=details)


def _captured_again(run) -> Any:
    """The graph of one more forward and backward of the cell (not annotated), or None."""
    import torch

    leaves = {name: t.detach().requires_grad_(True) for name, t in run.points.items()}
    out = forward(run, leaves, recorded=False)
    if not isinstance(out, torch.Tensor) or not out.requires_grad or out.numel() != 1:
        return None
    capture = _capture(out, leaves, None, run.namespace)
    try:
        with capture:
            torch.autograd.grad(out.reshape(()), list(leaves.values()), allow_unused=True)
    except RuntimeError:
        return None
    return capture.report()


def _held(run) -> tuple[dict[str, Any], Any] | None:
    """The pure cell's first run, made on leaves under grad mode (see ``Evaluation.value``), when
    no forward context needs to watch the forward (the symbolic engine remembers this cell's
    replay): (leaves, output), else None (and the forward runs again)."""
    held = getattr(run, "held_forward", None)
    if held is None:
        return None
    run.held_forward = None  # one use: the graph goes with the backward
    leaves, out = held
    contexts = [factory(leaves) for factory in run.forward_contexts]
    if not all(isinstance(c, contextlib.nullcontext) for c in contexts):
        return None
    run.cuts = []  # a pure cell calls nothing that cuts the graph
    return leaves, out


def forward(run, leaves: Mapping[str, Any], recorded: bool = True) -> Any:
    """The cell under grad mode, watched for graph cuts; a MethodResult when it fails.

    ``run.forward_contexts`` are factories ``factory(leaves) -> context manager`` entered around
    the run (the symbolic engine's operator recorder, when it has one); ``recorded=False`` (the
    --points runs) leaves them out."""
    import torch

    from ...cuts import CutSpy

    # a pure cell calls nothing that could cut the graph (see ..purity): no watcher needed
    spy = None if getattr(run, "pure", False) else CutSpy(run.cell)
    contexts = ([factory(leaves) for factory in run.forward_contexts] if recorded else []) + ([spy] if spy is not None else [])
    try:
        with torch.enable_grad():
            out = run(dict(leaves), contexts=contexts)
    except CellError as e:
        if _is_numpy_conversion(e.original):
            return MethodResult(
                "autograd",
                "failed",
                f"autograd cannot follow NumPy code: {run.cell.describe(e.original).split(' raised ')[0]} converts a tensor "
                "to a NumPy array; write sin(x) or torch.sin(x) instead of np.sin(x)",
            )
        if getattr(run, "numpy_points", False):
            return MethodResult(
                "autograd",
                "failed",
                f"autograd cannot follow NumPy code: {run.cell.describe(e.original).split(' raised ')[0]} hands a tensor to "
                "NumPy; write torch's functions (x.sum(), torch.mean(x), torch.sin(x)) instead of NumPy's",
            )
        return MethodResult("autograd", "failed", f"the cell failed under autograd: {e}")
    run.cuts = spy.cuts if spy is not None else []
    return out


def _capture(out: Any, leaves: Mapping[str, Any], annotations: Mapping[Any, tuple[str, str]] | None,
             namespace: Mapping[str, Any] | None):
    from ...graph import capture_flow

    # the user's own tensors the cell reaches (a module's other parameters) are named from their namespace
    return capture_flow(out, leaves, annotations=annotations or None, namespace=namespace)


