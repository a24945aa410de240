"""The one place that runs the user's cell: every method asks it for f at a point."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np

from ..cell import CellFunction, CellError
from ..errors import InputError

class Evaluation:
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
        return scalar(out, strict=False)

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
        value = scalar(out, strict=True)
        self.f0 = value
        return value


def scalar(out: Any, strict: bool) -> float:
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
