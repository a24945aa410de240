"""What a tensor is: shape in plain words, memory layout, autograd state and value statistics.

:func:`tensorinfo` takes torch tensors (Parameters, sparse, meta, CUDA ...), NumPy arrays, Python
numbers, nested lists and numeric SymPy matrices, and returns a :class:`TensorReport` for one
object or a :class:`TensorsReport` (side by side) for several. Reports hold plain data only.

Statistics are computed where the tensor lives (on the GPU for a CUDA tensor), in chunks, so no
full-size temporary is ever made: per chunk the fast path is ``aminmax``, ``sum`` and ``dot``;
the zero count (``sign`` then ``dot``) runs only when the chunk's range holds 0, the NaN/inf
counts only when its min or max is not finite, and a shifted second moment only when the
one-pass one would lose digits. Chunk results are combined in float64 on the host (Chan et al.).

    >>> import torch, autodiff_magics as adm
    >>> r = adm.tensorinfo(torch.ones(3, 4, 5), names=["a"])
    >>> r.shape_text, r.stats["mean"], r.stats["zeros"]
    ('3 matrices of 4 rows × 5 columns', 1.0, 0)
"""

from __future__ import annotations

import itertools
import math
import numbers
import sys
import types
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import InputError
from .report import Report
from .views.common import receiver

__all__ = ["TensorReport", "TensorsReport", "shape_words", "tensorinfo"]

#: elements per chunk on the CPU: small enough that the second and later passes over a chunk
#: read it from cache, large enough that per-call overhead stays small (see bench/bench_tensors.py)
CPU_CHUNK_BYTES = 1 << 22
#: elements per chunk on accelerators, where each chunk costs a host synchronisation
DEVICE_CHUNK = 1 << 24
#: most values drawn for the histogram (an evenly strided sample above this)
HIST_SAMPLE = 1 << 16
HIST_BINS = 24
#: heat map: most rows and columns drawn per matrix, most matrices of a 3-D tensor
HEAT_SIDE = 24
HEAT_MATRICES = 4
#: preview text: most characters and lines kept
PREVIEW_CHARS = 1500
PREVIEW_LINES = 14


# -- the reports ----------------------------------------------------------------------------------


@dataclass
class TensorReport(Report):
    """One object, summarised: shape, layout, autograd state and statistics (plain data)."""

    _views = "tensors"

    name: str
    kind: str  # tensor | parameter | ndarray | number | list | sympy
    type: str  # the Python type, e.g. torch.Tensor, numpy.ndarray
    shape: list[int] | None
    shape_text: str
    ndim: int | None
    numel: int | None
    dtype: str
    dtype_text: str
    device: str
    layout: str
    itemsize: int | None = None
    nbytes: int | None = None
    storage_nbytes: int | None = None
    strides: list[int] | None = None
    strides_bytes: list[int] | None = None
    contiguous: bool | None = None
    storage_offset: int | None = None
    is_view: bool | None = None
    view_of: str | None = None
    version: int | None = None
    requires_grad: bool | None = None
    is_leaf: bool | None = None
    retains_grad: bool | None = None
    grad_fn: str | None = None
    grad: TensorReport | None = None
    has_values: bool = True
    item: Any = None
    stats: dict[str, Any] | None = None
    histogram: dict[str, Any] | None = None
    heatmap: dict[str, Any] | None = None
    preview: str | None = None
    notes: list[str] = field(default_factory=list)
    graph: Any = None  # a GraphReport for a non-leaf tensor, when the graph module is there

    def to_dict(self) -> dict[str, Any]:
        """The public contract (see the README): plain JSON-ready data."""
        out = {
            k: getattr(self, k)
            for k in (
                "name", "kind", "type", "shape", "shape_text", "ndim", "numel", "dtype", "dtype_text",
                "device", "layout", "itemsize", "nbytes", "storage_nbytes", "strides", "strides_bytes",
                "contiguous", "storage_offset", "is_view", "view_of", "version", "requires_grad",
                "is_leaf", "retains_grad", "grad_fn", "has_values", "histogram", "heatmap", "preview",
            )
        }
        out["item"] = _jsonable(self.item)
        out["stats"] = None if self.stats is None else {k: _jsonable(v) for k, v in self.stats.items()}
        out["grad"] = None if self.grad is None else self.grad.to_dict()
        out["notes"] = list(self.notes)
        out["graph"] = None if self.graph is None else self.graph.to_dict()
        return out


@dataclass
class TensorsReport(Report):
    """Several objects side by side (what ``%tensorinfo a b`` returns)."""

    _views = "tensors"

    items: list[TensorReport]

    def to_dict(self) -> dict[str, Any]:
        """``{"items": [one TensorReport.to_dict() per object]}``."""
        return {"items": [r.to_dict() for r in self.items]}

    def __getitem__(self, i: int) -> TensorReport:
        return self.items[i]

    def __len__(self) -> int:
        return len(self.items)


def _jsonable(v: Any) -> Any:
    if isinstance(v, complex):
        return {"real": v.real, "imag": v.imag}
    return v


# -- the public function -------------------------------------------------------------------------


def tensorinfo(*objs: Any, names: Sequence[str] | None = None, namespace: dict | None = None) -> TensorReport | TensorsReport:
    """Summarise tensors, arrays, numbers, nested lists or SymPy matrices.

    One object gives a :class:`TensorReport`; several give a :class:`TensorsReport` whose
    ``items`` are the single reports, shown side by side. ``names`` label the objects (the
    magic passes the expressions); ``namespace`` names leaves in a non-leaf tensor's graph.

    >>> import torch, autodiff_magics as adm
    >>> adm.tensorinfo(torch.tensor([[1, 2, 3], [4, 5, 6]])).shape_text
    'matrix of 2 rows × 3 columns'
    """
    if not objs:
        raise InputError("tensorinfo needs at least one tensor, array, number or list")
    if names is None:
        names = [_name_in(namespace, o) or (f"#{i + 1}" if len(objs) > 1 else "value") for i, o in enumerate(objs)]
    elif len(names) != len(objs):
        raise InputError(f"got {len(objs)} objects but {len(names)} names")
    reports = [_summarise(o, str(n), namespace) for o, n in zip(objs, names)]
    return reports[0] if len(reports) == 1 else TensorsReport(reports)


def _name_in(namespace: dict | None, obj: Any) -> str | None:
    if not namespace:
        return None
    for k, v in namespace.items():
        if v is obj and not k.startswith("_"):
            return k
    return None


# -- shapes and dtypes in words -----------------------------------------------------------------


def _n(count: int, word: str, plural: str | None = None) -> str:
    return f"{count:,} {word if count == 1 else (plural or word + 's')}"


def shape_words(shape: Sequence[int]) -> str:
    """A shape read aloud, as the lesson does.

    0-D scalar; 1-D vector; 2-D matrix (rows × columns); 3-D matrices; 4-D groups of matrices;
    5-D batches of groups of matrices; 6-D and up a grid of matrices, e.g. "2 × 3 × 4 × 5 grid
    of matrices of 6 × 7 (120 matrices)".

    >>> shape_words((2, 3, 4, 5))
    '2 groups of 3 matrices of 4 × 5'
    """
    shape = [int(d) for d in shape]
    nd = len(shape)
    if nd == 0:
        return "scalar (a single number)"
    if nd == 1:
        text = f"vector of {shape[0]:,}"
    elif nd == 2:
        text = f"matrix of {_n(shape[0], 'row')} × {_n(shape[1], 'column')}"
    elif nd == 3:
        text = f"{_n(shape[0], 'matrix', 'matrices')} of {_n(shape[1], 'row')} × {_n(shape[2], 'column')}"
    elif nd == 4:
        text = f"{_n(shape[0], 'group')} of {_n(shape[1], 'matrix', 'matrices')} of {shape[2]:,} × {shape[3]:,}"
    elif nd == 5:
        text = (
            f"{_n(shape[0], 'batch', 'batches')} of {_n(shape[1], 'group')} of "
            f"{_n(shape[2], 'matrix', 'matrices')} of {shape[3]:,} × {shape[4]:,}"
        )
    else:
        grid = " × ".join(f"{d:,}" for d in shape[:-2])
        count = math.prod(shape[:-2])
        text = f"{grid} grid of matrices of {shape[-2]:,} × {shape[-1]:,} ({_n(count, 'matrix', 'matrices')})"
    if 0 in shape:
        text += " (empty: no elements)"
    return text


_DTYPE_WORDS = {
    "float64": "64-bit floating point (double)",
    "float32": "32-bit floating point",
    "float16": "16-bit floating point (half)",
    "bfloat16": "16-bit brain floating point",
    "complex128": "complex: two 64-bit floats",
    "complex64": "complex: two 32-bit floats",
    "complex32": "complex: two 16-bit floats",
    "int64": "64-bit integer",
    "int32": "32-bit integer",
    "int16": "16-bit integer",
    "int8": "8-bit integer",
    "uint64": "64-bit unsigned integer",
    "uint32": "32-bit unsigned integer",
    "uint16": "16-bit unsigned integer",
    "uint8": "8-bit unsigned integer (byte)",
    "bool": "true/false",
    "float128": "extended-precision floating point",
    "longdouble": "extended-precision floating point",
}


def _dtype_words(short: str) -> str:
    if short.startswith("float8"):
        return f"8-bit floating point ({short[6:].lstrip('_')})"
    return _DTYPE_WORDS.get(short, short)


_LAYOUT_WORDS = {
    "strided": "strided (dense)",
    "sparse_coo": "sparse COO (indices + values)",
    "sparse_csr": "sparse CSR (compressed rows)",
    "sparse_csc": "sparse CSC (compressed columns)",
    "sparse_bsr": "sparse BSR (compressed row blocks)",
    "sparse_bsc": "sparse BSC (compressed column blocks)",
    "_mkldnn": "MKL-DNN (opaque)",
    "jagged": "nested (jagged)",
}


# -- dispatch on the object's type --------------------------------------------------------------


def _summarise(obj: Any, name: str, namespace: dict | None) -> TensorReport:
    notes: list[str] = []
    torch = sys.modules.get("torch")
    np = _numpy()

    owner = getattr(obj, "__self__", None)
    if isinstance(obj, (types.BuiltinMethodType, types.MethodType)) and owner is not None and _is_array(owner):
        method = getattr(obj, "__name__", "method")
        base = name[: -len(method) - 1] if name.endswith("." + method) else name
        result = ""
        if method in ("size", "dim", "numel", "nelement", "element_size", "stride", "storage_offset", "is_contiguous"):
            try:
                result = f" gives {obj()!r}"
            except Exception:  # noqa: BLE001 - only decorates the note
                result = ""
        notes.append(
            f"{name} is a method, not its result: call it ({base}.{method}(){result}). "
            f"Showing the {'tensor' if torch is not None and isinstance(owner, torch.Tensor) else 'array'} {base} itself."
        )
        obj, name = owner, base

    if torch is not None and isinstance(obj, torch.Tensor):
        return _from_tensor(obj, name, namespace, notes)
    if np is not None and isinstance(obj, np.ndarray):
        return _from_ndarray(obj, name, notes, kind="ndarray")
    if np is not None and isinstance(obj, np.generic):
        r = _from_ndarray(np.asarray(obj), name, notes, kind="number")
        r.type = f"numpy.{type(obj).__name__}"
        return r
    if isinstance(obj, numbers.Number) and not _is_array(obj):
        return _from_number(obj, name, notes)
    if isinstance(obj, (list, tuple)):
        return _from_sequence(obj, name, notes)
    sympy = sys.modules.get("sympy")
    if sympy is not None and isinstance(obj, sympy.MatrixBase):
        return _from_sympy(obj, name, notes)
    raise InputError(
        f"{name} is a {_type_name(obj)}: %tensorinfo takes torch tensors, NumPy arrays, numbers, "
        f"nested lists or SymPy matrices (for another array type, pass np.asarray({name}))"
    )


def _numpy():
    try:
        import numpy
    except ImportError:  # pragma: no cover - numpy ships with torch
        return None
    return numpy


def _is_array(obj: Any) -> bool:
    torch = sys.modules.get("torch")
    np = sys.modules.get("numpy")
    return (torch is not None and isinstance(obj, torch.Tensor)) or (np is not None and isinstance(obj, np.ndarray))


def _type_name(obj: Any) -> str:
    t = type(obj)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


# -- torch tensors ------------------------------------------------------------------------------


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
            r.notes.append(
                f"{name} is not contiguous (strides {tuple(r.strides)}): operations that need contiguous "
                f"memory copy it first; {name}.contiguous() makes that copy."
            )
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


def _bytes_needed(shape: Sequence[int], strides: Sequence[int], offset: int, itemsize: int) -> int:
    if 0 in shape:
        return 0
    last = offset + sum((d - 1) * s for d, s in zip(shape, strides) if s > 0)
    return (last + 1) * itemsize


def _graph_of(t, name: str, namespace: dict | None):
    """The grad_fn graph of a non-leaf tensor, from the graph module when it is there."""
    from .graph import grad_graph

    try:
        return grad_graph(t, names={name: t} if name.isidentifier() else None, namespace=namespace)
    except InputError:
        return None


# -- NumPy arrays, numbers, lists, SymPy --------------------------------------------------------


def _from_ndarray(a, name: str, notes: list[str], *, kind: str) -> TensorReport:
    import numpy as np

    shape = list(a.shape)
    itemsize = int(a.itemsize)
    dtype_short = str(a.dtype)
    r = TensorReport(
        name=name,
        kind=kind,
        type=_type_name(a),
        shape=shape,
        shape_text=shape_words(shape),
        ndim=a.ndim,
        numel=int(a.size),
        dtype=dtype_short,
        dtype_text=_dtype_words(dtype_short),
        device="cpu",
        layout="strided (dense)",
        itemsize=itemsize,
        nbytes=int(a.nbytes),
        strides_bytes=list(a.strides),
        contiguous=bool(a.flags.c_contiguous),
        notes=notes,
    )
    r.strides = [s // itemsize for s in a.strides] if itemsize and all(s % itemsize == 0 for s in a.strides) else None
    r.is_view = a.base is not None
    if r.is_view:
        root = a
        while isinstance(getattr(root, "base", None), np.ndarray):
            root = root.base
        base = root.base if root is not a else a.base
        if base is None:
            r.view_of = f"a NumPy array of shape {root.shape}"
        else:
            owner = _type_name(base)
            r.view_of = "memory of a torch tensor (made by Tensor.numpy() or similar)" if owner.startswith("torch") else f"memory owned by a {owner}"
    r.preview = _preview(np.array_repr(a) if a.dtype != object else _safe_repr(a))
    if a.dtype.kind in "biufc":
        if a.dtype.kind in "fc" and a.dtype.itemsize > (8 if a.dtype.kind == "f" else 16):
            notes.append(f"torch has no {a.dtype}: statistics are computed on a {'float64' if a.dtype.kind == 'f' else 'complex128'} copy.")
        elif not a.dtype.isnative:
            notes.append(f"{name} is stored big-endian: statistics are computed on a native-order copy.")
        _values_into(r, a, is_torch=False)
        if a.dtype == np.uint64 and a.size:
            r.stats["min"], r.stats["max"] = int(a.min()), int(a.max())  # exact, beyond float64's 2**53
        if a.size == 1:
            r.item = a.reshape(-1)[0].item()
    else:
        r.has_values = False
        what = {
            "O": "Python objects (the array holds pointers to them)",
            "U": "text",
            "S": "bytes",
            "M": "dates and times",
            "m": "time spans",
            "V": "structured records",
        }.get(a.dtype.kind, f"values of dtype {a.dtype}")
        r.notes.append(f"{name} holds {what}: no statistics.")
    return r


def _safe_repr(a) -> str:
    try:
        return repr(a)
    except Exception as e:  # noqa: BLE001 - a user object whose repr fails
        return f"<repr failed: {type(e).__name__}>"


def _from_number(x, name: str, notes: list[str]) -> TensorReport:
    import numpy as np

    if isinstance(x, bool):
        kind_word = "bool"
    elif isinstance(x, int):
        kind_word = "int"
    elif isinstance(x, float):
        kind_word = "float"
    elif isinstance(x, complex):
        kind_word = "complex"
    else:
        kind_word = _type_name(x)
    try:
        a = np.asarray(x)
    except Exception as e:  # noqa: BLE001
        raise InputError(f"{name} is a {kind_word} that NumPy cannot hold: {e}") from None
    if a.dtype == object:
        notes.append(f"{name} is an integer too large for 64 bits: no statistics.")
    r = _from_ndarray(a, name, notes, kind="number")
    r.type = kind_word
    r.dtype = f"Python {kind_word}"
    r.dtype_text = {
        "bool": "true/false",
        "int": "integer (any size)",
        "float": "64-bit floating point (double)",
        "complex": "complex: two 64-bit floats",
    }.get(kind_word, kind_word)
    r.is_view, r.view_of, r.strides, r.strides_bytes, r.contiguous = None, None, None, None, None
    r.layout = "a Python number (not a tensor)"
    r.nbytes = sys.getsizeof(x)
    r.itemsize = None
    r.preview = repr(x)
    r.item = x if a.dtype != object else None
    return r


def _from_sequence(seq, name: str, notes: list[str]) -> TensorReport:
    import numpy as np

    torch = sys.modules.get("torch")
    is_size = torch is not None and isinstance(seq, torch.Size)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            a = np.asarray(seq)
    except ValueError as e:
        if "inhomogeneous" in str(e) or "sequence" in str(e):
            raise InputError(f"{name} is a ragged nested {type(seq).__name__}: its rows have different lengths, so it has no shape") from None
        raise InputError(f"{name} cannot be read as numbers: {e}") from None
    except Exception as e:  # noqa: BLE001 - e.g. a list of CUDA tensors
        raise InputError(f"{name} cannot be read as numbers: {type(e).__name__}: {e}") from None
    if a.dtype.kind not in "biufc":
        sample = next(iter(_leaves(seq)), None)
        raise InputError(
            f"{name} is a {type(seq).__name__} holding {_type_name(sample)} values, not numbers"
            if sample is not None
            else f"{name} cannot be read as an array of numbers"
        )
    if is_size:
        notes.append(f"{name} is a torch.Size: the shape of a tensor, shown here as a vector of its {len(seq)} dimension sizes.")
    else:
        import_hint = ""
        if a.dtype.kind == "f" and torch is not None:
            import_hint = f" (torch.tensor({name}) would make {str(torch.get_default_dtype()).replace('torch.', '')}, np.array float64)"
        notes.append(f"{name} is a Python {type(seq).__name__}, not a tensor: shown as the array of numbers it holds{import_hint}.")
    r = _from_ndarray(a, name, notes, kind="list")
    r.type = _type_name(seq)
    r.is_view, r.view_of, r.strides, r.strides_bytes, r.contiguous = None, None, None, None, None
    r.layout = "a Python list (not a tensor)" if isinstance(seq, list) else "a Python tuple (not a tensor)"
    r.nbytes = None
    r.itemsize = None
    r.preview = _preview(repr(seq))
    return r


def _leaves(seq) -> Iterator[Any]:
    stack = [seq]
    while stack:
        x = stack.pop()
        if isinstance(x, (list, tuple)):
            stack.extend(reversed(x))
        else:
            yield x


def _from_sympy(m, name: str, notes: list[str]) -> TensorReport:
    import numpy as np

    shape = list(m.shape)
    if m.free_symbols:
        return TensorReport(
            name=name,
            kind="sympy",
            type=_type_name(m),
            shape=shape,
            shape_text=shape_words(shape),
            ndim=2,
            numel=shape[0] * shape[1],
            dtype="symbolic",
            dtype_text="symbolic expressions",
            device="cpu",
            layout="a SymPy matrix (not a tensor)",
            has_values=False,
            preview=_preview(str(m)),
            notes=notes + [f"{name} has symbols ({', '.join(sorted(map(str, m.free_symbols))[:5])}): no numeric statistics."],
        )
    values = [[complex(e) for e in row] for row in m.tolist()]
    a = np.array(values)
    if not np.iscomplex(a).any():
        a = a.real.copy()
    notes.append(f"{name} is a SymPy matrix of numbers: statistics on its values as 64-bit floats.")
    r = _from_ndarray(a, name, notes, kind="sympy")
    r.type = _type_name(m)
    r.is_view, r.view_of, r.strides, r.strides_bytes, r.contiguous, r.nbytes, r.itemsize = (None,) * 7
    r.layout = "a SymPy matrix (not a tensor)"
    r.preview = _preview(str(m))
    return r


def _preview(text: str) -> str:
    lines = text.splitlines()
    cut = len(lines) > PREVIEW_LINES or len(text) > PREVIEW_CHARS
    if len(lines) > PREVIEW_LINES:
        lines = lines[: PREVIEW_LINES - 1] + ["…", lines[-1]]
    text = "\n".join(lines)
    if len(text) > PREVIEW_CHARS:
        text = text[: PREVIEW_CHARS - 1] + "…"
    return text + ("\n(preview cut)" if cut else "")


# -- values: statistics, histogram, heat map ----------------------------------------------------


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


def _chunk_elements(t) -> int:
    if t.device.type == "cpu":
        return max(1 << 12, CPU_CHUNK_BYTES // max(4, t.element_size()))
    return DEVICE_CHUNK


def _memory_order(t):
    """``t`` without its stride-0 (broadcast) dimensions, dims sorted outermost first.

    Statistics do not depend on order, and a repeated value counts ``mult`` times, so this view
    gives the same statistics without touching duplicates; memory order makes chunks contiguous
    whenever the tensor is dense in any order (a transpose, channels-last).
    """
    mult = 1
    index: list[Any] = []
    for size, stride in zip(t.shape, t.stride()):
        if stride == 0 and size > 1:
            mult *= size
            index.append(0)
        else:
            index.append(slice(None))
    u = t[tuple(index)] if mult > 1 else t
    order = sorted(range(u.dim()), key=lambda i: (-u.stride(i), i))
    return u.permute(order), mult


def _blocks(u, chunk: int) -> Iterator[Any]:
    """Views of ``u``, each of at most ``chunk`` elements, covering every element once."""
    n = u.numel()
    if n == 0:
        return
    if u.is_contiguous():
        flat = u.view(-1)
        for i in range(0, n, chunk):
            yield flat[i : i + chunk]
        return
    shape = list(u.shape)
    inner, k = 1, len(shape) - 1
    while k >= 0 and inner * shape[k] <= chunk:
        inner *= shape[k]
        k -= 1
    if k < 0:
        yield u
        return
    step = max(1, chunk // inner)
    for outer in itertools.product(*(range(s) for s in shape[:k])):
        v = u[outer] if outer else u
        for i in range(0, shape[k], step):
            yield v[i : i + step]


class _Moments:
    """Count, mean and sum of squared deviations, merged chunk by chunk (Chan et al.)."""

    __slots__ = ("n", "mean", "m2")

    def __init__(self) -> None:
        self.n, self.mean, self.m2 = 0, 0.0, 0.0

    def add(self, n: int, mean, m2: float) -> None:
        if n == 0:
            return
        if self.n == 0:
            self.n, self.mean, self.m2 = n, mean, m2
            return
        total = self.n + n
        delta = mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 += m2 + abs(delta) ** 2 * (self.n * n / total)
        self.n = total

    def std(self):
        return math.sqrt(max(self.m2, 0.0) / self.n) if self.n else None


def _empty_stats() -> dict[str, Any]:
    return {"min": None, "max": None, "mean": None, "std": None, "nan": 0, "posinf": 0, "neginf": 0, "zeros": 0, "count": 0}


def _contiguous_work(c, buf_holder: list, dtype):
    """``c`` as a contiguous 1-D tensor of ``dtype``: itself when it already is, else copied into
    a reused chunk-sized buffer (never a full-size copy)."""
    import torch

    n = c.numel()
    if c.dtype == dtype and c.is_contiguous():
        return c.view(-1)
    buf = buf_holder[0]
    if buf is None or buf.numel() < n or buf.dtype != dtype:
        buf = torch.empty(max(n, buf.numel() if buf is not None else 0), dtype=dtype, device=c.device)
        buf_holder[0] = buf
    v = buf[:n]
    v.view(c.shape).copy_(c)
    return v


def _scratch(holder: list, n: int, like):
    import torch

    buf = holder[0]
    if buf is None or buf.numel() < n or buf.dtype != like.dtype:
        buf = torch.empty(n, dtype=like.dtype, device=like.device)
        holder[0] = buf
    return buf[:n]


def _float_stats(u, chunk: int) -> dict[str, Any]:
    import torch

    work = torch.float64 if u.dtype == torch.float64 else torch.float32
    s = _empty_stats()
    mom = _Moments()
    lo, hi = math.inf, -math.inf
    bufs = _Buffers(min(chunk, max(u.numel(), 1)), work, u.device)
    shift = None  # once one chunk's mean dominates its spread, measure around that mean
    aminmax, dot, sub, sign = torch.aminmax, torch.dot, torch.sub, torch.sign
    for c in _blocks(u, chunk):
        v = c.view(-1) if c.dtype == work and c.is_contiguous() else bufs.copy(c)
        n = v.numel()
        mn, mx = aminmax(v)
        mn, mx = mn.item(), mx.item()
        raw = v
        n_fin = n
        zeros = None
        if not (math.isfinite(mn) and math.isfinite(mx)):
            # NaN or ±inf here. Boolean tests (isfinite, isnan) cost 10-30 sums each on the CPU,
            # so everything is counted with float passes: zeros stand in for the non-finite values
            v = torch.nan_to_num(raw, nan=0.0, posinf=0.0, neginf=0.0, out=bufs.tmp(n))
            z = sign(v, out=bufs.tmp2(n))
            nonzero = round(dot(z, z).item())  # finite and not 0
            b = sign(raw, out=bufs.tmp3(n))  # ±1 for ±inf, NaN for NaN
            diff = round(torch.nansum(b).item() - z.sum().item())  # posinf - neginf
            b.mul_(b)
            infs = round(torch.nansum(b).item()) - nonzero  # posinf + neginf
            nan = 0
            if math.isnan(mn):
                u = torch.nan_to_num(raw, nan=1.0, posinf=0.0, neginf=0.0, out=b)
                sign(u, out=u)
                nan = round(dot(u, u).item()) - nonzero
            s["nan"] += nan
            s["posinf"] += (infs + diff) // 2
            s["neginf"] += (infs - diff) // 2
            n_fin = n - nan - infs
            zeros = n_fin - nonzero
            if n_fin == 0:
                continue
            mn, mx = aminmax(v)
            mn, mx = mn.item(), mx.item()
            if zeros == 0:  # a stand-in 0 is not a value: take min/max with the largest finite stand-ins
                big = torch.finfo(work).max
                if mn == 0:
                    mn = torch.nan_to_num(raw, nan=big, posinf=big, neginf=big, out=bufs.tmp3(n)).amin().item()
                if mx == 0:
                    mx = torch.nan_to_num(raw, nan=-big, posinf=-big, neginf=-big, out=bufs.tmp3(n)).amax().item()
        lo, hi = min(lo, mn), max(hi, mx)
        if shift is None:
            total = v.sum().item()
            sq = dot(v, v).item()
            mean = total / n_fin
            m2 = sq - total * mean
            if m2 >= sq / 8:
                mom.add(n_fin, mean, m2)
            else:
                # the mean dominates: sq - total*mean would cancel digits
                shift = _as_dtype(mean, work)
        if shift is not None:
            d = sub(raw, shift, out=bufs.tmp2(n))
            if n_fin < n:
                torch.nan_to_num(d, nan=0.0, posinf=0.0, neginf=0.0, out=d)  # NaN - shift is still NaN
            rest = d.sum().item()
            mom.add(n_fin, shift + rest / n_fin, max(dot(d, d).item() - rest * rest / n_fin, 0.0))
        if zeros is not None:
            s["zeros"] += zeros
        elif mn > 0 or mx < 0:
            continue
        elif mn == 0 and mx == 0:
            s["zeros"] += n_fin
        else:
            z = sign(v, out=bufs.tmp2(n))
            s["zeros"] += n - round(dot(z, z).item())
    s["count"] = mom.n
    if mom.n:
        s["min"], s["max"], s["mean"], s["std"] = lo, hi, mom.mean, mom.std()
    return s


class _Buffers:
    """Chunk-sized scratch tensors, allocated on first use and reused for every chunk."""

    def __init__(self, size: int, dtype, device) -> None:
        self.size, self.dtype, self.device = size, dtype, device
        self._copy = self._tmp = self._tmp2 = self._tmp3 = None

    def _new(self):
        import torch

        return torch.empty(self.size, dtype=self.dtype, device=self.device)

    def copy(self, c):
        """``c`` copied (and converted) into a contiguous 1-D buffer."""
        if self._copy is None:
            self._copy = self._new()
        v = self._copy[: c.numel()]
        v.view(c.shape).copy_(c)
        return v

    def tmp(self, n: int):
        if self._tmp is None:
            self._tmp = self._new()
        return self._tmp[:n]

    def tmp2(self, n: int):
        if self._tmp2 is None:
            self._tmp2 = self._new()
        return self._tmp2[:n]

    def tmp3(self, n: int):
        if self._tmp3 is None:
            self._tmp3 = self._new()
        return self._tmp3[:n]


def _as_dtype(x: float, dtype) -> float:
    """``x`` rounded as a scalar of ``dtype`` is when torch uses it in that dtype."""
    import torch

    return x if dtype == torch.float64 else float(torch.tensor(x, dtype=dtype).item())


def _int_stats(u, chunk: int) -> dict[str, Any]:
    import torch

    s = _empty_stats()
    exact = u.dtype not in (torch.uint64,)
    native = u.dtype in (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)
    holder = torch.int64 if exact else torch.float64
    mom = _Moments()
    lo, hi = None, None
    total_exact = 0
    ibuf: list = [None]
    fbuf: list = [None]
    tmp: list = [None]
    for c in _blocks(u, chunk):
        v = _contiguous_work(c, ibuf, c.dtype if native else holder)
        n = v.numel()
        mn, mx = torch.aminmax(v)
        mn, mx = (int(mn.item()), int(mx.item())) if exact else (mn.item(), mx.item())
        lo = mn if lo is None else min(lo, mn)
        hi = mx if hi is None else max(hi, mx)
        if not (mn > 0 or mx < 0):
            s["zeros"] += n - int(torch.count_nonzero(v).item())
        f = _contiguous_work(v, fbuf, torch.float64)
        if exact and max(abs(mn), abs(mx)) * n < 2**62:
            csum = int(v.sum().item())
        else:
            exact = False
            csum = f.sum().item()
        total_exact += csum
        mean = csum / n
        d = _scratch(tmp, n, f)
        torch.sub(f, mean, out=d)
        mom.add(n, mean, torch.dot(d, d).item())
    s["count"] = mom.n
    if mom.n:
        s["min"], s["max"] = lo, hi
        s["mean"] = total_exact / mom.n if exact else mom.mean
        s["std"] = mom.std()
    return s


def _bool_stats(u, chunk: int) -> dict[str, Any]:
    import torch

    s = _empty_stats()
    n = u.numel()
    trues = 0
    for c in _blocks(u, chunk):
        trues += int(torch.count_nonzero(c).item())
    s["count"] = n
    s["zeros"] = n - trues
    if n:
        p = trues / n
        s["min"], s["max"] = (trues == n), (trues > 0)
        s["mean"], s["std"] = p, math.sqrt(p * (1 - p))
    return s


def _complex_stats(u, chunk: int) -> dict[str, Any]:
    import torch

    s = _empty_stats()
    work = torch.complex128 if u.dtype == torch.complex128 else torch.complex64
    mom = _Moments()
    buf: list = [None]
    for c in _blocks(u, chunk):
        v = _contiguous_work(c, buf, work)
        finite = torch.isfinite(v)
        n_fin = int(finite.sum().item())
        if n_fin < v.numel():
            re, im = v.real, v.imag
            s["nan"] += int(torch.isnan(v).sum())
            s["posinf"] += int(((re == math.inf) | (im == math.inf)).sum())
            s["neginf"] += int(((re == -math.inf) | (im == -math.inf)).sum())
            v = v[finite]
        n = v.numel()
        if n == 0:
            continue
        mean = complex(v.sum().item()) / n
        d = torch.view_as_real(v - mean).reshape(-1)  # at most one chunk
        mom.add(n, mean, torch.dot(d, d).item())
        s["zeros"] += n - int(torch.count_nonzero(v).item())
    s["count"] = mom.n
    if mom.n:
        s["mean"], s["std"] = mom.mean, mom.std()
    return s


def _histogram(u, s: dict[str, Any], kind: str) -> dict[str, Any] | None:
    """A small histogram of the finite values: exact up to HIST_SAMPLE values, else over an
    evenly strided sample of about HIST_SAMPLE (said in ``sampled``)."""
    import torch

    if s["count"] == 0 or s["min"] is None or s["min"] == s["max"]:
        return None  # nothing to draw: no values, or all equal (the stats say which)
    if kind == "bool":
        return {"edges": [0, 1, 2], "counts": [s["zeros"], s["count"] - s["zeros"]], "labels": ["False", "True"], "sampled": False, "sample_size": s["count"]}
    sample = _strided_sample(u, HIST_SAMPLE)
    sampled = sample.numel() < u.numel()
    lo, hi = float(s["min"]), float(s["max"])
    if kind == "int" and hi - lo + 1 <= HIST_BINS:
        bins = int(hi - lo + 1)
        edges = [lo - 0.5 + i for i in range(bins + 1)]
        labels = [str(int(lo) + i) for i in range(bins)]
    else:
        bins = HIST_BINS if hi > lo else 1
        if hi == lo:
            edges = [lo - 0.5, lo + 0.5]
        else:
            edges = [lo + (hi - lo) * i / bins for i in range(bins + 1)]
        labels = None
    if sample.dtype in (torch.float32, torch.float64):
        values = sample
    elif sample.dtype.is_floating_point:
        values = sample.to(torch.float32)  # float16, bfloat16, float8: exact in float32
    else:
        values = sample.to(torch.float64)  # integers: exact in float64 up to 2**53
    counts = torch.histc(values, bins=bins, min=edges[0], max=edges[-1]).tolist()
    out = {"edges": edges, "counts": [int(c) for c in counts], "sampled": sampled, "sample_size": int(sample.numel())}
    if labels:
        out["labels"] = labels
    return out


def _strided_sample(u, budget: int):
    """An evenly strided view of ``u`` with at most ``budget`` elements, made contiguous (small)."""
    shape = list(u.shape)
    keep = list(shape)
    while math.prod(keep) > budget:
        i = max(range(len(keep)), key=lambda j: keep[j])
        keep[i] = max(1, keep[i] // 2)
    steps = [max(1, -(-d // k)) if k else 1 for d, k in zip(shape, keep)]
    view = u[tuple(slice(None, None, st) for st in steps)] if any(st > 1 for st in steps) else u
    return view.reshape(-1)


def _heatmap(x, s: dict[str, Any]) -> dict[str, Any] | None:
    """A small picture of a 2-D tensor/array or of the first matrices of a 3-D one (every k-th
    row and column when larger than HEAT_SIDE), where it helps: not for a row or a column, a
    constant, or values that are all NaN. Only the drawn cells are moved to the host."""
    rows, cols = x.shape[-2], x.shape[-1]
    if rows < 2 or cols < 2 or s["min"] is None or s["min"] == s["max"]:
        return None
    side = HEAT_SIDE if x.ndim == 2 else HEAT_SIDE // 2  # several small maps for 3-D
    rstep, cstep = max(1, -(-rows // side)), max(1, -(-cols // side))
    mats = 1 if x.ndim == 2 else min(x.shape[0], HEAT_MATRICES)
    view = x[::rstep, ::cstep] if x.ndim == 2 else x[:mats, ::rstep, ::cstep]
    if hasattr(view, "detach"):
        import torch

        grid = view.to(torch.float64).cpu().tolist()
    else:
        grid = view.astype("float64").tolist()
    if x.ndim == 2:
        grid = [grid]
    clean = [[[None if (isinstance(v, float) and not math.isfinite(v)) else v for v in row] for row in m] for m in grid]
    return {
        "matrices": clean,
        "row_step": rstep,
        "col_step": cstep,
        "first": mats,
        "of": 1 if x.ndim == 2 else int(x.shape[0]),
        "min": float(s["min"]),
        "max": float(s["max"]),
    }
