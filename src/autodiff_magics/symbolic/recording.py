"""The recorder: a ``TorchDispatchMode`` that writes down every ATen operator a real run calls.

Under :func:`record_operators`, f runs on real tensors at the point exactly as it would anyway
(branches on values, ``.item()``, custom ``autograd.Function`` forwards all behave as in the real
run: the mode sees the operators below autograd, whatever Python code called them). Each call
becomes an :class:`Event`: the operator, its arguments bound to the names of its schema (defaults
filled in), and every tensor replaced by a :class:`TensorRef` — which storage it lives in, where
(offset, shape, strides) and a copy of its values at that moment. Views therefore need no rule
when the record is replayed: a view reads the same storage positions as its base.

The recorder never changes what the run computes: it calls each operator itself and returns its
result untouched; when the tensors grow past its budget it stops recording and says why.

    >>> import torch
    >>> x = torch.tensor([1.0, 2.0], dtype=torch.float64)
    >>> with record_operators({"x": x}) as rec:
    ...     y = (x * 3).sum()
    >>> [str(e.op) for e in rec.events], rec.finish(y) is rec
    (['aten.mul.Tensor', 'aten.sum.default'], True)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = ["record_operators", "Record", "Event", "TensorRef", "RECORD_ELEMENTS"]

#: most tensor elements a record copies before it stops recording (the symbolic row's scale)
RECORD_ELEMENTS = 200_000


@dataclass
class TensorRef:
    """A tensor as the record saw it: storage number, layout within it, dtype, values then."""

    storage: int
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    dtype: torch.dtype
    value: torch.Tensor | None  # a detached copy at the time of the call (None for outputs of non-float dtype)

    @property
    def floating(self) -> bool:
        return self.dtype.is_floating_point


@dataclass
class Event:
    """One operator call: ``op(**args) -> outputs`` (tensors as :class:`TensorRef`)."""

    op: Any  # torch._ops.OpOverload
    args: dict[str, Any]
    outputs: list[Any]
    grad_fns: list[Any] = field(default_factory=list)  # per output: its autograd node after the call


class Record(TorchDispatchMode):
    """The recorder itself (use :func:`record_operators`); read ``events`` after the run."""

    def __init__(self, variables: Mapping[str, torch.Tensor] | None = None, max_elements: int = RECORD_ELEMENTS) -> None:
        super().__init__()
        self.events: list[Event] = []
        self.variables: dict[str, TensorRef] = {}
        self.output: TensorRef | None = None
        self.stopped: str | None = None  # why recording stopped, if it did
        self._storages: dict[tuple[int, int], int] = {}
        self._alive: list[Any] = []  # storages kept alive so that no address is reused during the run
        self._elements = 0
        self._max = max_elements
        self._pending: list[tuple[Event, list[Any]]] = []
        self._given = dict(variables or {})
        # copies of values already taken, by layout and version, for the storages the run itself
        # made (outputs) and the variables: an operator's inputs are mostly earlier outputs
        self._copies: dict[tuple[Any, ...], tuple[int, torch.Tensor]] = {}
        self._own: set[int] = set()

    # -- the mode ---------------------------------------------------------------------------------
    def __enter__(self) -> Record:
        try:
            for name, t in self._given.items():
                self.variables[name] = self._ref(t, copy=True, own=True)
        except Exception as e:  # noqa: BLE001 - a variable we cannot follow stops the record, not the run
            self._stop(f"the variables cannot be recorded ({type(e).__name__}: {e})")
        return super().__enter__()

    def __exit__(self, *exc: Any) -> None:
        super().__exit__(*exc)
        self._settle()

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        if self.stopped is not None:
            return func(*args, **kwargs)
        self._settle()
        try:
            bound = self._bind(func, args, kwargs)
        except Exception as e:  # noqa: BLE001
            self._stop(str(e) if isinstance(e, _TooLarge) else f"{func} could not be recorded ({type(e).__name__}: {e})")
            return func(*args, **kwargs)
        out = func(*args, **kwargs)
        if func._schema.is_mutable:
            self._copies.clear()  # an operator that writes: no copy taken before it is reused after it
        if self.stopped is None:
            try:
                outputs = [self._convert(o, copy=True, own=True) for o in (out if isinstance(out, (tuple, list)) else (out,))]
                event = Event(func, bound, outputs)
                self.events.append(event)
                tensors = [o for o in (out if isinstance(out, (tuple, list)) else (out,))]
                self._pending.append((event, tensors))
            except Exception as e:  # noqa: BLE001
                self._stop(str(e) if isinstance(e, _TooLarge) else f"the outputs of {func} could not be recorded ({type(e).__name__}: {e})")
        return out

    # -- what f returned ----------------------------------------------------------------------------
    def finish(self, output: Any) -> Record:
        """Name f's value (a one-element floating tensor produced in the run); returns the record."""
        self._settle()
        if isinstance(output, torch.Tensor) and self.stopped is None:
            try:
                self.output = self._ref(output, copy=True)
            except Exception as e:  # noqa: BLE001
                self._stop(f"f's value cannot be recorded ({type(e).__name__}: {e})")
        return self

    # -- helpers ------------------------------------------------------------------------------------
    def _stop(self, why: str) -> None:
        self.stopped = why
        self.events.clear()
        self._pending.clear()
        self._alive.clear()

    def _settle(self) -> None:
        """Read the autograd nodes of the previous call's outputs (autograd sets them after the call)."""
        for event, tensors in self._pending:
            event.grad_fns = [getattr(t, "grad_fn", None) if isinstance(t, torch.Tensor) else None for t in tensors]
        self._pending.clear()

    def _bind(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        bound: dict[str, Any] = {}
        for k, (name, kwarg_only, has_default, default) in enumerate(_arguments(func)):
            if k < len(args) and not kwarg_only:
                value = args[k]
            elif name in kwargs:
                value = kwargs[name]
            elif has_default:
                value = default
            else:
                value = None
            bound[name] = self._convert(value, copy=True)
        return bound

    def _convert(self, value: Any, copy: bool, own: bool = False) -> Any:
        if isinstance(value, torch.Tensor):
            return self._ref(value, copy, own)
        if isinstance(value, (list, tuple)) and any(isinstance(v, torch.Tensor) for v in value):
            return [self._convert(v, copy, own) for v in value]
        return value

    def _ref(self, t: torch.Tensor, copy: bool, own: bool = False) -> TensorRef:
        if t.layout is not _STRIDED or t.is_complex() or t.is_meta:
            raise ValueError(f"a {t.layout} {t.dtype} tensor on {t.device} has no symbolic form")
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        key = (ptr, storage.nbytes()) if ptr else (id(storage), -1)
        number = self._storages.get(key)
        if number is None:
            number = self._storages[key] = len(self._storages)
            self._alive.append(storage)
        n = t.numel()
        self._elements += n
        if self._elements > self._max:
            raise _TooLarge(f"the run's tensors hold more than {self._max:,} elements, too many to follow symbolically")
        if own:
            self._own.add(number)
        offset, shape, stride = t.storage_offset(), tuple(t.shape), tuple(t.stride())
        value = self._copy(t, (number, offset, shape, stride, t.dtype)) if copy else None
        return TensorRef(number, offset, shape, stride, t.dtype, value)

    def _copy(self, t: torch.Tensor, key: tuple[Any, ...]) -> torch.Tensor:
        """A copy of t's values now: the one taken earlier when nothing can have written t since
        (a storage the run made, the same version, no writing operator in between), else a new one.
        A user's tensor always gets a new one (BatchNorm writes running statistics unannounced)."""
        if key[0] not in self._own:
            return t.detach().clone()
        try:
            version = t._version
        except RuntimeError:  # an inference tensor keeps no version
            return t.detach().clone()
        held = self._copies.get(key)
        if held is not None and held[0] == version:
            return held[1]
        value = t.detach().clone()
        self._copies[key] = (version, value)
        return value


_STRIDED = torch.strided


class _TooLarge(ValueError):
    pass


_ARGUMENTS: dict[Any, tuple[tuple[str, bool, bool, Any], ...]] = {}


def _arguments(func: Any) -> tuple[tuple[str, bool, bool, Any], ...]:
    """(name, keyword-only, has a default, the default) of each argument of the operator's schema."""
    found = _ARGUMENTS.get(func)
    if found is None:
        found = _ARGUMENTS[func] = tuple(
            (a.name, a.kwarg_only, a.has_default_value(), a.default_value if a.has_default_value() else None) for a in func._schema.arguments
        )
    return found


def record_operators(variables: Mapping[str, torch.Tensor] | None = None, *, max_elements: int = RECORD_ELEMENTS) -> Record:
    """A context manager recording the ATen operators of the run inside it.

    ``variables`` are the tensors the symbolic row differentiates by (the leaves at the point);
    call ``rec.finish(f_value)`` after the run, then
    ``trace_and_differentiate(f, points, record=rec)`` replays the record on SymPy symbols."""
    return Record(variables, max_elements)
