"""Which cells can touch nothing but their own variables: read from the source, before any run.

The seed's ``3*x[0]*x[2] - 2*x[1]**2 + 5*x[2]**3``, ``(x**2).sum()`` or ``sin(2*x) + y`` compute
with the check's variables, numbers and the generic math names, through operators, indexing and
a fixed set of tensor functions that neither draw random numbers, nor print, nor write in place,
nor leave the graph, nor branch on a value. Such a cell cannot reach the user's namespace or
torch's generators, so the evaluation can skip what guards against those (saving and resetting
the generators for every run, watching the namespace's tensors for writes, silencing output,
the graph-cut watcher): on the lesson's cells that is most of the cost of the isolation. Any
other construct (a call to anything else, an attribute, a loop, a branch, an augmented
assignment, a name from the namespace) makes the cell *not pure*, and it runs fully guarded.

    >>> analyse("3*x[0]*x[2] - 2*x[1]**2").free
    frozenset({'x'})
    >>> analyse("print(x)\\nx").pure, analyse("y = x.sum()\\ny * 2").pure
    (False, True)
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

__all__ = ["Purity", "analyse", "PURE_METHODS", "point_key"]

#: tensor methods (and ``torch.<name>`` functions) that compute a new value from their operands
#: only: no random draw, no in-place write, no copy out of the graph (``.item()``, ``.detach()``,
#: ``.numpy()`` and ``.tolist()`` are not here), no output
PURE_METHODS = frozenset(
    """sum mean prod exp log log1p expm1 log2 log10 sin cos tan asin acos atan sinh cosh tanh
    asinh acosh atanh sigmoid sqrt rsqrt abs square pow neg reciprocal sign erf relu dot matmul mm
    mv outer norm t reshape view flatten squeeze unsqueeze transpose permute amax amin clamp
    maximum minimum atan2 hypot cumsum logsumexp softmax log_softmax diag trace diagonal""".split()
)

#: attributes read without a call that are views of the operand
_PURE_ATTRIBUTES = frozenset({"T", "mT"})

_OPERATORS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.MatMult)


@dataclass(frozen=True)
class Purity:
    """What the source alone says: ``pure`` when every construct is one of the safe ones above,
    ``free`` the names it reads that it does not assign first, ``modules`` the free names it uses
    only as ``name.function`` with a function of :data:`PURE_METHODS` (``torch.sin``)."""

    pure: bool
    free: frozenset[str] = frozenset()
    modules: frozenset[str] = frozenset()


def point_key(source: str, points: Any, limit: int = 4096) -> Hashable | None:
    """What a pure cell's run depends on: its source and each variable's shape, dtype, device and
    exact values (None when the points hold more than ``limit`` elements in all). Equal keys run
    the same operators on the same values, so what such a run computed can be remembered by it."""
    import torch

    parts, total = [], 0
    for name, t in points.items():
        total += t.numel()
        if total > limit:
            return None
        t = t.detach()
        raw = t.cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
        parts.append((name, tuple(t.shape), t.dtype, str(t.device), raw))
    return source, tuple(parts)


@functools.lru_cache(maxsize=256)
def analyse(source: str) -> Purity:
    """The :class:`Purity` of a cell's source (not pure when it does not parse)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return Purity(False)
    walker = _Walker()
    try:
        for statement in tree.body:
            walker.statement(statement)
    except _Impure:
        return Purity(False)
    modules = frozenset(walker.modules - walker.plain)
    return Purity(True, frozenset(walker.free | modules), modules)


class _Impure(Exception):
    pass


class _Walker:
    def __init__(self) -> None:
        self.assigned: set[str] = set()
        self.free: set[str] = set()
        self.modules: set[str] = set()  # names used as `name.pure_function(...)`
        self.plain: set[str] = set()  # names used as values

    def statement(self, node: ast.stmt) -> None:
        if isinstance(node, ast.Expr):
            self.expr(node.value)
        elif isinstance(node, ast.Assign):
            self.expr(node.value)
            for target in node.targets:
                self.target(target)
        else:
            raise _Impure

    def target(self, node: ast.expr) -> None:
        if isinstance(node, ast.Name):
            self.assigned.add(node.id)
        elif isinstance(node, (ast.Tuple, ast.List)):
            for element in node.elts:
                self.target(element)
        else:  # x[0] = ..., x.a = ...: a write into an object
            raise _Impure

    def expr(self, node: ast.expr | None) -> None:
        if node is None:
            return
        if isinstance(node, ast.Constant):
            if not isinstance(node.value, (int, float, complex)) and node.value is not None:
                raise _Impure
        elif isinstance(node, ast.Name):
            self.name(node.id)
        elif isinstance(node, ast.BinOp) and isinstance(node.op, _OPERATORS):
            self.expr(node.left)
            self.expr(node.right)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            self.expr(node.operand)
        elif isinstance(node, ast.Compare) and len(node.ops) == 1:  # a chained one asks bool() of a tensor
            self.expr(node.left)
            self.expr(node.comparators[0])
        elif isinstance(node, ast.Subscript):
            self.expr(node.value)
            self.expr(node.slice)
        elif isinstance(node, ast.Slice):
            self.expr(node.lower), self.expr(node.upper), self.expr(node.step)
        elif isinstance(node, (ast.Tuple, ast.List)):
            for element in node.elts:
                self.expr(element)
        elif isinstance(node, ast.Attribute) and node.attr in _PURE_ATTRIBUTES:
            self.expr(node.value)
        elif isinstance(node, ast.Call):
            self.call(node)
        else:
            raise _Impure

    def call(self, node: ast.Call) -> None:
        if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
            raise _Impure
        func = node.func
        if isinstance(func, ast.Name):
            from .functions import NAMES

            if func.id not in NAMES or func.id in self.assigned:  # print(x), f(x): anything
                raise _Impure
            self.name(func.id)  # the evaluation checks that it is still the generic one
        elif isinstance(func, ast.Attribute) and func.attr in PURE_METHODS:
            if isinstance(func.value, ast.Name) and func.value.id not in self.assigned:
                self.modules.add(func.value.id)  # torch.sin(x), or x.sum() on a variable
            else:
                self.expr(func.value)
        else:
            raise _Impure
        for a in node.args:
            self.expr(a)
        for k in node.keywords:
            self.expr(k.value)

    def name(self, name: str) -> None:
        if name not in self.assigned:
            self.free.add(name)
            self.plain.add(name)
