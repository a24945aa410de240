"""The NumPy tracer: the cell runs once on arrays of SymPy symbols (for code torch cannot run).

A variable ``x`` of shape (3,) becomes a :class:`SymbolicArray` holding the real symbols x₀, x₁,
x₂. The array answers to Python operators, indexing, NumPy ufuncs, its own tensor-like methods
and, through ``__torch_function__``, to explicit torch calls. It is the fallback of the symbolic
row when the cell cannot run on real tensors (``np.sin(x)`` on a tensor that requires grad); the
main path records the ATen operators of a real run (see :mod:`.recording`). A branch on a value is
decided at the point; what cannot be followed stops the trace with one sentence saying why.
"""

from __future__ import annotations

import contextvars
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy
from sympy.core.sympify import converter as _sympy_converter

from ..functions import Constant
from .exact import OPERATION_BUDGET, SymbolicUnsupported
from .exact import number as _number

__all__ = ["SymbolicArray", "apply_function", "trace_numpy"]

_sympy_converter[Constant] = lambda c: getattr(sympy, c.sympy_name)


@dataclass
class _Trace:
    point: dict[sympy.Symbol, sympy.Expr]
    operations: int = 0

    def spend(self, n: int) -> None:
        self.operations += n
        if self.operations > OPERATION_BUDGET:
            raise SymbolicUnsupported(
                f"the cell performs more than {OPERATION_BUDGET:,} scalar operations, too many for exact symbolic differentiation"
            )


_TRACE: contextvars.ContextVar[_Trace | None] = contextvars.ContextVar("autodiff_magics_trace", default=None)
#: plain mode: only Python arithmetic, indexing and the generic math names (sin, exp, ...) are followed
_PLAIN: contextvars.ContextVar[bool] = contextvars.ContextVar("autodiff_magics_plain", default=False)


class NotPlain(SymbolicUnsupported):
    """The cell calls a torch/NumPy function or a tensor method: the operator record follows it."""


def _plain_only(what: str) -> None:
    if _PLAIN.get():
        raise NotPlain(what)


def _objects(value: Any) -> np.ndarray:
    """Any operand as a NumPy object array of SymPy expressions."""
    if isinstance(value, SymbolicArray):
        return value.a
    module = type(value).__module__
    if module.startswith("torch"):
        import torch

        if isinstance(value, torch.Tensor):
            if value.is_complex():
                raise SymbolicUnsupported("the cell uses a complex tensor, and f must be real")
            if value.numel() > OPERATION_BUDGET:
                raise SymbolicUnsupported(f"the cell uses a constant tensor of {value.numel():,} elements, too large to follow symbolically")
            return _to_object_array(value.detach().cpu().tolist())
        if isinstance(value, torch.Size):
            return _to_object_array(list(value))
        if isinstance(value, torch.dtype):
            raise SymbolicUnsupported("a dtype is not a value")
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return _to_object_array(value.tolist())
        return _to_object_array(value.tolist())
    if isinstance(value, (list, tuple)):
        return _to_object_array(value)
    return _scalar_array(_number(value))


def _to_object_array(nested: Any) -> np.ndarray:
    if not isinstance(nested, (list, tuple)):
        return _scalar_array(_number(nested) if not isinstance(nested, SymbolicArray) else nested.item())
    items = [_objects(v) for v in nested]
    if not items:
        return np.empty((0,), dtype=object)
    shapes = {i.shape for i in items}
    if len(shapes) != 1:
        raise SymbolicUnsupported("the cell builds a ragged nested list, which has no array form")
    out = np.empty((len(items), *items[0].shape), dtype=object)
    for k, item in enumerate(items):
        out[k] = item
    return out


def _scalar_array(expr: Any) -> np.ndarray:
    out = np.empty((), dtype=object)
    out[()] = expr
    return out


def _wrap(result: Any) -> SymbolicArray:
    if isinstance(result, np.ndarray):
        if result.dtype != object:
            result = _objects(result)
        return SymbolicArray(result)
    return SymbolicArray(_scalar_array(result))


def _spend(n: int) -> None:
    trace = _TRACE.get()
    if trace is not None:
        trace.spend(max(1, n))


def _elementwise(fn: Callable[..., Any], *args: Any) -> SymbolicArray:
    arrays = [_objects(a) for a in args]
    _spend(max(a.size for a in arrays))
    return _wrap(np.frompyfunc(fn, len(arrays), 1)(*arrays))


def _binary(op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], SymbolicArray]:
    def apply(a: Any, b: Any) -> SymbolicArray:
        return _elementwise(op, a, b)

    return apply


def _decide(expr: Any) -> bool:
    """Decide a condition at the point (a branch in the cell follows the path taken there)."""
    trace = _TRACE.get()
    value = sympy.sympify(expr)
    if trace is not None and not isinstance(value, sympy.logic.boolalg.BooleanAtom):
        value = value.xreplace(trace.point)
    if isinstance(value, sympy.logic.boolalg.BooleanAtom):
        return bool(value)
    if isinstance(value, sympy.core.relational.Relational):
        value = value.func(sympy.N(value.lhs, 30), sympy.N(value.rhs, 30))
        if isinstance(value, sympy.logic.boolalg.BooleanAtom):
            return bool(value)
    if value.is_number:
        return bool(value != 0)
    raise SymbolicUnsupported("the cell branches on a condition that cannot be decided at the point")


class SymbolicArray:
    """A tensor-like array of SymPy expressions (NumPy object array underneath)."""

    __slots__ = ("a",)
    __array_priority__ = 1000

    def __init__(self, a: np.ndarray) -> None:
        self.a = a

    # -- shape ------------------------------------------------------------------------------------
    @property
    def shape(self):
        import torch

        return torch.Size(self.a.shape)

    @property
    def ndim(self) -> int:
        return self.a.ndim

    @property
    def dtype(self):
        import torch

        return torch.get_default_dtype()

    @property
    def device(self):
        import torch

        return torch.device("cpu")

    @property
    def requires_grad(self) -> bool:
        return True

    @property
    def T(self) -> SymbolicArray:
        return SymbolicArray(self.a.T)

    mT = property(lambda self: SymbolicArray(np.swapaxes(self.a, -1, -2)))

    def size(self, dim: int | None = None):
        return self.shape if dim is None else self.a.shape[dim]

    def dim(self) -> int:
        return self.a.ndim

    def numel(self) -> int:
        return int(self.a.size)

    def __len__(self) -> int:
        if self.a.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.a.shape[0]

    def __iter__(self):
        if self.a.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        for k in range(self.a.shape[0]):
            yield self[k]

    def __repr__(self) -> str:
        return f"SymbolicArray({self.a.tolist()!r})"

    # -- values -----------------------------------------------------------------------------------
    def item(self) -> Any:
        if self.a.size != 1:
            raise ValueError(f"a Tensor with {self.a.size} elements cannot be converted to Scalar")
        return self.a.reshape(()).item()

    def tolist(self) -> Any:
        return self.a.tolist()

    def __float__(self) -> float:
        _plain_only("float")
        raise SymbolicUnsupported(
            "the cell converts a value that depends on the variables to a Python float (float(), math.*), "
            "which no derivative can follow; use the generic names (sin, exp, ...) or torch functions"
        )

    __int__ = __index__ = __complex__ = __float__

    def __bool__(self) -> bool:
        if self.a.size != 1:
            raise RuntimeError(f"Boolean value of Tensor with {self.a.size} values is ambiguous")
        return _decide(self.item())

    def detach(self) -> SymbolicArray:
        return SymbolicArray(self.a.copy())

    clone = contiguous = detach

    def numpy(self, *args: Any, **kwargs: Any) -> SymbolicArray:
        return self

    def _same(self, *args: Any, **kwargs: Any) -> SymbolicArray:
        return self

    to = cpu = cuda = double = float = half = requires_grad_ = retain_grad = type_as = _same

    # -- indexing ---------------------------------------------------------------------------------
    def __getitem__(self, index: Any) -> SymbolicArray:
        return _wrap(self.a[_index(index)])

    def __setitem__(self, index: Any, value: Any) -> None:
        self.a = self.a.copy()
        self.a[_index(index)] = _objects(value)

    # -- operators --------------------------------------------------------------------------------
    def __add__(self, other: Any) -> SymbolicArray:
        return _elementwise(operator.add, self, other)

    def __radd__(self, other: Any) -> SymbolicArray:
        return _elementwise(operator.add, other, self)

    def __sub__(self, other: Any) -> SymbolicArray:
        return _elementwise(operator.sub, self, other)

    def __rsub__(self, other: Any) -> SymbolicArray:
        return _elementwise(operator.sub, other, self)

    def __mul__(self, other: Any) -> SymbolicArray:
        return _elementwise(operator.mul, self, other)

    def __rmul__(self, other: Any) -> SymbolicArray:
        return _elementwise(operator.mul, other, self)

    def __truediv__(self, other: Any) -> SymbolicArray:
        return _elementwise(operator.truediv, self, other)

    def __rtruediv__(self, other: Any) -> SymbolicArray:
        return _elementwise(operator.truediv, other, self)

    def __floordiv__(self, other: Any) -> SymbolicArray:
        return _elementwise(lambda p, q: sympy.floor(p / q), self, other)

    def __rfloordiv__(self, other: Any) -> SymbolicArray:
        return _elementwise(lambda p, q: sympy.floor(p / q), other, self)

    def __mod__(self, other: Any) -> SymbolicArray:
        return _elementwise(sympy.Mod, self, other)

    def __pow__(self, other: Any) -> SymbolicArray:
        return _elementwise(operator.pow, self, other)

    def __rpow__(self, other: Any) -> SymbolicArray:
        return _elementwise(operator.pow, other, self)

    def __matmul__(self, other: Any) -> SymbolicArray:
        return _matmul(self, other)

    def __rmatmul__(self, other: Any) -> SymbolicArray:
        return _matmul(other, self)

    def __neg__(self) -> SymbolicArray:
        return _elementwise(operator.neg, self)

    def __pos__(self) -> SymbolicArray:
        return self

    def __abs__(self) -> SymbolicArray:
        return _elementwise(sympy.Abs, self)

    def __lt__(self, other: Any) -> SymbolicArray:
        return _elementwise(sympy.Lt, self, other)

    def __le__(self, other: Any) -> SymbolicArray:
        return _elementwise(sympy.Le, self, other)

    def __gt__(self, other: Any) -> SymbolicArray:
        return _elementwise(sympy.Gt, self, other)

    def __ge__(self, other: Any) -> SymbolicArray:
        return _elementwise(sympy.Ge, self, other)

    __hash__ = None  # type: ignore[assignment]

    # in-place forms rebind this array (each cell run gets its own variables)
    def add_(self, other: Any, alpha: Any = 1) -> SymbolicArray:
        self.a = (self + other * alpha if alpha != 1 else self + other).a
        return self

    def sub_(self, other: Any, alpha: Any = 1) -> SymbolicArray:
        self.a = (self - other * alpha if alpha != 1 else self - other).a
        return self

    def mul_(self, other: Any) -> SymbolicArray:
        self.a = (self * other).a
        return self

    def div_(self, other: Any) -> SymbolicArray:
        self.a = (self / other).a
        return self

    def pow_(self, other: Any) -> SymbolicArray:
        self.a = (self**other).a
        return self

    __iadd__ = add_
    __isub__ = sub_
    __imul__ = mul_
    __itruediv__ = div_
    __ipow__ = pow_

    # -- tensor methods and torch functions ---------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        _plain_only(name)
        fn = _FUNCTIONS.get(name)
        if fn is None:
            raise AttributeError(f"symbolic tracing does not know the tensor method .{name}()")

        def method(*args: Any, **kwargs: Any) -> Any:
            return fn(self, *args, **kwargs)

        return method

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        _plain_only("torch")
        name = getattr(func, "__name__", str(func))
        if name == "__get__":  # a property of Tensor (x.T, x.shape, ...) read on a real tensor
            raise SymbolicUnsupported("the cell reads a tensor property that has no symbolic form")
        reflected = _REFLECTED.get(name)
        if reflected is not None:
            return _FUNCTIONS[reflected](args[1], args[0], *args[2:], **(kwargs or {}))
        fn = _FUNCTIONS.get(name.strip("_")) or _FUNCTIONS.get(name)
        if fn is None:
            from torch.overrides import resolve_name

            raise SymbolicUnsupported(f"{resolve_name(func) or name} has no symbolic counterpart here")
        return fn(*args, **(kwargs or {}))

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        _plain_only("numpy")
        if method != "__call__" or kwargs.get("out") is not None:
            raise SymbolicUnsupported(f"numpy.{ufunc.__name__}.{method} has no symbolic counterpart here")
        fn = _FUNCTIONS.get(_UFUNC_NAMES.get(ufunc.__name__, ufunc.__name__))
        if fn is None:
            raise SymbolicUnsupported(f"numpy.{ufunc.__name__} has no symbolic counterpart here")
        return fn(*inputs)

    def __array_function__(self, func, types, args, kwargs):
        _plain_only("numpy")
        fn = _FUNCTIONS.get(_UFUNC_NAMES.get(func.__name__, func.__name__))
        if fn is None:
            raise SymbolicUnsupported(f"numpy.{func.__name__} has no symbolic counterpart here")
        kwargs = dict(kwargs)
        if "axis" in kwargs:
            kwargs["dim"] = kwargs.pop("axis")
        if "keepdims" in kwargs:
            kwargs["keepdim"] = kwargs.pop("keepdims")
        return fn(*args, **kwargs)


def _index(index: Any) -> Any:
    """A torch-style index as a NumPy index (tensors and symbolic arrays become plain values)."""
    if isinstance(index, tuple):
        return tuple(_index(i) for i in index)
    if isinstance(index, SymbolicArray):
        raise SymbolicUnsupported("the cell indexes with a value that depends on the variables")
    if type(index).__module__.startswith("torch"):
        return index.detach().cpu().numpy()
    if isinstance(index, list):
        return [_index(i) for i in index]
    return index


# -- functions -------------------------------------------------------------------------------------


def _unary(sympy_fn: Callable[[Any], Any]) -> Callable[..., SymbolicArray]:
    def apply(a: Any, *rest: Any, **kwargs: Any) -> SymbolicArray:
        return _elementwise(sympy_fn, a)

    return apply


def _reduce(kind: str) -> Callable[..., SymbolicArray]:
    def apply(a: Any, dim: Any = None, keepdim: bool = False, *, dtype: Any = None, axis: Any = None, **_: Any):
        arr = _objects(a)
        dim = axis if dim is None else dim
        _spend(arr.size)
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


def _norm(a: Any, p: Any = 2, dim: Any = None, keepdim: bool = False, **_: Any) -> SymbolicArray:
    p = "fro" if p is None else p
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


def _sympy_sigmoid(v: Any) -> Any:
    return 1 / (1 + sympy.exp(-v))


_FUNCTIONS: dict[str, Callable[..., Any]] = {
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
    "relu": _unary(lambda v: sympy.Max(v, 0)), "softplus": _unary(lambda v: sympy.log(1 + sympy.exp(v))),
    "silu": _unary(lambda v: v * _sympy_sigmoid(v)), "gelu": _unary(lambda v: v * (1 + sympy.erf(v / sympy.sqrt(2))) / 2),
    "floor": _unary(sympy.floor), "ceil": _unary(sympy.ceiling),
    "add": _add, "sub": _sub, "subtract": _sub, "mul": _binary(operator.mul), "multiply": _binary(operator.mul),
    "div": _div, "divide": _div, "true_divide": _binary(operator.truediv), "pow": _pow, "float_power": _pow,
    "power": _pow, "atan2": _binary(sympy.atan2), "arctan2": _binary(sympy.atan2),
    "maximum": _binary(sympy.Max), "minimum": _binary(sympy.Min), "fmax": _binary(sympy.Max), "fmin": _binary(sympy.Min),
    "hypot": _binary(lambda p, q: sympy.sqrt(p**2 + q**2)), "remainder": _binary(sympy.Mod), "fmod": _binary(sympy.Mod),
    "matmul": _matmul, "mm": _matmul, "mv": _matmul, "dot": _dot, "vdot": _dot, "inner": _dot, "outer": _outer, "ger": _outer,
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
                        "linalg_norm": "norm", "frobenius_norm": "norm"}.items():
    _FUNCTIONS[_alias] = _FUNCTIONS[_target]
_FUNCTIONS["floordiv"] = _binary(lambda p, q: sympy.floor(p / q))
_FUNCTIONS["mod"] = _binary(sympy.Mod)
_FUNCTIONS["neg"] = _unary(operator.neg)

#: reflected dunders that torch hands us with the tensor first: b.__rsub__(a) means a - b
_REFLECTED = {"__rsub__": "sub", "__rtruediv__": "true_divide", "__rdiv__": "true_divide", "__rpow__": "pow",
              "__rmatmul__": "matmul", "__rfloordiv__": "floordiv", "__rmod__": "mod"}
_UFUNC_NAMES = {"arcsin": "asin", "arccos": "acos", "arctan": "atan", "negative": "neg", "absolute": "abs",
                "true_divide": "true_divide", "divide": "true_divide", "logaddexp": "logaddexp"}
_FUNCTIONS["logaddexp"] = _binary(lambda p, q: sympy.log(sympy.exp(p) + sympy.exp(q)))


def apply_function(name: str, sympy_fn: Callable[..., Any], args: tuple[Any, ...]) -> SymbolicArray:
    """A generic math name (``sin(x)``) applied elementwise to symbolic arguments."""
    return _elementwise(sympy_fn, *args)


# -- the trace -------------------------------------------------------------------------------------

# functions._kind recognises symbolic arguments by this module name (the package's public face)
SymbolicArray.__module__ = "autodiff_magics.symbolic"


def trace_numpy(cell: Callable[[Mapping[str, Any]], Any], symbols: Mapping[str, np.ndarray],
                substitution: dict[sympy.Symbol, sympy.Expr], plain: bool = False) -> sympy.Expr:
    """f as a SymPy expression: the cell run once on arrays of the variables' symbols.

    With ``plain``, anything beyond Python arithmetic, indexing and the generic math names raises
    :class:`NotPlain` (such cells are exact here and cost no torch run; the rest is recorded)."""
    token = _TRACE.set(_Trace(point=substitution))
    plain_token = _PLAIN.set(plain)
    try:
        out = cell({name: SymbolicArray(syms.copy()) for name, syms in symbols.items()})
    finally:
        _PLAIN.reset(plain_token)
        _TRACE.reset(token)
    return _as_expression(out)


def _as_expression(out: Any) -> sympy.Expr:
    if isinstance(out, SymbolicArray):
        if out.a.size != 1:
            raise SymbolicUnsupported(f"f has shape {tuple(out.a.shape)}, not a scalar")
        out = out.item()
    if isinstance(out, (tuple, list)):
        raise SymbolicUnsupported("f is a sequence, not a scalar")
    if isinstance(out, sympy.Basic):
        return out
    if type(out).__module__.startswith("torch"):
        out = out.detach().reshape(()).item()  # a constant tensor: f does not depend on the variables
    try:
        return _number(out.item() if isinstance(out, np.generic) else out)
    except SymbolicUnsupported:
        raise SymbolicUnsupported(f"f is a {type(out).__name__}, which has no symbolic form") from None
