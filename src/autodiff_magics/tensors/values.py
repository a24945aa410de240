"""Statistics, histogram and heat map of a tensor's or array's values."""

from __future__ import annotations

import sys
import warnings
from typing import Any

from ..views.common import receiver
from .chunks import _blocks, _chunk_elements, _memory_order
from .float_stats import _float_stats
from .pictures import _heatmap, _histogram
from .report import TensorReport
from .statistics import _bool_stats, _complex_stats, _int_stats, finish_std


#: longest expression the std's wording repeats (a longer one reads as the library's method)
NAMED = 24


def _std_convention(r: TensorReport, is_torch: bool, floating: bool = True) -> tuple[int, str]:
    """(ddof, words): the standard deviation as the object's own library computes it, named
    after the object's expression when it is short (torch's std takes floats only, so an
    integer or bool tensor's reads ``x.double().std()``)."""
    who = receiver(r.name)
    short = len(who) <= NAMED
    if is_torch:
        method = ".std()" if floating else ".double().std()"
        return 1, f"n−1, as {who}{method}" if short else f"n−1, as torch's {method}"
    if r.kind == "ndarray":
        return 0, f"n, as {who}.std()" if short else "n, as NumPy's .std()"
    return 0, f"n, as np.std({r.name})" if len(r.name) <= NAMED else "n, as np.std()"


def _values_into(r: TensorReport, x, *, is_torch: bool, sparse: bool = False) -> None:
    """Fill r.stats, r.histogram and r.heatmap from x (a torch tensor or NumPy array; a NumPy
    masked array counts its unmasked values only)."""
    mask = _mask_of(x) if not is_torch else None
    t = x if is_torch else _torch_view_of_ndarray(x.data if mask is not None else x)
    kind = _value_kind(t.dtype)
    chunk = _chunk_elements(t)
    if mask is not None:
        m = _mask_view(mask, x.data)
        u, mult = t, 1
        blocks = (d[~k] for d, k in zip(_blocks(t, chunk, by_shape=True), _blocks(m, chunk, by_shape=True)))
    else:
        u, mult = _memory_order(t)
        blocks = None
    stats = {"bool": _bool_stats, "complex": _complex_stats, "int": _int_stats, "float": _float_stats}[kind]
    s = stats(u, chunk, blocks)
    for key in ("count", "nan", "posinf", "neginf", "zeros"):
        s[key] *= mult
    if s.get("sum") is not None and mult > 1:
        s["sum"] = s["sum"] * mult
    ddof, words = _std_convention(r, is_torch, kind in ("float", "complex"))
    finish_std(s, mult, ddof)
    s["std_ddof"], s["std_convention"] = ddof, words
    total = t.numel()
    masked = int(mask.sum()) if mask is not None else None
    s["masked"] = masked
    present = total - (masked or 0)
    finite = s["count"]
    unmasked = " unmasked" if masked is not None else ""
    if total == 0:
        s["over"] = "no values (empty)"
    elif present == 0:
        s["over"] = f"no values: all {total:,} are masked"
    elif sparse:
        s["over"] = "the stored value" if total == 1 else f"the {total:,} stored values"
    elif finite == present and masked:
        s["over"] = f"the {present:,} unmasked values of {total:,}"
    elif finite == present or kind in ("int", "bool"):
        s["over"] = "the single value" if total == 1 else f"all {total:,} values"
    else:
        s["over"] = f"the {finite:,} finite{unmasked} values of {total:,}"
    r.stats = s
    if total and kind != "complex":
        if mask is not None:
            r.histogram = _histogram(u, s, kind, mask=m)
        else:
            r.histogram = _histogram(u, s, kind)
    if not sparse and kind in ("float", "int", "bool") and x.ndim in (2, 3):
        r.heatmap = _heatmap(x, s)


def _mask_view(mask, data):
    """The mask as a torch tensor in the same logical order as ``_torch_view_of_ndarray(data)``
    (whose axes with negative strides are flipped): a view, a copy only if it must."""
    import numpy as np
    import torch

    mask = mask[tuple(slice(None, None, -1) if s < 0 else slice(None) for s in data.strides)]
    if any(s < 0 for s in mask.strides):
        mask = np.ascontiguousarray(mask)
    return torch.from_numpy(mask)


def _mask_of(a) -> Any:
    """The mask of a NumPy masked array with at least one masked element, else None."""
    import numpy as np

    if not isinstance(a, np.ma.MaskedArray) or a.mask is np.ma.nomask:
        return None
    mask = np.ma.getmaskarray(a)
    return mask if mask.any() else None


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
        return torch.from_numpy(np.asarray(a))


def _value_kind(dtype) -> str:
    import torch

    if dtype == torch.bool:
        return "bool"
    if dtype.is_complex:
        return "complex"
    if dtype.is_floating_point:
        return "float"
    return "int"
