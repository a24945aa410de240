"""Reports of NumPy arrays, Python numbers, nested lists and SymPy matrices."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator
from typing import Any

from ..errors import InputError
from .pictures import _preview
from .report import TensorReport
from .values import _values_into
from .words import _dtype_words, _type_name, memory_format, shape_words


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
    r.memory_format = memory_format(shape, list(a.strides), unit=max(itemsize, 1), numpy=True)
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
    masked = isinstance(a, np.ma.MaskedArray)
    # a masked array's own repr shows masked elements as --, never their hidden data
    r.preview = _preview(_safe_repr(a) if masked or a.dtype == object else np.array_repr(a))
    if a.dtype.kind in "biufc":
        if a.dtype.kind in "fc" and a.dtype.itemsize > (8 if a.dtype.kind == "f" else 16):
            notes.append(f"torch has no {a.dtype}: statistics are computed on a {'float64' if a.dtype.kind == 'f' else 'complex128'} copy.")
        elif not a.dtype.isnative:
            notes.append(f"{name} is stored big-endian: statistics are computed on a native-order copy.")
        _values_into(r, a, is_torch=False)
        if masked:
            k = r.stats["masked"] or 0
            notes.append(
                f"{name} is a masked array: {k:,} of {a.size:,} elements masked; statistics, histogram and "
                "heat map count only the unmasked values (masked ones show as -- in the preview)."
            )
        if a.size == 1 and not (masked and r.stats["masked"]):
            r.item = np.asarray(a).reshape(-1)[0].item()
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
    r.is_view, r.view_of, r.strides, r.strides_bytes, r.contiguous, r.memory_format = (None,) * 6
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
    r.is_view, r.view_of, r.strides, r.strides_bytes, r.contiguous, r.memory_format = (None,) * 6
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
    r.is_view, r.view_of, r.strides, r.strides_bytes, r.contiguous, r.memory_format, r.nbytes, r.itemsize = (None,) * 8
    r.layout = "a SymPy matrix (not a tensor)"
    r.preview = _preview(str(m))
    return r
