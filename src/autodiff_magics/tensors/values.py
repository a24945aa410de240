"""Statistics, histogram and heat map of a tensor's or array's values."""

from __future__ import annotations

import sys
import warnings

from .chunks import _chunk_elements, _memory_order
from .pictures import _heatmap, _histogram
from .report import TensorReport
from .statistics import _bool_stats, _complex_stats, _float_stats, _int_stats


def _values_into(r: TensorReport, x, *, is_torch: bool, sparse: bool = False) -> None:
    """Fill r.stats, r.histogram and r.heatmap from x (a torch tensor or NumPy array)."""
    import torch

    t = x if is_torch else _torch_view_of_ndarray(x)
    kind = _value_kind(t.dtype)
    u, mult = _memory_order(t)
    chunk = _chunk_elements(t)
    if kind == "bool":
        s = _bool_stats(u, chunk)
    elif kind == "complex":
        s = _complex_stats(u, chunk)
    elif kind == "int":
        s = _int_stats(u, chunk)
    else:
        s = _float_stats(u, chunk)
    for key in ("count", "nan", "posinf", "neginf", "zeros"):
        if s.get(key) is not None:
            s[key] *= mult
    total = t.numel()
    finite = s["count"]
    if total == 0:
        s["over"] = "no values (empty)"
    elif sparse:
        s["over"] = "the stored value" if total == 1 else f"the {total:,} stored values"
    elif finite == total or kind in ("int", "bool"):
        s["over"] = "the single value" if total == 1 else f"all {total:,} values"
    else:
        s["over"] = f"the {finite:,} finite values of {total:,}"
    if kind == "int" and t.dtype == torch.uint64:
        s["over"] += " (uint64: mean and std in float64)"
    r.stats = s
    if total and kind != "complex":
        r.histogram = _histogram(u, s, kind)
    if not sparse and kind in ("float", "int", "bool") and x.ndim in (2, 3):
        r.heatmap = _heatmap(x, s)


def _torch_view_of_ndarray(a):
    """A torch tensor over the same memory as ``a`` (no copy): axes flipped to positive strides,
    since statistics do not depend on order."""
    import numpy as np
    import torch

    flips = tuple(slice(None, None, -1) if s < 0 else slice(None) for s in a.strides)
    if any(s < 0 for s in a.strides):
        a = a[flips]
    if a.dtype.byteorder == ">" or (a.dtype.byteorder == "=" and sys.byteorder == "big"):
        a = a.astype(a.dtype.newbyteorder("="))  # rare: a big-endian array; torch reads native only
    if a.dtype == np.longdouble and a.dtype != np.float64:
        a = a.astype(np.float64)  # torch has no long double: said in the dtype text
    if a.dtype.kind == "c" and a.dtype.itemsize > 16:
        a = a.astype(np.complex128)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # from_numpy warns on read-only arrays; we only read
        return torch.from_numpy(a)


def _value_kind(dtype) -> str:
    import torch

    if dtype == torch.bool:
        return "bool"
    if dtype.is_complex:
        return "complex"
    if dtype.is_floating_point:
        return "float"
    return "int"
