"""A torch tensor's report: layout, memory, autograd state, then its values."""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..errors import InputError
from ..views.common import receiver
from .pictures import _preview
from .report import TensorReport
from .values import _values_into
from .words import _LAYOUT_WORDS, _dtype_words, _type_name, memory_format, shape_words


def _from_tensor(t, name: str, namespace: dict | None, notes: list[str], *, is_grad: bool = False) -> TensorReport:
    import torch

    if getattr(t, "is_nested", False):
        raise InputError(
            f"{name} is a nested tensor of {t.size(0):,} components with different shapes: "
            f"look at one component at a time, e.g. {name}[0]"
        )
    kind = "parameter" if isinstance(t, torch.nn.Parameter) else "tensor"
    layout = str(t.layout).replace("torch.", "")
    dtype_short = str(t.dtype).replace("torch.", "")
    shape = list(t.shape)
    numel = t.numel()
    itemsize = t.element_size()
    r = TensorReport(
        name=name,
        kind="grad" if is_grad else kind,
        type=_type_name(t),
        shape=shape,
        shape_text=shape_words(shape),
        ndim=t.dim(),
        numel=numel,
        dtype=str(t.dtype),
        dtype_text=_dtype_words(dtype_short),
        device=str(t.device),
        layout=_LAYOUT_WORDS.get(layout, layout),
        itemsize=itemsize,
        nbytes=numel * itemsize,
        notes=notes,
    )
    try:
        r.version = int(t._version)
    except Exception:  # noqa: BLE001 - inference tensors keep no version counter
        r.version = None
    r.requires_grad = bool(t.requires_grad)
    r.is_leaf = bool(t.is_leaf)
    r.retains_grad = bool(t.retains_grad) if not t.is_leaf else False
    r.grad_fn = None if t.grad_fn is None else type(t.grad_fn).__name__
    if t.requires_grad and not t.is_leaf and not is_grad:
        r.notes.append(
            f"{name} is the result of {r.grad_fn}: autograd keeps its graph (below); "
            f"its .grad stays empty unless you call {receiver(name)}.retain_grad()."
        )
    if t.is_leaf or t.retains_grad:
        grad = t.grad
        if grad is not None and not is_grad:
            r.grad = _from_tensor(grad, f"{name}.grad", None, [], is_grad=True)

    dense = t.layout == torch.strided
    if t.is_quantized:
        r.has_values = False
        r.notes.append(f"{name} is quantized ({t.dtype}): statistics are not computed; use {name}.dequantize() to see the values.")
    elif t.device.type == "meta":
        r.has_values = False
        r.notes.append(f"{name} is a meta tensor: it has a shape and a dtype but no values to show.")
    elif dense:
        r.strides = list(t.stride())
        r.strides_bytes = [s * itemsize for s in r.strides]
        r.contiguous = bool(t.is_contiguous())
        r.memory_format = memory_format(shape, r.strides)
        r.storage_offset = int(t.storage_offset())
        r.is_view = bool(t._is_view())
        if r.is_view and t._base is not None:
            b = t._base
            r.view_of = f"a tensor of shape {tuple(b.shape)} ({b.numel():,} elements)"
        try:
            storage = t.untyped_storage()
            r.storage_nbytes = int(storage.nbytes())
        except Exception:  # noqa: BLE001 - tensors without storage (e.g. wrappers)
            r.has_values = False
            r.notes.append(f"{name} has no storage torch lets us read: no values to show.")
        else:
            needed = _bytes_needed(shape, r.strides, r.storage_offset, itemsize)
            if needed > r.storage_nbytes:
                r.has_values = False
                r.notes.append(
                    f"the storage of {name} holds {r.storage_nbytes:,} bytes but {name} needs {needed:,}: "
                    "it was resized or freed, so its values cannot be read."
                )
        broadcast = [i for i, (d, st) in enumerate(zip(shape, r.strides)) if st == 0 and d > 1]
        if r.has_values and broadcast:
            distinct = numel // math.prod(shape[i] for i in broadcast)
            r.notes.append(
                f"{name} is broadcast (expanded) along dim {', '.join(map(str, broadcast))}: stride 0 repeats the same "
                f"memory, so its {numel:,} elements hold only {distinct:,} distinct stored values; writing to one writes them all."
            )
        elif r.has_values and not r.contiguous and numel > 1:
            r.notes.append(_layout_note(name, r.memory_format, r.strides))
    else:
        nnz = int(t._nnz()) if layout == "sparse_coo" else int(t.values().numel())
        values = t._values() if layout == "sparse_coo" else t.values()
        index_bytes = 0
        if layout == "sparse_coo":
            index_bytes = t._indices().numel() * t._indices().element_size()
        elif layout in ("sparse_csr", "sparse_bsr"):
            index_bytes = sum(x.numel() * x.element_size() for x in (t.crow_indices(), t.col_indices()))
        elif layout in ("sparse_csc", "sparse_bsc"):
            index_bytes = sum(x.numel() * x.element_size() for x in (t.ccol_indices(), t.row_indices()))
        r.storage_nbytes = values.numel() * values.element_size() + index_bytes
        coalesced = layout != "sparse_coo" or t.is_coalesced()
        r.notes.append(
            f"{name} is sparse: {nnz:,} stored values of {numel:,} elements "
            f"({100 * nnz / numel if numel else 0:.3g}% dense); statistics are over the stored values"
            + ("" if coalesced else " (not coalesced: a repeated index counts each time)")
            + f"; the other {max(numel - nnz, 0):,} elements are implicit zeros."
        )

    if r.has_values:
        with torch.no_grad():
            d = t.detach()
            if dense:
                _values_into(r, d, is_torch=True)
                r.preview = _preview(repr(d))
                if numel == 1:
                    r.item = d.item()
            else:
                values = d._values() if t.layout == torch.sparse_coo else d.values()
                _values_into(r, values, is_torch=True, sparse=True)
                r.preview = _preview(repr(d))
    if t.requires_grad and not t.is_leaf and not is_grad:
        r.graph = _graph_of(t, name, namespace)
    return r


def _layout_note(name: str, fmt: str, strides: list[int]) -> str:
    if fmt in ("channels_last", "channels_last_3d"):
        order = "NHWC" if fmt == "channels_last" else "NDHWC"
        return (
            f"{name} is {fmt} ({order} in memory, strides {tuple(strides)}): dense, and what convolutions prefer, "
            f"but not contiguous in the default order; {receiver(name)}.contiguous() copies it to that order."
        )
    if fmt.startswith("dense but permuted"):
        return (
            f"{name} is {fmt}, strides {tuple(strides)}: no gaps, but not contiguous (a transpose or permute of "
            f"a contiguous tensor); operations that need contiguous memory copy it first ({receiver(name)}.contiguous())."
        )
    return (
        f"{name} is not contiguous ({fmt}, strides {tuple(strides)}): operations that need contiguous "
        f"memory copy it first; {receiver(name)}.contiguous() makes that copy."
    )


def _bytes_needed(shape: Sequence[int], strides: Sequence[int], offset: int, itemsize: int) -> int:
    if 0 in shape:
        return 0
    last = offset + sum((d - 1) * s for d, s in zip(shape, strides) if s > 0)
    return (last + 1) * itemsize


def _graph_of(t, name: str, namespace: dict | None):
    """The grad_fn graph of a non-leaf tensor, from the graph module when it is there."""
    from ..graph import grad_graph

    try:
        return grad_graph(t, names={name: t} if name.isidentifier() else None, namespace=namespace)
    except InputError:
        return None
