"""The NumPy tracer's functions: torch and NumPy names mapped onto SymPy, elementwise or by axis.

Only the NumPy fallback reaches these (cells torch cannot run); torch code is followed at the
operator level instead (:mod:`.rules`). Where a name's arguments change the function (softplus's
beta, gelu's approximate, a matrix norm's order), they are honoured or the call is refused.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import sympy

from .exact import SymbolicUnsupported
from .exact import number as _number
from .numpy_tracer import TRACE as _TRACE
from .numpy_tracer import SymbolicArray, _binary, _elementwise, _index, _objects, _spend, _wrap

__all__ = ["FUNCTIONS", "REFLECTED", "UFUNC_NAMES"]


def _unary(sympy_fn: Callable[[Any], Any]) -> Callable[..., SymbolicArray]:
    def apply(a: Any, *rest: Any, **kwargs: Any) -> SymbolicArray:
        return _elementwise(sympy_fn, a)

    return apply


def _reduce(kind: str) -> Callable[..., SymbolicArray]:
    def apply(a: Any, dim: Any = None, keepdim: bool = False, *, dtype: Any = None, axis: Any = None, **_: Any):
        arr = _objects(a)
        dim = axis if dim is None else dim
        _spend(arr.size)
        if arr.ndim == 0 and dim is not None:  # a 0-d tensor reduced over dim 0 or -1: itself
            value = _reduce_flat(kind, [arr[()]], 1)
            return (_wrap(value), _zero_index()) if kind in ("max", "min") else _wrap(value)
        if dim is None or (isinstance(dim, (tuple, list)) and len(dim) == 0 and kind != "sum"):
            flat = list(arr.flat)
            value = _reduce_flat(kind, flat, arr.size)
            if keepdim:
                return _wrap(np.full((1,) * arr.ndim, value, dtype=object))
            return _wrap(value)
        axes = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
        axes = tuple(d % arr.ndim for d in axes)
        moved = np.moveaxis(arr, axes, tuple(range(-len(axes), 0)))
        lead = moved.shape[: arr.ndim - len(axes)]
        count = int(np.prod([arr.shape[d] for d in axes]))
        flat = moved.reshape(*lead, count)
        out = np.empty(lead, dtype=object)
        for idx in np.ndindex(*lead):
            out[idx] = _reduce_flat(kind, list(flat[idx]), count)
        if keepdim:
            out = np.expand_dims(out, axes)
        if kind in ("max", "min"):
            return _wrap(out), _argextreme(flat, kind, keepdim, axes)
        return _wrap(out)

    return apply


def _zero_index() -> Any:
    import torch

    return torch.tensor(0)


def _reduce_flat(kind: str, items: list[Any], count: int) -> Any:
    if kind == "sum":
        return sympy.Add(*items)
    if kind == "mean":
        return sympy.Add(*items) / count
    if kind == "prod":
        return sympy.Mul(*items)
    if kind in ("max", "amax"):
        return sympy.Max(*items)
    if kind in ("min", "amin"):
        return sympy.Min(*items)
    if kind == "logsumexp":
        return sympy.log(sympy.Add(*[sympy.exp(i) for i in items]))
    raise AssertionError(kind)


def _argextreme(flat: np.ndarray, kind: str, keepdim: bool, axes: tuple[int, ...]):
    """Indices of max/min along an axis, decided at the point (torch returns them as a tensor)."""
    import torch

    trace = _TRACE.get()
    point = trace.point if trace is not None else {}
    values = np.frompyfunc(lambda v: float(sympy.N(sympy.sympify(v).xreplace(point))), 1, 1)(flat).astype(float)
    idx = values.argmax(axis=-1) if kind == "max" else values.argmin(axis=-1)
    if keepdim:
        idx = np.expand_dims(idx, axes)
    return torch.as_tensor(idx)


def _matmul(a: Any, b: Any) -> SymbolicArray:
    x, y = _objects(a), _objects(b)
    _spend(max(x.size, 1) * max(y.shape[-1] if y.ndim else 1, 1))
    if x.ndim == 1 and y.ndim == 1:
        return _wrap(sympy.Add(*[p * q for p, q in zip(x, y)]))
    return _wrap(np.matmul(x, y))


def _linalg_norm(a: Any, ord: Any = None, dim: Any = None, keepdim: bool = False, **kwargs: Any) -> SymbolicArray:  # noqa: A002
    if _objects(a).ndim >= 2 and ord not in (None, "fro") and (dim is None or isinstance(dim, (tuple, list))):
        raise SymbolicUnsupported(f"a matrix norm of order {ord!r} written for NumPy has no symbolic counterpart here")
    return _norm(a, 2 if ord is None else ord, dim, keepdim)


def _norm(a: Any, p: Any = 2, dim: Any = None, keepdim: bool = False, **_: Any) -> SymbolicArray:
    p = "fro" if p is None else p
    if p in (float("-inf"), "-inf"):
        return _reduce("min")(_elementwise(sympy.Abs, a), dim, keepdim) if dim is None else _reduce("min")(_elementwise(sympy.Abs, a), dim, keepdim)[0]
    if p in (2, "fro", 2.0):
        return _elementwise(sympy.sqrt, _reduce("sum")(_elementwise(lambda v: v**2, a), dim, keepdim))
    if p in (1, 1.0):
        return _reduce("sum")(_elementwise(sympy.Abs, a), dim, keepdim)
    if p in (float("inf"), "inf"):
        return _reduce("max")(_elementwise(sympy.Abs, a), dim, keepdim) if dim is None else _reduce("max")(_elementwise(sympy.Abs, a), dim, keepdim)[0]
    q = _number(p)
    return _elementwise(lambda s: s ** (1 / q), _reduce("sum")(_elementwise(lambda v: sympy.Abs(v) ** q, a), dim, keepdim))


def _softmax(a: Any, dim: int = -1, *args: Any, **kwargs: Any) -> SymbolicArray:
    e = _elementwise(sympy.exp, a)
    return e / _reduce("sum")(e, dim, True)


def _log_softmax(a: Any, dim: int = -1, *args: Any, **kwargs: Any) -> SymbolicArray:
    return _elementwise(operator.sub, a, _elementwise(sympy.log, _reduce("sum")(_elementwise(sympy.exp, a), dim, True)))


def _clamp(a: Any, min: Any = None, max: Any = None) -> SymbolicArray:  # noqa: A002 - torch's names
    out = a
    if min is not None:
        out = _elementwise(sympy.Max, out, min)
    if max is not None:
        out = _elementwise(sympy.Min, out, max)
    return out if isinstance(out, SymbolicArray) else _wrap(_objects(out))


def _where(condition: Any, a: Any, b: Any) -> SymbolicArray:
    def pick(c: Any, p: Any, q: Any) -> Any:
        if isinstance(c, (bool, np.bool_)) or (isinstance(c, sympy.Basic) and c in (sympy.true, sympy.false, 0, 1)):
            return p if bool(c) else q
        return sympy.Piecewise((p, c), (q, True))

    return _elementwise(pick, condition, a, b)


def _stack(tensors: Sequence[Any], dim: int = 0, **_: Any) -> SymbolicArray:
    return _wrap(np.stack([_objects(t) for t in tensors], axis=dim))


def _cat(tensors: Sequence[Any], dim: int = 0, **_: Any) -> SymbolicArray:
    return _wrap(np.concatenate([_objects(t) for t in tensors], axis=dim))


def _reshape(a: Any, *shape: Any, **kwargs: Any) -> SymbolicArray:
    if "shape" in kwargs:
        shape = (kwargs["shape"],)
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)) or (len(shape) == 1 and type(shape[0]).__name__ == "Size"):
        shape = tuple(shape[0])
    return _wrap(_objects(a).reshape(tuple(int(s) for s in shape)))


def _transpose(a: Any, d0: int = 0, d1: int = 1) -> SymbolicArray:
    return _wrap(np.swapaxes(_objects(a), d0, d1))


def _permute(a: Any, *dims: Any) -> SymbolicArray:
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    return _wrap(np.transpose(_objects(a), dims))


def _flatten(a: Any, start_dim: int = 0, end_dim: int = -1) -> SymbolicArray:
    arr = _objects(a)
    if arr.ndim == 0:
        return _wrap(arr.reshape(1))
    s, e = start_dim % arr.ndim, end_dim % arr.ndim
    return _wrap(arr.reshape(*arr.shape[:s], -1, *arr.shape[e + 1 :]))


def _squeeze(a: Any, dim: Any = None) -> SymbolicArray:
    arr = _objects(a)
    if dim is None:
        return _wrap(arr.squeeze())
    return _wrap(arr.squeeze(dim) if arr.shape[dim] == 1 else arr)


def _unsqueeze(a: Any, dim: int) -> SymbolicArray:
    return _wrap(np.expand_dims(_objects(a), dim))


def _like(fill: int) -> Callable[..., SymbolicArray]:
    def apply(a: Any, *args: Any, **kwargs: Any) -> SymbolicArray:
        return _wrap(np.full(_objects(a).shape, sympy.Integer(fill), dtype=object))

    return apply


def _pow(a: Any, b: Any) -> SymbolicArray:
    return _elementwise(operator.pow, a, b)


def _add(a: Any, b: Any, *, alpha: Any = 1, **_: Any) -> SymbolicArray:
    return _elementwise(operator.add, a, b if alpha == 1 else _elementwise(operator.mul, b, alpha))


def _sub(a: Any, b: Any, *, alpha: Any = 1, **_: Any) -> SymbolicArray:
    return _elementwise(operator.sub, a, b if alpha == 1 else _elementwise(operator.mul, b, alpha))


def _div(a: Any, b: Any, *, rounding_mode: Any = None, **_: Any) -> SymbolicArray:
    if rounding_mode == "floor":
        return _elementwise(lambda p, q: sympy.floor(p / q), a, b)
    if rounding_mode == "trunc":
        return _elementwise(lambda p, q: sympy.sign(p / q) * sympy.floor(sympy.Abs(p / q)), a, b)
    return _elementwise(operator.truediv, a, b)


def _dot(a: Any, b: Any, **_: Any) -> SymbolicArray:
    return _matmul(a, b)


def _inner(a: Any, b: Any) -> SymbolicArray:
    """torch.inner: the last dimensions contracted (a @ b.T for matrices); a scalar multiplies."""
    x, y = _objects(a), _objects(b)
    if x.ndim == 0 or y.ndim == 0:
        return _elementwise(operator.mul, a, b)
    _spend(x.size * max(1, y.size // max(1, y.shape[-1])))
    return _wrap(np.tensordot(x, y, axes=([-1], [-1])))


def _outer(a: Any, b: Any) -> SymbolicArray:
    return _wrap(np.multiply.outer(_objects(a), _objects(b)))


def _trace(a: Any) -> SymbolicArray:
    arr = _objects(a)
    return _wrap(sympy.Add(*np.diagonal(arr)))


def _extreme(kind: str) -> Callable[..., Any]:
    reduce = _reduce(kind)
    pairwise = sympy.Max if kind == "max" else sympy.Min

    def apply(a: Any, dim: Any = None, keepdim: bool = False, **kwargs: Any) -> Any:
        if dim is not None and not isinstance(dim, (int, np.integer)):
            return _elementwise(pairwise, a, dim)  # torch.max(a, b): elementwise
        return reduce(a, dim, keepdim)

    return apply


def _gelu(v: Any) -> Any:
    return v * (1 + sympy.erf(v / sympy.sqrt(2))) / 2


def _gelu_tanh(v: Any) -> Any:
    return v * (1 + sympy.tanh(sympy.sqrt(sympy.Integer(2) / sympy.pi) * (v + sympy.Rational(44715, 1000000) * v**3))) / 2


def _sympy_sigmoid(v: Any) -> Any:
    return 1 / (1 + sympy.exp(-v))


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "sin": _unary(sympy.sin), "cos": _unary(sympy.cos), "tan": _unary(sympy.tan),
    "asin": _unary(sympy.asin), "acos": _unary(sympy.acos), "atan": _unary(sympy.atan),
    "sinh": _unary(sympy.sinh), "cosh": _unary(sympy.cosh), "tanh": _unary(sympy.tanh),
    "asinh": _unary(sympy.asinh), "acosh": _unary(sympy.acosh), "atanh": _unary(sympy.atanh),
    "exp": _unary(sympy.exp), "exp2": _unary(lambda v: 2**v), "expm1": _unary(lambda v: sympy.exp(v) - 1),
    "log": _unary(sympy.log), "log2": _unary(lambda v: sympy.log(v, 2)), "log10": _unary(lambda v: sympy.log(v, 10)),
    "log1p": _unary(lambda v: sympy.log(1 + v)), "sqrt": _unary(sympy.sqrt), "rsqrt": _unary(lambda v: 1 / sympy.sqrt(v)),
    "square": _unary(lambda v: v**2), "abs": _unary(sympy.Abs), "neg": _unary(operator.neg),
    "sign": _unary(sympy.sign), "sgn": _unary(sympy.sign), "reciprocal": _unary(lambda v: 1 / v),
    "erf": _unary(sympy.erf), "sigmoid": _unary(_sympy_sigmoid),
    "relu": _unary(lambda v: sympy.Max(v, 0)), "softplus": lambda a, beta=1, threshold=20: _elementwise(
        lambda v: sympy.log(1 + sympy.exp(_number(beta) * v)) / _number(beta), a),
    "silu": _unary(lambda v: v * _sympy_sigmoid(v)), "gelu": lambda a, approximate="none": _elementwise(_gelu_tanh if approximate == "tanh" else _gelu, a),
    "floor": _unary(sympy.floor), "ceil": _unary(sympy.ceiling),
    "add": _add, "sub": _sub, "subtract": _sub, "mul": _binary(operator.mul), "multiply": _binary(operator.mul),
    "div": _div, "divide": _div, "true_divide": _binary(operator.truediv), "pow": _pow, "float_power": _pow,
    "power": _pow, "atan2": _binary(sympy.atan2), "arctan2": _binary(sympy.atan2),
    "maximum": _binary(sympy.Max), "minimum": _binary(sympy.Min), "fmax": _binary(sympy.Max), "fmin": _binary(sympy.Min),
    "hypot": _binary(lambda p, q: sympy.sqrt(p**2 + q**2)), "remainder": _binary(sympy.Mod),
    "fmod": _binary(lambda p, q: p - q * sympy.sign(p / q) * sympy.floor(sympy.Abs(p / q))),  # C: the dividend's sign
    "matmul": _matmul, "mm": _matmul, "mv": _matmul, "dot": _dot, "vdot": _dot, "inner": _inner, "outer": _outer, "ger": _outer,
    "sum": _reduce("sum"), "mean": _reduce("mean"), "prod": _reduce("prod"), "nansum": _reduce("sum"),
    "amax": _reduce("amax"), "amin": _reduce("amin"), "max": _extreme("max"), "min": _extreme("min"),
    "logsumexp": _reduce("logsumexp"), "norm": _norm, "softmax": _softmax, "log_softmax": _log_softmax,
    "clamp": _clamp, "clip": _clamp, "where": _where, "stack": _stack, "cat": _cat, "concat": _cat,
    "concatenate": _cat, "reshape": _reshape, "view": _reshape, "flatten": _flatten, "ravel": _flatten,
    "squeeze": _squeeze, "unsqueeze": _unsqueeze, "transpose": _transpose, "swapaxes": _transpose,
    "permute": _permute, "t": lambda a: _transpose(a, 0, 1) if _objects(a).ndim == 2 else _wrap(_objects(a)),
    "zeros_like": _like(0), "ones_like": _like(1), "trace": _trace,
    "getitem": lambda a, i: a[i] if isinstance(a, SymbolicArray) else _wrap(_objects(a)[_index(i)]),
    "clone": lambda a, **k: _wrap(_objects(a).copy()), "detach": lambda a: _wrap(_objects(a).copy()),
    "positive": lambda a: a, "contiguous": lambda a, **k: a,
    "lt": _binary(sympy.Lt), "le": _binary(sympy.Le), "gt": _binary(sympy.Gt), "ge": _binary(sympy.Ge),
    "greater": _binary(sympy.Gt), "less": _binary(sympy.Lt),
}
for _alias, _target in {"arcsin": "asin", "arccos": "acos", "arctan": "atan", "arcsinh": "asinh", "arccosh": "acosh",
                        "arctanh": "atanh", "absolute": "abs", "negative": "neg", "truediv": "true_divide",
                        "floordiv": "div", "radd": "add", "rmul": "mul", "iadd": "add", "imul": "mul", "isub": "sub", "itruediv": "div",
                        "frobenius_norm": "norm"}.items():
    FUNCTIONS[_alias] = FUNCTIONS[_target]
FUNCTIONS["floordiv"] = _binary(lambda p, q: sympy.floor(p / q))
FUNCTIONS["mod"] = _binary(sympy.Mod)
FUNCTIONS["neg"] = _unary(operator.neg)

#: reflected dunders that torch hands us with the tensor first: b.__rsub__(a) means a - b
REFLECTED = {"__rsub__": "sub", "__rtruediv__": "true_divide", "__rdiv__": "true_divide", "__rpow__": "pow",
              "__rmatmul__": "matmul", "__rfloordiv__": "floordiv", "__rmod__": "mod"}
UFUNC_NAMES = {"arcsin": "asin", "arccos": "acos", "arctan": "atan", "negative": "neg", "absolute": "abs",
                "true_divide": "true_divide", "divide": "true_divide", "logaddexp": "logaddexp"}
FUNCTIONS["linalg_norm"] = _linalg_norm
FUNCTIONS["logaddexp"] = _binary(lambda p, q: sympy.log(sympy.exp(p) + sympy.exp(q)))


