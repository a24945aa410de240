"""The cell's value as one real number, or one sentence saying how to get one."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError

__all__ = ["scalar"]


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
