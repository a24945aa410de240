"""Exact numbers, the one-sentence refusal, and the budgets every symbolic trace spends from."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy

__all__ = ["SymbolicUnsupported", "Budget", "number", "to_float", "OPERATION_BUDGET", "TIME_BUDGET"]

#: most scalar operations one trace may perform before it gives up
OPERATION_BUDGET = 20_000
#: seconds one cell's symbolic row may take (replay, differentiation, evaluation) before it is skipped
TIME_BUDGET = 1.0


class SymbolicUnsupported(Exception):
    """The cell did something symbolic differentiation cannot follow (one sentence)."""


@dataclass
class Budget:
    """Scalar operations and wall-clock time left to one symbolic trace."""

    operations: int = OPERATION_BUDGET
    seconds: float = TIME_BUDGET
    spent: int = 0
    start: float = field(default_factory=time.perf_counter)

    def spend(self, n: int) -> None:
        self.spent += max(1, int(n))
        if self.spent > self.operations:
            raise SymbolicUnsupported(
                f"the cell performs more than {self.operations:,} scalar operations, too many for exact symbolic differentiation"
            )
        self.check_time()

    def check_time(self, doing: str = "following the cell") -> None:
        if time.perf_counter() - self.start > self.seconds:
            raise SymbolicUnsupported(
                f"SymPy took more than {self.seconds:g} s {doing}, the symbolic row's time budget per cell, so it is skipped"
            )


def number(value: Any) -> sympy.Expr:
    """A Python/NumPy number as SymPy: short decimals exact (0.1 -> 1/10), long ones as Floats."""
    sympy_name = getattr(value, "sympy_name", None)
    if sympy_name is not None:  # functions.Constant: pi, e
        return getattr(sympy, sympy_name)
    if isinstance(value, (bool, np.bool_)):
        return sympy.Integer(int(value))
    if isinstance(value, (int, np.integer)):
        return sympy.Integer(int(value))
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if not math.isfinite(f):
            return sympy.nan if math.isnan(f) else (sympy.oo if f > 0 else -sympy.oo)
        if f in _CONSTANTS:  # math.pi, math.e: a constant passed through a tensor is still the constant
            return _CONSTANTS[f]
        if f == int(f) and abs(f) < 2**53:
            return sympy.Integer(int(f))
        text = repr(f)
        digits = text.split("e")[0].replace("-", "").replace(".", "").strip("0")
        return sympy.Rational(text) if len(digits) <= 8 else sympy.Float(f, 17)
    if isinstance(value, (complex, np.complexfloating)):
        raise SymbolicUnsupported("the cell uses a complex number, and f must be real")
    if isinstance(value, sympy.Basic):
        return value
    raise SymbolicUnsupported(f"the cell mixes the variables with a {type(value).__name__}, which has no symbolic form")


_CONSTANTS = {math.pi: sympy.pi, math.e: sympy.E, -math.pi: -sympy.pi, math.pi / 2: sympy.pi / 2, 2 * math.pi: 2 * sympy.pi}


def to_float(value: sympy.Expr) -> float:
    """An exact SymPy value as the nearest float (nan for undefined, ±inf for infinities)."""
    if value.is_Number and value.is_finite:
        return float(value)
    if value.has(sympy.zoo) or value is sympy.nan or value.has(sympy.nan):
        return math.nan
    number_ = sympy.N(value, 30)
    if number_ is sympy.oo:
        return math.inf
    if number_ is -sympy.oo:
        return -math.inf
    try:
        return float(number_)
    except TypeError:
        return math.nan
