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
from collections.abc import Callable, Mapping
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


TRACE: contextvars.ContextVar[_Trace | None] = contextvars.ContextVar("autodiff_magics_trace", default=None)
_TRACE = TRACE
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
        return _table()._matmul(self, other)

    def __rmatmul__(self, other: Any) -> SymbolicArray:
        return _table()._matmul(other, self)

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
        fn = _table().FUNCTIONS.get(name)
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
        table = _table()
        reflected = table.REFLECTED.get(name)
        if reflected is not None:
            return table.FUNCTIONS[reflected](args[1], args[0], *args[2:], **(kwargs or {}))
        fn = table.FUNCTIONS.get(name.strip("_")) or table.FUNCTIONS.get(name)
        if fn is None:
            from torch.overrides import resolve_name

            raise SymbolicUnsupported(f"{resolve_name(func) or name} has no symbolic counterpart here")
        return fn(*args, **(kwargs or {}))

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        _plain_only("numpy")
        if method != "__call__" or kwargs.get("out") is not None:
            raise SymbolicUnsupported(f"numpy.{ufunc.__name__}.{method} has no symbolic counterpart here")
        table = _table()
        fn = table.FUNCTIONS.get(table.UFUNC_NAMES.get(ufunc.__name__, ufunc.__name__))
        if fn is None:
            raise SymbolicUnsupported(f"numpy.{ufunc.__name__} has no symbolic counterpart here")
        return fn(*inputs)

    def __array_function__(self, func, types, args, kwargs):
        _plain_only("numpy")
        table = _table()
        fn = table.FUNCTIONS.get(table.UFUNC_NAMES.get(func.__name__, func.__name__))
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


def _table() -> Any:
    from . import numpy_functions

    return numpy_functions


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
