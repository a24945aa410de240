"""What ``%%gradient`` returns: every method's row, the disagreements and the verdict, as plain data."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..report import Report

__all__ = ["METHODS", "MethodResult", "Disagreement", "Variable", "SymbolicSummary", "GradientReport"]

#: every method a report can hold, in the order the tables show them
METHODS = ("symbolic", "autograd", "central", "forward", "directional", "expect", "points")

@dataclass
class MethodResult:
    """One row of the comparison: a method's gradient (or why there is none) and its cost."""

    name: str
    status: str  # "ok" | "skipped" | "failed"
    reason: str | None = None
    gradient: dict[str, np.ndarray] | None = None
    error: dict[str, np.ndarray] | None = None  # estimated absolute error per component
    max_abs_error: float | None = None  # largest |this − reference|
    seconds: float | None = None
    evaluations: int | None = None
    step: float | None = None  # relative step (differences) or absolute step (directional)
    details: dict[str, Any] = field(default_factory=dict)
    #: differences: the round-off part of each component's bound (not in ``to_dict``)
    roundoff: dict[str, np.ndarray] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status}
        if self.status == "ok":
            if self.gradient is not None:
                out["gradient"] = {k: v.tolist() for k, v in self.gradient.items()}
            out["max_abs_error"] = self.max_abs_error
        else:
            out["reason"] = self.reason
        out["seconds"] = self.seconds
        if self.evaluations is not None:
            out["evaluations"] = self.evaluations
        if self.step is not None:
            out["step"] = self.step
        if self.details:
            out.update(self.details)
        return out


@dataclass
class Disagreement:
    """One component (or one direction) where a method and the reference differ."""

    method: str
    variable: str | None  # None for a direction of the directional check
    index: tuple[int, ...]
    value: float
    expected: float
    tolerance: float

    def label(self) -> str:
        if self.variable is None:
            return f"direction {self.index[0] + 1}"
        return self.variable + (f"[{', '.join(map(str, self.index))}]" if self.index else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "variable": self.variable,
            "index": list(self.index),
            "value": self.value,
            "expected": self.expected,
            "tolerance": self.tolerance,
        }


@dataclass
class Variable:
    """A variable as the report keeps it: its point (a host float64 copy) and notes."""

    name: str
    shape: tuple[int, ...]
    point: np.ndarray
    source: str
    dtype: str
    device: str

    @property
    def numel(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


class SymbolicSummary:
    """SymPy's formulas for the report, printed (as text and LaTeX) only when first shown.

    It keeps SymPy expressions, which are small immutable data (no tensors, no graph)."""

    def __init__(self, result: Any) -> None:
        self._result = result
        self.kinks: list[str] = list(result.kinks)

    def _print(self, exprs: dict[str, np.ndarray], how: Callable[[Any], str]) -> dict[str, np.ndarray]:
        return {n: strings(d, how) for n, d in exprs.items()}

    @functools.cached_property
    def expression(self) -> str:
        return self._result.text(self._result.expression)

    @functools.cached_property
    def latex(self) -> str:
        return self._result.latex(self._result.expression)

    @functools.cached_property
    def derivatives(self) -> dict[str, np.ndarray]:
        """Each partial derivative as text (object arrays shaped like the variables)."""
        return self._print(self._result.derivatives, self._result.text)

    @functools.cached_property
    def derivatives_latex(self) -> dict[str, np.ndarray]:
        return self._print(self._result.derivatives, self._result.latex)

    @functools.cached_property
    def exact_gradient(self) -> dict[str, np.ndarray]:
        """The gradient's exact values at the point, as text (``2*cos(7)``)."""
        return self._print(self._result.exact_values, self._result.text)

    @functools.cached_property
    def exact_value(self) -> str:
        return self._result.text(self._result.exact_value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "expression": self.expression,
            "latex": self.latex,
            "derivatives": {k: v.tolist() for k, v in self.derivatives.items()},
            "exact_gradient": {k: v.tolist() for k, v in self.exact_gradient.items()},
            "exact_value": self.exact_value,
        }


@dataclass
class GradientReport(Report):
    """What ``%%gradient`` found: the value, every method's gradient, the verdict and why."""

    _views = "gradient"

    source: str
    value: float
    variables: dict[str, Variable]
    reference: str
    methods: dict[str, MethodResult]
    agree: bool
    verdict: str
    explanations: list[str]
    disagreements: list[Disagreement]
    notes: list[str]
    dtype: str
    device: str
    symbolic: SymbolicSummary | None = None
    graph: Any = None  # GraphReport of the autograd run, with the gradient that flowed
    study: Any = None  # StepStudy, when asked for
    tolerance: str = ""
    #: the methods most likely wrong where they disagree (autograd when it is the odd one out)
    suspects: list[str] = field(default_factory=list)

    @property
    def gradient(self) -> dict[str, np.ndarray]:
        """The reference gradient, per variable (float64 arrays shaped like the variables)."""
        ref = self.methods.get(self.reference)
        return dict(ref.gradient) if ref is not None and ref.gradient is not None else {}

    def __repr__(self) -> str:
        return f"<GradientReport f={self.value!r} reference={self.reference} agree={self.agree}>"

    def to_dict(self) -> dict[str, Any]:
        """The public contract (see the README): plain JSON-ready data."""
        return {
            "value": self.value,
            "variables": {n: v.point.tolist() for n, v in self.variables.items()},
            "reference": self.reference,
            "gradient": {n: g.tolist() for n, g in self.gradient.items()},
            "methods": {n: m.to_dict() for n, m in self.methods.items()},
            "agree": self.agree,
            "verdict": self.verdict,
            "explanations": list(self.explanations),
            "disagreements": [d.to_dict() for d in self.disagreements],
            "symbolic": self.symbolic.to_dict() if self.symbolic is not None else None,
            "suspects": list(self.suspects),
            "notes": list(self.notes),
            "dtype": self.dtype,
            "device": self.device,
            "graph": self.graph.to_dict() if self.graph is not None else None,
        }



def strings(arr: np.ndarray, fmt: Callable[[Any], str]) -> np.ndarray:
    out = np.empty(arr.shape, dtype=object)
    for idx, expr in np.ndenumerate(arr):
        out[idx] = fmt(expr)
    return out
