"""Whole-array checks without a temporary the size of the array: a gradient or a point of 10⁶
elements is read, never copied (``np.abs(g).max()`` writes 8 MB first, and a fresh 8 MB costs
its page faults on top)."""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

__all__ = ["all_finite", "largest_abs", "signed_sum"]


def all_finite(a: Any) -> bool:
    """No NaN or ±inf in ``a`` (a NumPy array or a torch tensor): one sum, which is finite exactly
    when every element is unless finite elements overflow it, and only then the element check."""
    if _is_torch(a):
        if a.numel() == 0 or not a.is_floating_point():
            return True
        if math.isfinite(float(a.sum())):
            return True
        import torch

        return bool(torch.isfinite(a).all())
    a = np.asarray(a)
    if a.size == 0 or a.dtype.kind not in "fc":
        return True
    if a.size <= 4096:  # small: the element check itself is cheaper than the sum's error state
        return bool(np.isfinite(a).all())
    with np.errstate(all="ignore"):
        if math.isfinite(float(np.abs(a.sum()))):
            return True
    return bool(np.all(np.isfinite(a)))


@functools.cache
def _numpy_floats() -> tuple[Any, ...]:
    """torch dtypes whose tensors NumPy reads as they are."""
    import torch

    return (torch.float64, torch.float32, torch.float16)


def largest_abs(a: Any) -> float:
    """max|a| (0 for an empty ``a``; NaN when ``a`` holds one), from its min and max."""
    if _is_torch(a):
        if a.numel() == 0:
            return 0.0
        import torch

        a = a.detach()
        if a.numel() <= 4096 and a.device.type == "cpu" and a.dtype in _numpy_floats() and not a.is_neg():
            return largest_abs(a.numpy())  # small: NumPy's reductions cost less than torch's dispatch
        if a.is_complex():
            return float(a.abs().max())
        if a.dtype == torch.bool:
            return float(bool(a.any()))
        lo, hi = (a.amin(), a.amax()) if a.is_floating_point() else (a.min(), a.max())
        lo, hi = float(lo), float(hi)
    else:
        a = np.asarray(a)
        if a.size == 0:
            return 0.0
        if a.dtype.kind == "c":  # a modulus is no min/max away
            return float(np.max(np.abs(a)))
        lo, hi = float(np.min(a)), float(np.max(a))
    if math.isnan(lo) or math.isnan(hi):
        return math.nan
    return max(abs(lo), abs(hi))


#: elements per slice of :func:`signed_sum` (its float copy of the signs stays in cache)
SLICE = 1 << 16


def signed_sum(g: Any, signs: Any) -> float:
    """Σ gᵢ·sᵢ of a float64 NumPy gradient ``g`` and a direction's ±1 int8 tensor ``signs`` (any
    device) of as many elements, in slices: no float copy of the signs the size of ``g``."""
    import torch

    a = torch.from_numpy(np.ascontiguousarray(g, dtype=np.float64).reshape(-1))
    s = signs.detach().reshape(-1).to("cpu")
    return float(sum(torch.dot(a[i : i + SLICE], s[i : i + SLICE].to(torch.float64)) for i in range(0, a.numel(), SLICE)))


def _is_torch(a: Any) -> bool:
    return type(a).__module__.startswith("torch")
