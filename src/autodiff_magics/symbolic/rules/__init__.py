"""One rule per core ATen operator: ``rule(call) -> expressions of its outputs``.

A rule reads its operator's arguments by their schema names (``call["self"]``, ``call["beta"]``;
defaults are already filled in), gets floating tensors as NumPy object arrays of SymPy
expressions and everything else as it was recorded (integer tensors and masks as real tensors),
and returns one object array per output (``None`` for outputs that are not floating). Families
live in their own modules: :mod:`.elementwise`, :mod:`.reductions`, :mod:`.movement` (views'
copies, indexing, padding: element moves found by running the operator on tagged inputs),
:mod:`.linalg`, :mod:`.linear` (convolutions and other operators affine in their inputs),
:mod:`.pooling`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import sympy
import torch

from ..exact import SymbolicUnsupported, number

__all__ = ["RULES", "Call", "Unavailable", "single_thread", "as_objects", "is_view", "register", "apply", "real_array"]

Rule = Callable[["Call"], Any]

#: "aten.add" (every overload) or "aten.add.Tensor" (one overload) -> rule
RULES: dict[str, Rule] = {}


def register(*names: str) -> Callable[[Rule], Rule]:
    def deco(rule: Rule) -> Rule:
        for n in names:
            RULES[n if n.startswith(("aten.", "prims.")) else f"aten.{n}"] = rule
        return rule

    return deco


class Call:
    """One recorded call as a rule sees it."""

    def __init__(self, op: Any, args: dict[str, Any], replay: Any) -> None:
        self.op = op
        self.args = args
        self.replay = replay
        self._cache: dict[str, Any] = {}

    def _raw(self, name: str) -> Any:
        if "." in name:
            base, k = name.rsplit(".", 1)
            return self.args[base][int(k)]
        return self.args[name]

    def __getitem__(self, name: str) -> Any:
        if name not in self._cache:
            self._cache[name] = self._convert(self._raw(name))
        return self._cache[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self[name] if name in self.args else default

    def _convert(self, v: Any) -> Any:
        from ..recording import TensorRef

        if isinstance(v, TensorRef):
            return self.replay.read(v) if v.floating else v.value
        if isinstance(v, list):
            return [self._convert(x) for x in v]
        return v

    def real(self, name: str) -> Any:
        """The argument's recorded value (a real tensor for tensors)."""
        from ..recording import TensorRef

        v = self._raw(name)
        if isinstance(v, TensorRef):
            return v.value
        if isinstance(v, list):
            return [x.value if isinstance(x, TensorRef) else x for x in v]
        return v

    def spend(self, n: int) -> None:
        self.replay.budget.spend(n)


class Unavailable:
    """An output a rule cannot write (singular vectors beside singular values): reading it says why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def as_objects(value: Any) -> np.ndarray:
    """Any operand (object array, tensor, number) as a NumPy object array of SymPy expressions."""
    if isinstance(value, np.ndarray) and value.dtype == object:
        return value
    if isinstance(value, torch.Tensor):
        if value.is_complex():
            raise SymbolicUnsupported("the cell uses a complex tensor, and f must be real")
        flat = value.detach().reshape(-1).tolist()
        out = np.empty(len(flat), dtype=object)
        for k, v in enumerate(flat):
            out[k] = number(v)
        return out.reshape(tuple(value.shape))
    if isinstance(value, np.ndarray):
        return as_objects(torch.from_numpy(np.ascontiguousarray(value)))
    out = np.empty((), dtype=object)
    out[()] = number(value) if not isinstance(value, sympy.Basic) else value
    return out


def real_array(value: Any) -> np.ndarray:
    """A recorded operand's real values as a float64 NumPy array (numbers broadcast)."""
    if isinstance(value, torch.Tensor):
        return value.detach().to(torch.float64).numpy()
    return np.asarray(float(value), dtype=np.float64)


def apply(fn: Callable[..., Any], *operands: Any) -> np.ndarray:
    """fn elementwise over the operands, broadcast as torch does."""
    arrays = [as_objects(o) for o in operands]
    out = np.frompyfunc(fn, len(arrays), 1)(*arrays)
    return np.asarray(out, dtype=object) if isinstance(out, np.ndarray) else _scalar(out)


def _scalar(v: Any) -> np.ndarray:
    out = np.empty((), dtype=object)
    out[()] = v
    return out


class single_thread:
    """Tiny operators run many times (tags, basis tensors) on one thread: on a busy machine a
    thread pool's hand-offs cost a thousand times the work. Restores the user's setting."""

    def __enter__(self) -> None:
        self.threads = torch.get_num_threads()
        if self.threads != 1:
            torch.set_num_threads(1)

    def __exit__(self, *exc: Any) -> None:
        if self.threads != 1:
            torch.set_num_threads(self.threads)


def is_view(schema_return: Any) -> bool:
    """A return that aliases an input without writing it (select, view, expand, ...)."""
    info = schema_return.alias_info
    return info is not None and not info.is_write


from . import elementwise, linalg, linear, movement, pooling, random, reductions  # noqa: E402,F401  (they register their rules)
