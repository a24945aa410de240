"""The public function: :func:`tensorinfo` dispatches on the object's type."""

from __future__ import annotations

import numbers
import sys
import types
from collections.abc import Sequence
from typing import Any

from ..errors import InputError
from .other_objects import _from_ndarray, _from_number, _from_sequence, _from_sympy
from .report import TensorReport, TensorsReport
from .torch_tensors import _from_tensor
from .words import _type_name

__all__ = ["tensorinfo"]


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
