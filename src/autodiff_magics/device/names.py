"""Device names: availability, the default device, what ``auto`` chooses, resolving what the user typed."""

from __future__ import annotations

from typing import Any

import torch

from ..errors import InputError


def _call(fn, default: Any = None) -> Any:
    """``fn()``, or ``default`` when the backend cannot answer (missing API, broken driver)."""
    try:
        return fn()
    except Exception:
        return default


def _first_line(error: BaseException) -> str:
    """The gist of an error: its first line, cut at a sentence end when torch runs on."""
    lines = str(error).strip().splitlines()
    text = lines[0] if lines else type(error).__name__
    if len(text) > 200:
        end = text.find(". ", 20)
        text = text[: end + 1] if 0 < end < 200 else text[:200] + " …"
    return text


def _cuda_available() -> bool:
    return bool(_call(lambda: torch.cuda.is_available(), False))


def _cuda_initialized() -> bool:
    return bool(_call(lambda: torch.cuda.is_initialized(), False))


def _mps_available() -> bool:
    return bool(_call(lambda: torch.backends.mps.is_available(), False))


def _compiled_accelerator() -> torch.device | None:
    """The accelerator this torch was built for (None for a CPU-only build)."""
    accelerator = getattr(torch, "accelerator", None)
    if accelerator is None:
        return None
    return _call(lambda: accelerator.current_accelerator())


def _count(device_type: str) -> int:
    """How many devices of this type torch can use now (0 when none or unavailable)."""
    if device_type == "cuda":
        return int(_call(lambda: torch.cuda.device_count(), 0)) if _cuda_available() else 0
    if device_type == "mps":
        return 1 if _mps_available() else 0
    module = getattr(torch, device_type, None)
    if module is None or not hasattr(module, "device_count"):
        return 0
    if not _call(lambda: bool(module.is_available()), False):
        return 0
    return int(_call(lambda: module.device_count(), 0))


def _names_here() -> list[str]:
    """Every device name torch can use now, cheaply (no properties read)."""
    names = ["cpu"]
    names += [f"cuda:{i}" for i in range(_count("cuda"))]
    if _mps_available():
        names.append("mps")
    acc = _compiled_accelerator()
    if acc is not None and acc.type not in ("cuda", "mps"):
        names += [f"{acc.type}:{i}" for i in range(_count(acc.type))]
    return names


def _current_index(device_type: str) -> int:
    """The current device index of a type; 0 unless its backend has started and says otherwise."""
    if device_type == "cuda":
        return int(_call(lambda: torch.cuda.current_device(), 0)) if _cuda_initialized() else 0
    if device_type == "mps":
        return 0
    return int(_call(lambda: torch.accelerator.current_device_index(), 0))


def _auto_name() -> str:
    """The best device here: the accelerator torch was built for when it is available, else
    CUDA or MPS when present (whatever the build says), else the CPU."""
    acc = _compiled_accelerator()
    if acc is not None and _count(acc.type) > 0:
        return "mps" if acc.type == "mps" else f"{acc.type}:{_current_index(acc.type)}"
    if _count("cuda") > 0:
        return f"cuda:{_current_index('cuda')}"
    if _mps_available():
        return "mps"
    return "cpu"


def _default_raw() -> torch.device | None:
    """The device torch.set_default_device was given (None: never set, or unset)."""
    context = getattr(getattr(torch, "_GLOBAL_DEVICE_CONTEXT", None), "device_context", None)
    return None if context is None else getattr(context, "device", None)


def _default_name() -> str:
    raw = _default_raw()
    if raw is None:
        return "cpu"
    return _display(raw)


def _display(device: torch.device) -> str:
    """A device's name with its index where the type has several devices: 'cuda' -> 'cuda:0'."""
    if device.type in ("cpu", "meta", "mps"):
        return device.type
    index = device.index if device.index is not None else _current_index(device.type)
    return f"{device.type}:{index}"


def is_device_name(text: str) -> bool:
    """Whether ``text`` is spelled like a device (``auto``, ``cpu``, ``cuda:1``…), present or not."""
    if text.strip().lower() == "auto":
        return True
    try:
        torch.device(text.strip().lower())
    except (RuntimeError, ValueError, TypeError):
        return False
    return True


def resolve(name: str) -> torch.device:
    """The torch.device that ``name`` (``cpu``, ``cuda``, ``cuda:1``, ``mps``, ``meta``, ``auto``)
    means here; a device that does not exist raises InputError listing those that do.

    Example::

        >>> resolve("auto")
        device(type='cpu')
    """
    text = str(name).strip().lower()
    if text == "auto":
        text = _auto_name()
    here = _names_here()
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError, TypeError):
        raise InputError(
            f"{text!r} is not a device name: use cpu, cuda, cuda:1, mps or auto (devices here: {', '.join(here)})."
        ) from None
    if device.type in ("cpu", "meta"):
        if device.index not in (None, 0):
            raise InputError(f"There is only one {device.type} device: use {device.type!r} (devices here: {', '.join(here)}).")
        return torch.device(device.type)
    count = _count(device.type)
    if count == 0:
        raise InputError(f"There is no {_kind_words(device.type)} device here{_why_none(device.type)}; devices here: {', '.join(here)}.")
    if device.index is not None and device.index >= count:
        raise InputError(f"There is no device {text!r} here; devices here: {', '.join(here)}.")
    return device


def _kind_words(device_type: str) -> str:
    return {"cuda": "CUDA", "mps": "MPS", "xpu": "XPU", "hpu": "HPU"}.get(device_type, repr(device_type))


def _why_none(device_type: str) -> str:
    if device_type == "cuda":
        if not (torch.version.cuda or torch.version.hip):
            return f" (this torch, {torch.__version__}, was built without CUDA)"
        return " (torch sees no GPU: no driver, or CUDA_VISIBLE_DEVICES hides them)"
    if device_type == "mps" and not _call(lambda: torch.backends.mps.is_built(), False):
        return " (this torch was built without MPS, which needs a Mac)"
    return ""


def _probe(device: torch.device) -> None:
    """Allocate nothing on ``device``: a device torch cannot use fails here, before any change."""
    if device.type in ("cpu", "meta"):
        return
    try:
        torch.empty(0, device=device)
    except Exception as e:
        raise InputError(f"{_display(device)} is present but torch cannot use it: {_first_line(e)}") from None
