"""The replay: a record's operators run again on object arrays of SymPy expressions.

Every storage of the recorded run gets an object array of expressions (the variables' storages
start as their symbols); each event reads its floating inputs from those arrays, by the exact
storage positions the real tensors had, hands them to the operator's rule (``rules``), and writes
the results back where the real outputs lived. Views therefore need no rule, in-place operators
write through every view of their storage, and anything never written (constants, masks, indices)
is read from the copy of its values the record took. An operator without a rule runs through
PyTorch's own decomposition of it, recorded and replayed the same way; an operator with neither is
one sentence.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import sympy
import torch

from .exact import Budget, SymbolicUnsupported
from .recording import Event, Record, TensorRef
from .rules import RULES, Call, Unavailable, as_objects, is_view, single_thread

__all__ = ["Replay"]

#: decompositions that are numerical approximations, not the function (Bessel, gamma, ...), or prims
_INEXACT = ("i0", "i0e", "i1", "i1e", "special_i0e", "special_i1", "special_i1e", "special_ndtri", "special_log_ndtr",
            "special_erfcx", "erfinv", "lgamma", "digamma", "polygamma", "mvlgamma", "special_bessel", "special_modified_bessel",
            "special_airy", "special_spherical", "special_scaled", "special_chebyshev", "special_hermite", "special_laguerre",
            "special_legendre", "special_shifted", "special_zeta", "igamma", "rand", "randn", "normal", "bernoulli",
            "uniform", "exponential", "geometric", "cauchy", "log_normal", "random", "multinomial", "rrelu", "dropout",
            "native_dropout")

_MAX_DEPTH = 12


class Replay:
    """Replays one record on symbols (``inputs``: variable refs -> their object arrays)."""

    def __init__(self, budget: Budget, point: Mapping[sympy.Symbol, sympy.Expr], depth: int = 0) -> None:
        self.budget = budget
        self.point = point  # the variables' exact values, for rules that check themselves there
        self.depth = depth
        self.storages: dict[int, np.ndarray] = {}
        self.itemsize: dict[int, int] = {}
        self.known: dict[int, np.ndarray] = {}  # storage -> which positions hold written expressions
        self.notes: list[str] = []
        self.outputs: list[tuple[Event, list[np.ndarray | None]]] = []  # per event: what its outputs became
        self.current_outputs: list[Any] = []
        self.unavailable: dict[int, str] = {}  # storage -> why its values have no symbolic form

    # -- storages ---------------------------------------------------------------------------------
    def read(self, ref: TensorRef) -> np.ndarray:
        """The expressions of a floating tensor (constants where nothing symbolic was written)."""
        if ref.storage in self.unavailable:
            raise SymbolicUnsupported(self.unavailable[ref.storage])
        arr = self.storages.get(ref.storage)
        if arr is None:
            return _constants(ref)
        self._check_itemsize(ref)
        idx, size = _layout(ref.offset, ref.shape, ref.stride)
        if size > arr.size:
            arr = self._grow(ref.storage, size)
        out = arr[idx].reshape(ref.shape)
        known = self.known[ref.storage][idx]
        if not known.all():
            out = out.copy()
            missing = ~known.reshape(ref.shape)
            out[missing] = _constants(ref)[missing]
        return out

    def symbolic(self, ref: TensorRef) -> bool:
        """Whether anything symbolic was written where this tensor lives."""
        return ref.storage in self.storages

    def write(self, ref: TensorRef, values: Any) -> None:
        values = np.asarray(values, dtype=object)
        if values.shape != ref.shape:
            values = np.broadcast_to(values, ref.shape)
        idx, size = _layout(ref.offset, ref.shape, ref.stride)
        arr = self.storages.get(ref.storage)
        if arr is None:
            arr = self.storages[ref.storage] = np.full(size, None, dtype=object)
            self.known[ref.storage] = np.zeros(size, dtype=bool)
            self.itemsize[ref.storage] = ref.dtype.itemsize
        else:
            self._check_itemsize(ref)
            if size > arr.size:
                arr = self._grow(ref.storage, size)
        arr[idx] = values.reshape(-1)
        self.known[ref.storage][idx] = True

    def bind(self, ref: TensorRef, values: np.ndarray) -> None:
        self.write(ref, values)

    def _grow(self, key: int, size: int) -> np.ndarray:
        old = self.storages[key]
        new = np.full(size, None, dtype=object)
        new[: old.size] = old
        known = np.zeros(size, dtype=bool)
        known[: old.size] = self.known[key]
        self.storages[key], self.known[key] = new, known
        return new

    def _check_itemsize(self, ref: TensorRef) -> None:
        if self.itemsize.get(ref.storage, ref.dtype.itemsize) != ref.dtype.itemsize:
            raise SymbolicUnsupported("the cell reinterprets a tensor's memory as another dtype (.view(dtype)), which has no symbolic form")

    # -- events -----------------------------------------------------------------------------------
    def run(self, events: list[Event]) -> None:
        for event in events:
            self.budget.check_time()
            self.event(event)

    def event(self, event: Event) -> None:
        refs = [r for r in _refs(event.args)]
        name = event.op.name()
        if name == "aten::_local_scalar_dense":
            if refs and self.symbolic(refs[0]) and any(getattr(v, "free_symbols", None) for v in self.read(refs[0]).flat):
                note = ("the cell reads a value of the variables as a Python number (.item(), float(), math.*): "
                        "the symbolic row holds it constant there, as autograd does")
                if note not in self.notes:
                    self.notes.append(note)
            return
        if not any(r.floating and self.symbolic(r) for r in refs):
            return  # nothing symbolic flows in: the outputs are the constants the record copied
        if not any(isinstance(o, TensorRef) and o.floating for o in event.outputs):
            return  # masks, indices, shapes: read from the record when used
        rule, views = _plan(event.op)
        if all(v for v, o in zip(views, event.outputs) if isinstance(o, TensorRef) and o.floating):
            self.outputs.append((event, [self.read(o) if isinstance(o, TensorRef) and o.floating else None for o in event.outputs]))
            return  # a view: it reads its base's storage
        call = Call(event.op, event.args, self)
        self.current_outputs = event.outputs
        if rule is not None:
            results = rule(call)
        else:
            results = self.decompose(event, call)
        if not isinstance(results, (tuple, list)):
            results = (results,)
        written: list[np.ndarray | None] = []
        for o, value in zip(event.outputs, results):
            if isinstance(value, Unavailable):
                self.unavailable[o.storage] = value.reason
                written.append(None)
            elif isinstance(o, TensorRef) and o.floating and value is not None:
                self.budget.spend(int(np.prod(o.shape)) if o.shape else 1)
                self.write(o, value)
                value = np.asarray(value, dtype=object)
                written.append(value if value.shape == o.shape else np.broadcast_to(value, o.shape))
            else:
                written.append(None)
        self.outputs.append((event, written))

    def decompose(self, event: Event, call: Call) -> Any:
        """The operator through PyTorch's decomposition of it, recorded and replayed in turn."""
        op = event.op
        base = op.name().split("::")[-1]
        fn = _decomposition(op)
        if fn is None or self.depth >= _MAX_DEPTH or any(base.startswith(p) for p in _INEXACT) or op.namespace == "prims":
            raise SymbolicUnsupported(f"{_pretty(op)} has no symbolic counterpart here (no SymPy rule, no exact decomposition)")
        positional, keywords, inputs = _real_arguments(op, event.args)
        with Record(inputs) as sub, _quiet(), single_thread():
            out = fn(*positional, **keywords)
        if sub.stopped:
            raise SymbolicUnsupported(sub.stopped)
        outs = out if isinstance(out, (tuple, list)) else (out,)
        out_refs = [sub._ref(t, copy=True) if isinstance(t, torch.Tensor) else None for t in outs]
        inner = Replay(self.budget, self.point, self.depth + 1)
        for name, ref in sub.variables.items():
            inner.bind(ref, call[name] if ref.floating else as_objects(call.real(name)))
        inner.run(sub.events)
        self.notes.extend(n for n in inner.notes if n not in self.notes)
        return [inner.read(r) if r is not None and r.floating else None for r in out_refs]


@functools.lru_cache(maxsize=None)
def _plan(op: Any) -> tuple[Any, tuple[bool, ...]]:
    """An operator's rule (None: decompose it) and which of its returns are views."""
    packet = str(op.overloadpacket)
    rule = RULES.get(str(op)) or RULES.get(packet)
    if rule is None and packet.endswith("_") and not packet.endswith("__"):
        rule = RULES.get(packet[:-1])  # add_ is add written into self
    return rule, tuple(is_view(r) for r in op._schema.returns)


def _refs(args: Mapping[str, Any]) -> list[TensorRef]:
    out: list[TensorRef] = []
    for v in args.values():
        if isinstance(v, TensorRef):
            out.append(v)
        elif isinstance(v, list):
            out.extend(x for x in v if isinstance(x, TensorRef))
    return out


@functools.lru_cache(maxsize=4096)
def _layout(offset: int, shape: tuple[int, ...], stride: tuple[int, ...]) -> tuple[np.ndarray, int]:
    """The storage positions of a tensor's elements (offset + Σ index·stride), flat, and the
    storage size they need."""
    idx = np.full(shape, offset, dtype=np.int64)
    for d, (n, s) in enumerate(zip(shape, stride)):
        dims = [1] * len(shape)
        dims[d] = n
        idx = idx + (np.arange(n, dtype=np.int64) * s).reshape(dims)
    flat = idx.reshape(-1)
    flat.setflags(write=False)
    return flat, (int(flat.max()) + 1 if flat.size else 0)


def _constants(ref: TensorRef) -> np.ndarray:
    if ref.value is None:
        raise SymbolicUnsupported("the record lost the values of a constant tensor")
    return as_objects(ref.value)


def _decomposition(op: Any) -> Any:
    from torch._decomp import core_aten_decompositions, decomposition_table

    global _CORE
    if _CORE is None:
        _CORE = core_aten_decompositions()
    return _CORE.get(op) or decomposition_table.get(op)


_CORE: Any = None


def _real_arguments(op: Any, args: Mapping[str, Any]) -> tuple[list[Any], dict[str, Any], dict[str, torch.Tensor]]:
    """The event's arguments as real tensors again (copies), and which of them are inputs."""
    positional: list[Any] = []
    keywords: dict[str, Any] = {}
    inputs: dict[str, torch.Tensor] = {}

    def real(name: str, v: Any) -> Any:
        if isinstance(v, TensorRef):
            t = v.value.clone()
            inputs[name] = t
            return t
        if isinstance(v, list):
            return [real(f"{name}.{k}", x) for k, x in enumerate(v)]
        return v

    for arg in op._schema.arguments:
        value = real(arg.name, args[arg.name])
        if arg.kwarg_only:
            keywords[arg.name] = value
        else:
            positional.append(value)
    return positional, keywords, inputs


@contextlib.contextmanager
def _quiet() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _pretty(op: Any) -> str:
    return str(op.overloadpacket) if op.overloadpacket is not None else str(op)

