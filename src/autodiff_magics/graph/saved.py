"""Reading what a node saved for backward, and summarising tensors as plain data (never a copy)."""

from __future__ import annotations

from typing import Any

__all__ = ["SMALL", "STATS_BUDGET", "Reader", "grad_summary", "skipped_note"]

#: tensors with at most this many elements are shown as values
SMALL = 10
#: larger tensors get their min and max (one pass each) while the elements summarised so far, per
#: walk (and per captured backward pass), stay within this many; past it they are skipped, with a note
STATS_BUDGET = 1 << 24

_FREED: dict[str, Any] = {"kind": "freed"}
_HOOKED: dict[str, Any] = {
    "kind": "hooked",
    "note": "kept by a saved-tensor hook (checkpointing, offloading); not unpacked",
}


class Reader:
    """Reads nodes and summarises tensors, caching what repeats across nodes (names of saved
    attributes per node type, dtype and device texts, summaries of 0-d constants)."""

    def __init__(self, torch: Any) -> None:
        self.torch = torch
        self.tensor_type = torch.Tensor
        self.strided = torch.strided
        self.budget = STATS_BUDGET
        self.attrs = _ATTRIBUTES  # a node type's saved attributes never change: shared by every walk
        self.texts: dict[Any, str] = {}
        self.scalars: dict[tuple, dict[str, Any]] = {}
        self.freed = 0  # saved values found freed, and found behind a saved-tensor hook
        self.hooked = 0
        self.skipped = 0  # large tensors left without min/max: past the budget
        #: the last few large tensors' min/max, by the elements they cover (a gradient one node
        #: passes is the next one's received, often as a transposed view of the same memory)
        self.recent: list[tuple[tuple, Any, dict[str, Any]]] = []

    def text(self, obj: Any) -> str:
        """``float64`` for torch.float64, ``cpu`` for a device (cached: they repeat)."""
        text = self.texts.get(obj)
        if text is None:
            text = self.texts[obj] = str(obj).removeprefix("torch.")
        return text

    def metadata(self, fn: Any) -> tuple[list[int] | None, str | None, str | None, int]:
        """Shape, dtype and device of what the node's forward produced (its first output)."""
        try:
            metadata = fn._input_metadata
        except Exception:  # older torch, or a node type without it
            return None, None, None, 1
        if not metadata:
            return None, None, None, 0
        first = metadata[0]
        try:
            shape = first.shape
            shape = shape if type(shape) is list else list(shape)
        except Exception:  # nested tensors have no single shape
            shape = None
        texts = self.texts
        dtype, device = first.dtype, first.device
        return shape, texts.get(dtype) or self.text(dtype), texts.get(device) or self.text(device), len(metadata)

    def saved(self, fn: Any) -> dict[str, dict[str, Any]]:
        """Each ``_saved_*`` attribute, summarised; ``None`` ones (not needed) are left out."""
        ftype = type(fn)
        attrs = self.attrs.get(ftype)
        if attrs is None:
            attrs = self.attrs[ftype] = _saved_attributes(ftype)
        saved: dict[str, dict[str, Any]] = {}
        for shown, attr, raw in attrs:
            if raw is not None:
                try:
                    packed = getattr(fn, raw)
                except Exception:
                    packed = None
                if packed is not None and getattr(packed, "unpack_hook", None) is not None:
                    saved[shown] = _HOOKED
                    self.hooked += 1
                    continue
            try:
                value = getattr(fn, attr)
            except RuntimeError:  # "Trying to backward through the graph a second time ..."
                saved[shown] = _FREED
                self.freed += 1
                continue
            except Exception as e:
                saved[shown] = {"kind": "unreadable", "error": type(e).__name__}
                continue
            if value is None:  # not needed for this backward (e.g. the other factor is a constant)
                continue
            if type(value) is int:
                saved[shown] = _integer(shown, value)
                continue
            saved[shown] = self.summary(value)
        return saved

    def custom_saved(self, fn: Any) -> dict[str, dict[str, Any]]:
        """``ctx.save_for_backward`` tensors and plain values a custom Function kept on ``ctx``."""
        saved: dict[str, dict[str, Any]] = {}
        packed = getattr(fn, "_raw_saved_tensors", None)
        if packed is not None and _has_unpack_hook(packed):
            saved["saved_tensors"] = _HOOKED
            self.hooked += 1
        else:
            try:
                tensors = fn.saved_tensors
            except RuntimeError:
                saved["saved_tensors"] = _FREED
                self.freed += 1
            except Exception as e:
                saved["saved_tensors"] = {"kind": "unreadable", "error": type(e).__name__}
            else:
                for i, t in enumerate(tensors):
                    saved[f"saved_tensors[{i}]"] = {"kind": "none"} if t is None else self.tensor(t)
        for key, value in getattr(fn, "__dict__", {}).items():
            if not key.startswith("_") and isinstance(value, (bool, int, float, str)):
                saved[f"ctx.{key}"] = {"kind": "value", "value": value}
        return saved

    # -- summaries: plain, JSON-ready, never a whole copy of a large tensor ----------------------

    def summary(self, value: Any) -> dict[str, Any]:
        if isinstance(value, self.tensor_type):
            return self.tensor(value)
        if isinstance(value, (list, tuple)):
            if value and all(isinstance(v, self.tensor_type) for v in value):
                return {"kind": "tensors", "count": len(value), "items": [self.tensor(v) for v in value[:SMALL]]}
            out: dict[str, Any] = {"kind": "value", "value": [_plain(v) for v in value[: SMALL * 10]]}
            if len(value) > SMALL * 10:
                out["count"] = len(value)
            return out
        return {"kind": "value", "value": _plain(value)}

    def _stats(self, t: Any) -> dict[str, Any]:
        """min/max of t, reused when t covers exactly the elements of a recent tensor (same
        memory, same number of elements, both dense, no in-place write since: same version)."""
        if t.numel() < 1 << 16 or not _dense(t):
            return _stats(t, self.torch)
        key = (t.untyped_storage().data_ptr(), t.data_ptr(), t.numel(), t.dtype, t.device, t._version)
        for known, _, stats in self.recent:
            if known == key:
                return stats
        stats = _stats(t, self.torch)
        # the tensor is held so that its memory cannot be reused under the same key; 4 at most
        self.recent = [*self.recent[-3:], (key, t, stats)]
        return stats

    def tensor(self, t: Any, always: bool = False) -> dict[str, Any]:
        """A tensor's summary; min/max within the budget, or ``always`` (variables' gradients)."""
        try:
            texts = self.texts
            dtype, device = t.dtype, t.device
            dtype, device = texts.get(dtype) or self.text(dtype), texts.get(device) or self.text(device)
            if t.layout is not self.strided:
                return {"kind": "tensor", "shape": list(t.shape), "dtype": dtype, "device": device,
                        "layout": self.text(t.layout)}
            if device == "meta":
                return {"kind": "tensor", "shape": list(t.shape), "dtype": dtype, "device": device}
            if not t.dim():  # constants of the formula (3 in 3*x) repeat: share one summary
                value = t.tolist()
                if type(value) is complex:
                    value = str(value)
                key = (dtype, device, value)
                found = self.scalars.get(key)
                if found is None:
                    found = self.scalars[key] = {"kind": "tensor", "shape": [], "dtype": dtype, "device": device, "values": value}
                return found
            out: dict[str, Any] = {"kind": "tensor", "shape": list(t.shape), "dtype": dtype, "device": device}
        except Exception as e:  # nested, meta-like or exotic tensors
            return {"kind": "unreadable", "error": type(e).__name__}
        try:
            n = t.numel()
            if n <= SMALL:  # tolist() gives plain bools, ints and floats, and complex numbers
                values = t.tolist()
                out["values"] = _plain(values) if t.dtype.is_complex else values
            elif always or n <= self.budget:
                if not always:
                    self.budget -= n
                out.update(self._stats(t))
            else:
                self.skipped += 1
        except Exception as e:  # tensor subclasses that cannot be read: the metadata still helps
            out["error"] = type(e).__name__
        return out


#: saved integers that are enums in ATen, by attribute name: shown by their names
ENUMS: dict[str, tuple[str, ...]] = {
    "reduction": ("none", "mean", "sum"),  # at::Reduction
    "interpolation_mode": ("bilinear", "nearest", "bicubic"),  # grid_sampler
    "padding_mode": ("zeros", "border", "reflection"),
}


def _integer(attr: str, value: int) -> dict[str, Any]:
    """A saved int as the user wrote it: torch's bindings give int64 arguments back unsigned
    (``ignore_index=-100`` reads 18446744073709551516), and enums as their codes."""
    if value >= 1 << 63:
        value -= 1 << 64
    names = ENUMS.get(attr)
    if names is not None and 0 <= value < len(names):
        return {"kind": "value", "value": names[value], "code": value}
    return {"kind": "value", "value": value}


_ATTRIBUTES: dict[type, tuple[tuple[str, str, str | None], ...]] = {}


def _saved_attributes(ftype: type) -> tuple[tuple[str, str, str | None], ...]:
    """(shown name, attribute, raw attribute or None) of each ``_saved_*`` of a node type."""
    names = set(dir(ftype))
    out = []
    for attr in sorted(names):
        if attr.startswith("_saved_"):
            raw = "_raw" + attr
            out.append((attr[len("_saved_"):], attr, raw if raw in names else None))
    return tuple(out)


def _has_unpack_hook(packed: Any) -> bool:
    """Whether unpacking would run a saved-tensor hook (checkpointing would rerun the forward)."""
    items = packed if isinstance(packed, (list, tuple)) else (packed,)
    return any(getattr(item, "unpack_hook", None) is not None for item in items)


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, complex):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    try:  # SymInt, SymFloat, numpy scalars
        return int(value) if hasattr(value, "__index__") else float(value)
    except Exception:
        return str(value).removeprefix("torch.")[:80]


def _dense(t: Any) -> bool:
    """t's elements fill its memory without gaps or repeats (contiguous, or so once transposed)."""
    return t.is_contiguous() or (t.dim() == 2 and t.t().is_contiguous())


def _stats(t: Any, torch: Any) -> dict[str, Any]:
    """min and max in one pass (``aminmax``; no copy), moved to the host in one transfer."""
    with torch.no_grad():
        if t.dtype.is_complex:
            return {}
        if t.dtype == torch.bool:
            return {"true": int(t.sum().item())}
        low, high = torch.stack(torch.aminmax(t)).tolist()
        return {"min": low, "max": high}


def grad_summary(reader: Reader, g: Any, always: bool = False) -> dict[str, Any] | None:
    if g is None:
        return None
    try:
        return reader.tensor(g, always)
    except Exception as e:  # never break the user's backward pass for a summary
        return {"kind": "unreadable", "error": type(e).__name__}


def skipped_note(skipped: int, what: str, per: str) -> str:
    return (
        f"min/max not computed for {skipped:,} large {what}{'s' if skipped != 1 else ''}: summaries read at "
        f"most {STATS_BUDGET:,} elements per {per} (shape and dtype are shown)."
    )
