"""What the symbolic row hands back: f and its gradient as exact SymPy expressions, and how they
were differentiated (piecewise-constant pieces held constant, kinks found at the point)."""

from __future__ import annotations

import functools
import math

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy

from .adjoints import gradient as sweep
from .adjoints import substitute
from .exact import Budget, SymbolicUnsupported, number, to_float

__all__ = ["SymbolicResult", "make_symbols", "exact_point", "differentiate", "find_kinks", "check_size", "TREE_BUDGET"]

_SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")

#: most nodes f's expression may have once written out as a tree (shared pieces counted each time)
TREE_BUDGET = 100_000


@dataclass
class SymbolicResult:
    """What SymPy found: f and its gradient as exact expressions and exact values at the point.

    ``annotations`` maps autograd nodes (``grad_fn`` objects of the recorded run) to the
    sub-expression their operator computed and its forward value, both as short text;
    ``notes`` says what the row assumed (a value read with ``.item()`` held constant, ...)."""

    expression: sympy.Expr
    symbols: dict[str, np.ndarray]  # name -> object array of Symbols shaped like the variable
    derivatives: dict[str, np.ndarray]  # name -> object array of derivative expressions
    gradient: dict[str, np.ndarray]  # name -> float64 values at the point
    exact_values: dict[str, np.ndarray]  # name -> object array of exact values at the point
    value: float
    exact_value: sympy.Expr
    kinks: list[str]  # non-differentiable pieces sitting exactly at the point
    annotations: Mapping[Any, tuple[str, str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def text(self, expr: sympy.Expr) -> str:
        """An expression with subscripted names (x₀), for plain text (printed once per expression:
        copies of a remembered result share the texts)."""
        texts = self.__dict__.setdefault("_texts", {})
        expr = sympy.sympify(expr)
        found = texts.get(expr)
        if found is None:
            found = texts[expr] = sympy.sstr(expr.xreplace(self._pretty_symbols()))
        return found

    def latex(self, expr: sympy.Expr) -> str:
        return sympy.latex(expr)

    def _pretty_symbols(self) -> dict[sympy.Symbol, sympy.Symbol]:
        cache = getattr(self, "_pretty", None)
        if cache is None:
            cache = pretty_symbols(self.symbols)
            self._pretty = cache
        return cache


def pretty_symbols(symbols: Mapping[str, np.ndarray]) -> dict[sympy.Symbol, sympy.Symbol]:
    """x_0 -> x₀ (and W_{0,1} -> W₀,₁) for every symbol of the variables."""
    out: dict[sympy.Symbol, sympy.Symbol] = {}
    for name, syms in symbols.items():
        for idx, s in np.ndenumerate(syms):
            out[s] = sympy.Symbol(_pretty_name(name, idx), real=True)
    return out


def _pretty_name(name: str, index: tuple[int, ...]) -> str:
    if not index:
        return name
    return name + ",".join(str(i).translate(_SUBSCRIPTS) for i in index)


def make_symbols(name: str, shape: tuple[int, ...]) -> np.ndarray:
    """Real SymPy symbols shaped like a variable: x -> x_0, x_1, ... (LaTeX x_{0})."""
    shape = tuple(shape)
    if math.prod(shape) > 4096:
        return _symbols.__wrapped__(name, shape)
    return _symbols(name, shape).copy()  # SymPy's symbols are immutable: made once per name and shape


@functools.lru_cache(maxsize=256)
def _symbols(name: str, shape: tuple[int, ...]) -> np.ndarray:
    out = np.empty(shape, dtype=object)
    for idx in np.ndindex(*shape):
        label = name if not idx else f"{name}_{{{','.join(map(str, idx))}}}" if len(idx) > 1 else f"{name}_{idx[0]}"
        out[idx] = sympy.Symbol(label, real=True)
    return out


def exact_point(values: np.ndarray) -> np.ndarray:
    """Point coordinates as exact SymPy numbers (the decimals the user typed, when short)."""
    out = np.empty(values.shape, dtype=object)
    for idx, v in np.ndenumerate(values):
        out[idx] = number(float(v))
    return out


#: up to this many variables SymPy's diff runs per variable; above, one reverse sweep (adjoints.py),
#: which is faster from the first variable on and gives the same canonical expressions
DIFF_ONE_BY_ONE = 0

#: pieces whose derivative is 0 wherever it exists (SymPy leaves d/dx floor(x) unevaluated)
_PIECEWISE_CONSTANT = (sympy.floor, sympy.ceiling, sympy.sign)


def differentiate(
    expr: sympy.Expr,
    symbols: Mapping[str, np.ndarray],
    substitution: Mapping[sympy.Symbol, sympy.Expr],
    budget: Budget,
    **extra: Any,
) -> SymbolicResult:
    """f's gradient, its exact values at the point, and the kinks there."""
    check_size(expr)
    # Mod and frac are x minus a step (SymPy leaves their derivatives unevaluated): differentiate that form
    work = expr.replace(sympy.Mod, lambda p, q: p - q * sympy.floor(p / q)) if expr.has(sympy.Mod) else expr
    work = work.replace(sympy.frac, lambda p: p - sympy.floor(p)) if work.has(sympy.frac) else work
    pieces = expr.atoms(*_PIECEWISE_CONSTANT, *_NONSMOOTH, sympy.Pow)
    steps = pieces if work is expr else work.atoms(*_PIECEWISE_CONSTANT)
    held = {node: sympy.Dummy("c") for node in steps if isinstance(node, _PIECEWISE_CONSTANT) and node.free_symbols}
    smooth = work.xreplace(held) if held else work
    back = {d: node for node, d in held.items()}
    memo: dict[sympy.Basic, sympy.Basic] = {}
    value_exact = substitute(expr, dict(substitution), memo)
    derivatives: dict[str, np.ndarray] = {}
    gradient: dict[str, np.ndarray] = {}
    exact_values: dict[str, np.ndarray] = {}
    free = smooth.free_symbols
    every = [s for syms in symbols.values() for s in syms.flat]
    swept = None
    if len(every) > DIFF_ONE_BY_ONE:
        swept = sweep(smooth, [s for s in every if s in free])
    for name, syms in symbols.items():
        d = np.empty(syms.shape, dtype=object)
        ev = np.empty(syms.shape, dtype=object)
        g = np.empty(syms.shape, dtype=np.float64)
        for idx, s in np.ndenumerate(syms):
            budget.check_time("differentiating f")
            if s not in free:
                d[idx] = sympy.Integer(0)
            else:
                d[idx] = (swept[s] if swept is not None else sympy.diff(smooth, s)).xreplace(back)
            ev[idx] = substitute(d[idx], substitution, memo)
            g[idx] = to_float(ev[idx])
        derivatives[name], exact_values[name], gradient[name] = d, ev, g
    budget.check_time("evaluating the gradient")
    return SymbolicResult(
        expression=expr,
        symbols=dict(symbols),
        derivatives=derivatives,
        gradient=gradient,
        exact_values=exact_values,
        value=to_float(value_exact),
        exact_value=value_exact,
        kinks=find_kinks(expr, substitution, pieces),
        **extra,
    )


def check_size(expr: sympy.Expr) -> None:
    """Refuse expressions whose written-out tree is huge (``y = y*y + y`` doubles it each line).

    SymPy shares repeated pieces, but printing, substituting and differentiating walk them once
    per occurrence; the tree size is counted here over the shared graph, without recursion."""
    sizes: dict[int, int] = {}
    stack: list[tuple[sympy.Basic, bool]] = [(expr, False)]
    while stack:
        node, ready = stack.pop()
        key = id(node)
        if key in sizes:
            continue
        if ready or not node.args:
            sizes[key] = 1 + sum(sizes[id(a)] for a in node.args)
            if sizes[key] > TREE_BUDGET:
                raise SymbolicUnsupported(
                    f"f's expression has more than {TREE_BUDGET:,} terms once written out "
                    "(the cell reuses intermediate results many times), too large for exact symbolic differentiation"
                )
            continue
        stack.append((node, True))
        stack.extend((a, False) for a in node.args if id(a) not in sizes)


_NONSMOOTH = (sympy.Abs, sympy.sign, sympy.Heaviside, sympy.Max, sympy.Min, sympy.floor, sympy.ceiling, sympy.Mod)


def find_kinks(expr: sympy.Expr, point: Mapping[sympy.Symbol, sympy.Expr], pieces: set[sympy.Basic] | None = None) -> list[str]:
    """The non-smooth pieces of f (abs, max, ...) that sit exactly on their kink at the point."""
    kinks: list[str] = []
    for node in pieces if pieces is not None else expr.atoms(*_NONSMOOTH, sympy.Pow):
        if not isinstance(node, (*_NONSMOOTH, sympy.Pow)):
            continue
        if not node.free_symbols:
            continue
        if isinstance(node, sympy.Pow) and not _root(node):
            continue
        args = [a.xreplace(point) for a in node.args]
        try:
            if isinstance(node, (sympy.Max, sympy.Min)):
                vals = [sympy.N(a, 30) for a in args]
                top = max(vals) if isinstance(node, sympy.Max) else min(vals)
                hit = sum(1 for v in vals if abs(v - top) <= abs(top) * sympy.Float(1e-25) + sympy.Float(1e-25)) > 1
            elif isinstance(node, (sympy.floor, sympy.ceiling)):
                v = sympy.N(args[0], 30)
                hit = abs(v - round(v)) < 1e-25
            elif isinstance(node, sympy.Pow):  # sqrt(u) at u = 0: not differentiable there
                hit = abs(sympy.N(args[0], 30)) < 1e-25
            elif isinstance(node, sympy.Mod):
                v = sympy.N(args[0] / args[1], 30)
                hit = abs(v - round(v)) < 1e-25
            else:
                hit = abs(sympy.N(args[0], 30)) < 1e-25
        except (TypeError, ValueError):  # a value SymPy cannot order (nan, zoo): not a kink we can name
            continue
        if hit:
            kinks.append(sympy.sstr(node))
    return sorted(kinks)


def _root(node: sympy.Pow) -> bool:
    """A fractional power below 1 (sqrt, cube root): its derivative is infinite where the base is 0."""
    e = node.exp
    return bool(e.is_Number and not e.is_integer and e < 1)
