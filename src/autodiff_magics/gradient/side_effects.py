"""What a cell does besides computing f, seen during its first run so that the others can undo it.

:class:`WriteWatch` is a torch dispatch mode around the first run only: it sees every operator
that writes into a tensor of the user's namespace (an in-place ``buf.add_(1)``, BatchNorm's running
statistics, ``num_batches_tracked``) and copies that tensor just before the first write, and it
notes the operators that draw random numbers, with the cell line. :class:`NamespaceWatch`
fingerprints the plain Python objects of the namespace (lists, dicts, sets, small arrays, objects'
attributes) cheaply, by identity and length, to restore or name what the extra runs changed.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..cell import cell_line

__all__ = ["WriteWatch", "NamespaceWatch", "namespace_tensors"]

_SKIP = {"In", "Out", "exit", "quit", "get_ipython"}
_SMALL = 1000


#: module buffers (running statistics, counters) are copied before the first run up to this size:
#: some operators write them without saying so in their schema (native_batch_norm)
BUFFER_BUDGET = 64 * 2**20


def namespace_buffers(namespace: Mapping[str, Any] | None) -> list[Any]:
    import torch

    out: list[Any] = []
    for name, value in list((namespace or {}).items()):
        if not name.startswith("_") and isinstance(value, torch.nn.Module):
            out.extend(value.buffers())
    return out


def namespace_tensors(namespace: Mapping[str, Any] | None) -> list[Any]:
    """The tensors the cell can reach by name: top-level tensors, modules' parameters and buffers,
    and tensors one level inside lists, tuples and dicts."""
    import torch

    out: list[Any] = []
    if namespace is None:
        return out
    for name, value in list(namespace.items()):
        if name.startswith("_") or name in _SKIP:
            continue
        if isinstance(value, torch.Tensor):
            out.append(value)
        elif isinstance(value, torch.nn.Module):
            out.extend(value.parameters())
            out.extend(value.buffers())
        elif isinstance(value, (list, tuple)) and len(value) <= _SMALL:
            out.extend(v for v in value if isinstance(v, torch.Tensor))
        elif isinstance(value, dict) and len(value) <= _SMALL:
            out.extend(v for v in value.values() if isinstance(v, torch.Tensor))
    return out


def _storage_key(t: Any) -> int | None:
    try:
        if t.device.type == "meta" or t.layout != __import__("torch").strided:
            return None
        ptr = t.untyped_storage().data_ptr()
    except Exception:  # noqa: BLE001 - tensor subclasses without storage: not watched
        return None
    return ptr or None


class WriteWatch:
    """Around the first run: copies each namespace tensor before its first in-place write, and
    records the random operators with their cell line."""

    def __init__(self, namespace: Mapping[str, Any] | None, filename: str | None, watch_random: bool = True) -> None:
        self.filename = filename
        self.watch_random = watch_random
        self.random_ops: list[str] = []
        self._by_storage: dict[int, list[Any]] = {}
        self._versions: list[tuple[Any, int]] = []
        for t in namespace_tensors(namespace):
            key = _storage_key(t)
            if key is None:
                continue
            try:
                version = t._version
            except RuntimeError:  # an inference tensor: no version, and no in-place write outside inference mode
                continue
            self._by_storage.setdefault(key, []).append(t)
            self._versions.append((t, version))
        self._before: dict[int, list[tuple[Any, Any]]] = {}
        buffers = namespace_buffers(namespace)
        if buffers and sum(b.numel() * b.element_size() for b in buffers) <= BUFFER_BUDGET:
            import torch

            with torch.no_grad():
                for b in buffers:
                    key = _storage_key(b)
                    if key is not None and key not in self._before:
                        self._before[key] = [(u, u.detach().clone()) for u in self._by_storage.get(key, [b])]
        self._after: list[tuple[Any, Any]] = []
        self._dirty = False
        self._mode = None

    @property
    def written(self) -> list[Any]:
        """The namespace tensors the first run changed, that can be set back."""
        import torch

        changed = {id(t) for t, v in self._versions if t._version != v}
        # some kernels (native_batch_norm's running statistics) write without bumping the version
        return [t for pairs in self._before.values() for t, saved in pairs if id(t) in changed or not torch.equal(t, saved)]

    def unrestorable(self) -> list[Any]:
        """Changed by the first run, but with no copy from before it."""
        copied = {id(t) for pairs in self._before.values() for t, _ in pairs}
        return [t for t, v in self._versions if t._version != v and id(t) not in copied]

    def __enter__(self) -> WriteWatch:
        from torch.utils._python_dispatch import TorchDispatchMode

        if not self._by_storage and not self.watch_random:
            return self  # nothing of the user's to watch: no mode (it costs every operator a call)

        watch = self

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                kwargs = kwargs or {}
                watch._see(func, args, kwargs)
                return func(*args, **kwargs)

        self._mode = Mode()
        self._mode.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        mode, self._mode = self._mode, None
        if mode is not None:
            mode.__exit__(*exc)

    def _see(self, func: Any, args: tuple, kwargs: dict) -> None:
        import torch

        if torch.Tag.nondeterministic_seeded in func.tags:
            name = func._schema.name.split("::")[-1].removeprefix("native_").rstrip("_")
            line = cell_line(self.filename, 3)
            label = f"line {line}: {name}" if line else name
            if label not in self.random_ops:
                self.random_ops.append(label)
        if not self._by_storage or not func._schema.is_mutable:
            return
        for i, arg in enumerate(func._schema.arguments):
            if arg.alias_info is None or not arg.alias_info.is_write:
                continue
            value = args[i] if i < len(args) else kwargs.get(arg.name)
            for t in value if isinstance(value, (list, tuple)) else [value]:
                if isinstance(t, torch.Tensor):
                    key = _storage_key(t)
                    if key in self._by_storage and key not in self._before:
                        with torch.no_grad():
                            self._before[key] = [(u, u.detach().clone()) for u in self._by_storage[key]]

    def remember_after_first(self) -> None:
        import torch

        written = {id(t) for t in self.written}
        self._before = {k: pairs for k, pairs in self._before.items() if any(id(t) in written for t, _ in pairs)}
        with torch.no_grad():
            self._after = [(t, t.detach().clone()) for pairs in self._before.values() for t, _ in pairs]

    def restore_before(self) -> None:
        """Before an extra run: the tensors as they were before the first."""
        import torch

        if not self._before:
            return
        self._dirty = True
        with torch.no_grad():
            for pairs in self._before.values():
                for t, saved in pairs:
                    t.copy_(saved)

    def leave_as_after_first(self) -> None:
        """After the check: the tensors as one run of the cell leaves them."""
        import torch

        if not self._dirty:
            return
        with torch.no_grad():
            for t, saved in self._after:
                t.copy_(saved)
        self._dirty = False


def _fingerprint(value: Any) -> Any:
    if isinstance(value, list):
        return ("list", len(value), tuple(map(id, value)) if len(value) <= _SMALL else (id(value[0]), id(value[-1])))
    if isinstance(value, dict):
        return ("dict", len(value), tuple((k, id(v)) for k, v in value.items()) if len(value) <= _SMALL else None)
    if isinstance(value, (set, bytearray)):
        return (type(value).__name__, len(value), hash(frozenset(value)) if isinstance(value, set) and len(value) <= _SMALL else None)
    if isinstance(value, np.ndarray):
        return ("array", value.shape, value.tobytes()) if value.size <= 4096 else None
    if isinstance(value, (types.ModuleType, type, types.FunctionType, types.BuiltinFunctionType, types.MethodType)):
        return None
    module = type(value).__module__ or ""
    if module.startswith(("torch", "numpy", "sympy", "IPython", "builtins")):
        return None
    attributes = getattr(value, "__dict__", None)
    if isinstance(attributes, dict) and len(attributes) <= 100:
        return ("object", tuple((k, id(v)) for k, v in attributes.items()))
    return None


def _copy(value: Any) -> Any:
    if isinstance(value, list):
        return list(value)
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, (set, bytearray)):
        return type(value)(value)
    if isinstance(value, np.ndarray):
        return value.copy()
    return None


def _put_back(value: Any, saved: Any) -> None:
    if isinstance(value, (list, bytearray)):
        value[:] = saved
    elif isinstance(value, (dict, set)):
        value.clear()
        value.update(saved)
    elif isinstance(value, np.ndarray):
        np.copyto(value, saved)


class NamespaceWatch:
    """Plain Python objects of the namespace: changed by the extra runs → restored, or named."""

    def __init__(self, namespace: Mapping[str, Any]) -> None:
        self._namespace = namespace
        self._before = self._take()
        self._after: dict[str, Any] = {}
        self._copies: dict[str, Any] = {}

    def _take(self) -> dict[str, Any]:
        out = {}
        for name, value in list(self._namespace.items()):
            if name.startswith("_") or name in _SKIP:
                continue
            fp = _fingerprint(value)
            if fp is not None:
                out[name] = fp
        return out

    def after_first(self) -> None:
        self._after = self._take()
        for name, fp in self._after.items():
            if self._before.get(name) != fp:
                copy = _copy(self._namespace[name])
                if copy is not None:
                    self._copies[name] = copy

    def settle(self, runs: int) -> list[str]:
        """Put back what can be put back; one note per object the extra runs changed."""
        if runs <= 1:
            return []
        notes = []
        now = self._take()
        for name, fp in now.items():
            if self._after.get(name, fp) == fp:
                continue
            value = self._namespace[name]
            if name in self._copies:
                _put_back(value, self._copies[name])
                notes.append(f"the cell changes `{name}` each time it runs; it ran {runs} times, and `{name}` was put back as one run leaves it")
            else:
                notes.append(f"the cell ran {runs} times and changed `{name}` each time (it cannot be put back)")
        return notes
