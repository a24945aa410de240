"""Preparing the point: a fresh tensor of the check's dtype on the device for every variable."""

from __future__ import annotations

import math
from typing import Any
from collections.abc import Mapping

import numpy as np

from ..errors import InputError

__all__ = ["expand_modules", "pick_device", "prepare", "host"]


def expand_modules(points: Mapping[str, Any], sources: dict[str, str], notes: list[str] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """A module becomes one variable per parameter, named as ``named_parameters()`` names them
    with the module's name in front (``model.0.weight``); returns the points and, for each
    variable that is the user's own tensor, that tensor (swapped wherever the cell reaches it).
    Frozen parameters (``requires_grad=False``) are checked too, and ``notes`` says which."""
    import torch

    out: dict[str, Any] = {}
    originals: dict[str, Any] = {}
    for name, value in points.items():
        if isinstance(value, torch.nn.Module):
            params = list(value.named_parameters())
            if not params:
                raise InputError(f"{sources.get(name, name)} is a {type(value).__name__} without parameters: there is nothing to differentiate")
            for pname, p in params:
                full = f"{name}.{pname}"
                out[full] = originals[full] = p
                sources[full] = f"{sources.get(name, name)}.{pname}"
            frozen = [f"{name}.{pname}" for pname, p in params if not p.requires_grad]
            if frozen and notes is not None:
                listed = ", ".join(frozen[:4]) + (f" and {len(frozen) - 4} more" if len(frozen) > 4 else "")
                notes.append(f"{listed} {'is' if len(frozen) == 1 else 'are'} frozen (requires_grad=False) and checked like the "
                             f"others; training would leave {'it' if len(frozen) == 1 else 'them'} alone")
            continue
        out[name] = value
        if isinstance(value, torch.Tensor):
            originals[name] = value
    return out, originals

def pick_device(device: str | None, points: Mapping[str, Any]):
    import torch

    if device is None:
        devices = {v.device for v in points.values() if isinstance(v, torch.Tensor)}
        if len(devices) > 1:
            raise InputError(f"the variables live on different devices ({', '.join(sorted(map(str, devices)))}): pass --device")
        dev = devices.pop() if devices else torch.get_default_device()
        if dev.type == "meta":
            raise InputError("the variables (or torch's default device) are on the meta device, which holds shapes but no values: a gradient check needs numbers; use --device cpu")
        return dev
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise InputError(f"{device!r} is not a device name (e.g. cpu, cuda, cuda:1): {e}") from None
    if dev.type == "meta":
        raise InputError("the meta device holds shapes but no values, and a gradient check needs numbers: use --device cpu (or a GPU)")
    try:
        torch.empty(0, device=dev)
    except (RuntimeError, AssertionError, AttributeError) as e:
        raise InputError(f"device {device!r} is not available here ({str(e).splitlines()[0]})") from None
    return dev


def prepare(name: str, value: Any, dt: Any, dev: Any, source: str | None, notes: list[str]):
    """A fresh tensor of the check's dtype on the device: the user's object is never touched."""
    import torch

    what = f"--wrt {name}" if source == name else name
    original = value
    if isinstance(value, torch.Tensor):
        if value.is_complex():
            raise InputError(f"{what} is complex: f must be a real function of real variables (split it into .real and .imag)")
        if value.layout != torch.strided:
            raise InputError(f"{what} is a {str(value.layout).replace('torch.', '')} tensor: pass a dense one (.to_dense())")
        if value.device.type == "meta":
            raise InputError(f"{what} is a meta tensor: it has a shape but no values to differentiate at")
        tensor = value.detach()
    else:
        if isinstance(value, (str, bytes)) or value is None or callable(value) and not hasattr(value, "__array__"):
            kind = "None" if value is None else type(value).__name__
            raise InputError(f"{what} is a {kind}, not a number, list, array or tensor")
        try:
            arr = np.asarray(value)
        except (ValueError, TypeError) as e:
            raise InputError(f"{what} is not a rectangular array of numbers ({e})") from None
        if arr.dtype == object:
            try:
                arr = np.asarray(value, dtype=np.float64)
            except (ValueError, TypeError):
                raise InputError(f"{what} is not a number, list, array or tensor of numbers (it holds {type(value).__name__} items)") from None
        if np.iscomplexobj(arr):
            raise InputError(f"{what} is complex: f must be a real function of real variables (split it into real and imaginary parts)")
        if arr.dtype.kind not in "biuf":
            raise InputError(f"{what} holds {arr.dtype} values, not numbers")
        tensor = torch.from_numpy(np.array(arr, order="C", copy=True))
    if tensor.numel() == 0:
        raise InputError(f"{what} is empty: there is nothing to differentiate")
    if not (tensor.is_floating_point()):
        kind = ("a boolean" if tensor.dim() == 0 else "booleans") if tensor.dtype == torch.bool else ("an integer" if tensor.dim() == 0 else "integers")
        notes.append(f"{name} was given as {kind}; promoted to {str(dt).replace('torch.', '')}")
    elif tensor.dtype != dt and isinstance(original, torch.Tensor):
        notes.append(f"{name} is {str(tensor.dtype).replace('torch.', '')}; checked in {str(dt).replace('torch.', '')} (use --dtype to change)")
    fresh = tensor.to(device=dev, dtype=dt, copy=True).contiguous()
    from ..arrays import all_finite

    if not all_finite(fresh):  # one sum, no mask, when the point is finite (the usual case)
        bad = ~torch.isfinite(fresh)
        where = torch.nonzero(bad)[0].tolist()
        at = f"{name}[{', '.join(map(str, where))}]" if where else name
        kind = "nan" if math.isnan(float(fresh.reshape(-1)[bad.reshape(-1)][0])) else "infinite"
        raise InputError(f"{at} is {kind}: differentiate at a finite point")
    return fresh


def host(t: Any) -> np.ndarray:
    """A float64 NumPy copy on the host (ZeroTensors, which autograd returns for some ops, too)."""
    import torch

    return t.detach().to("cpu", dtype=torch.float64).numpy(force=True).copy()


