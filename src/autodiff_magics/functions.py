"""Generic math names for ``%%gradient`` cells: one ``sin`` for tensors, arrays, numbers and SymPy.

Each function looks at its arguments and calls the matching library: torch for tensors, our
symbolic array (SymPy underneath) while tracing, SymPy for SymPy expressions, NumPy otherwise.
So a cell written once runs under autograd, finite differences and symbolic differentiation.

    >>> import torch
    >>> from autodiff_magics.functions import NAMES
    >>> NAMES["sin"](torch.tensor([0.0])), float(NAMES["sin"](0.0))
    (tensor([0.]), 0.0)
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["NAMES", "Constant", "pi", "e"]


class Constant(float):
    """A float that SymPy reads as its exact constant (``pi`` -> ``sympy.pi``)."""

    sympy_name: str

    def __new__(cls, value: float, sympy_name: str) -> Constant:
        obj = super().__new__(cls, value)
        obj.sympy_name = sympy_name
        return obj

    def __reduce__(self):
        return (Constant, (float(self), self.sympy_name))


pi = Constant(math.pi, "pi")
e = Constant(math.e, "E")


def _kind(args: tuple[Any, ...]) -> str:
    """Which library should handle these arguments: 'symbolic', 'torch', 'sympy' or 'numpy'."""
    kind = "numpy"
    for a in args:
        module = type(a).__module__
        if module == "autodiff_magics.symbolic":
            return "symbolic"
        if module.startswith("torch"):
            kind = "torch"
        elif module.startswith("sympy") and kind == "numpy":
            kind = "sympy"
    return kind


def _as_tensor_like(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """Promote plain numbers next to a tensor to tensors of its dtype and device."""
    import torch

    ref = next(a for a in args if isinstance(a, torch.Tensor))
    return tuple(a if isinstance(a, torch.Tensor) else torch.as_tensor(a, dtype=ref.dtype, device=ref.device) for a in args)


def _generic(name: str, torch_fn: Callable[..., Any], numpy_fn: Callable[..., Any], sympy_fn: Callable[..., Any]):
    def fn(*args: Any) -> Any:
        kind = _kind(args)
        if kind == "symbolic":
            from .symbolic import apply_function

            return apply_function(name, sympy_fn, args)
        if kind == "torch":
            return torch_fn(*_as_tensor_like(args)) if len(args) > 1 else torch_fn(*args)
        if kind == "sympy":
            return sympy_fn(*args)
        return numpy_fn(*args)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"{name}(...) for tensors, arrays, numbers and SymPy expressions alike."
    return fn


def _table() -> dict[str, Callable[..., Any]]:
    """name -> (torch, numpy, sympy) implementations; libraries are imported on first call."""

    def lazy(module: str, attr: str) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            mod = sys.modules.get(module) or __import__(module, fromlist=["_"])
            target = mod
            for part in attr.split("."):
                target = getattr(target, part)
            return target(*args)

        return call

    def np_(attr: str) -> Callable[..., Any]:
        return lazy("numpy", attr)

    def th(attr: str) -> Callable[..., Any]:
        return lazy("torch", attr)

    def sp(attr: str) -> Callable[..., Any]:
        return lazy("sympy", attr)

    def np_sigmoid(a: Any) -> Any:
        import numpy as np

        return 1.0 / (1.0 + np.exp(-np.asarray(a, dtype=float)))

    def sp_sigmoid(a: Any) -> Any:
        import sympy

        return 1 / (1 + sympy.exp(-a))

    def np_relu(a: Any) -> Any:
        import numpy as np

        return np.maximum(a, 0)

    def sp_relu(a: Any) -> Any:
        import sympy

        return sympy.Max(a, 0)

    def np_softplus(a: Any) -> Any:
        import numpy as np

        return np.logaddexp(0, a)

    def sp_softplus(a: Any) -> Any:
        import sympy

        return sympy.log(1 + sympy.exp(a))

    def th_softplus(a: Any) -> Any:
        import torch

        return torch.nn.functional.softplus(a)

    def sp_log_base(base: int) -> Callable[[Any], Any]:
        def log(a: Any) -> Any:
            import sympy

            return sympy.log(a, base)

        return log

    def np_erf(a: Any) -> Any:
        import numpy as np

        return np.vectorize(math.erf, otypes=[float])(a)

    def sp_square(a: Any) -> Any:
        return a**2

    rows: dict[str, tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]] = {
        "sin": (th("sin"), np_("sin"), sp("sin")),
        "cos": (th("cos"), np_("cos"), sp("cos")),
        "tan": (th("tan"), np_("tan"), sp("tan")),
        "asin": (th("asin"), np_("arcsin"), sp("asin")),
        "acos": (th("acos"), np_("arccos"), sp("acos")),
        "atan": (th("atan"), np_("arctan"), sp("atan")),
        "sinh": (th("sinh"), np_("sinh"), sp("sinh")),
        "cosh": (th("cosh"), np_("cosh"), sp("cosh")),
        "tanh": (th("tanh"), np_("tanh"), sp("tanh")),
        "asinh": (th("asinh"), np_("arcsinh"), sp("asinh")),
        "acosh": (th("acosh"), np_("arccosh"), sp("acosh")),
        "atanh": (th("atanh"), np_("arctanh"), sp("atanh")),
        "exp": (th("exp"), np_("exp"), sp("exp")),
        "expm1": (th("expm1"), np_("expm1"), lambda a: __import__("sympy").exp(a) - 1),
        "log": (th("log"), np_("log"), sp("log")),
        "log1p": (th("log1p"), np_("log1p"), lambda a: __import__("sympy").log(1 + a)),
        "log2": (th("log2"), np_("log2"), sp_log_base(2)),
        "log10": (th("log10"), np_("log10"), sp_log_base(10)),
        "sqrt": (th("sqrt"), np_("sqrt"), sp("sqrt")),
        "square": (th("square"), np_("square"), sp_square),
        "abs": (th("abs"), np_("abs"), sp("Abs")),
        "sign": (th("sign"), np_("sign"), sp("sign")),
        "erf": (th("erf"), np_erf, sp("erf")),
        "sigmoid": (th("sigmoid"), np_sigmoid, sp_sigmoid),
        "relu": (th("relu"), np_relu, sp_relu),
        "softplus": (th_softplus, np_softplus, sp_softplus),
        "atan2": (th("atan2"), np_("arctan2"), sp("atan2")),
        "maximum": (th("maximum"), np_("maximum"), sp("Max")),
        "minimum": (th("minimum"), np_("minimum"), sp("Min")),
        "hypot": (th("hypot"), np_("hypot"), lambda a, b: __import__("sympy").sqrt(a**2 + b**2)),
    }
    table = {name: _generic(name, *impls) for name, impls in rows.items()}
    table["arcsin"], table["arccos"], table["arctan"] = table["asin"], table["acos"], table["atan"]
    table["arctan2"] = table["atan2"]
    return table


#: every generic name a cell can use, including the constants ``pi`` and ``e``
NAMES: dict[str, Any] = {**_table(), "pi": pi, "e": e}
