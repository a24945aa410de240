"""The gradient engine behind ``%%gradient``: one isolated evaluation of f, one module per
method, the comparison, the diagnosis and the report.

``autodiff_magics.gradient`` is both this package and the function :func:`gradient`: the
package is callable, so ``autodiff_magics.gradient("sin(2*x)", x=3.5)`` works however it was
imported.

Parts: :mod:`.point` (the variables as fresh tensors), :mod:`.evaluation` (the one place that
runs the cell), :mod:`.methods` (symbolic, autograd, central/forward, directional, expect,
points), :mod:`.comparison` (tolerances and verdict), :mod:`.diagnosis` (rules that explain a
disagreement) and :mod:`.report` (:class:`GradientReport`).
"""

from __future__ import annotations

import sys
import types
from typing import Any

from .check import gradient
from .report import METHODS, Disagreement, GradientReport, MethodResult, Variable

__all__ = ["METHODS", "Disagreement", "GradientReport", "MethodResult", "Variable", "gradient"]


class _CallablePackage(types.ModuleType):
    """``autodiff_magics.gradient(...)`` calls :func:`gradient` even where the attribute is the package."""

    def __call__(self, f: Any, /, *args: Any, **kwargs: Any) -> GradientReport:
        if isinstance(f, str) and kwargs.get("namespace") is None:
            kwargs["namespace"] = sys._getframe(1).f_globals
        return gradient(f, *args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
