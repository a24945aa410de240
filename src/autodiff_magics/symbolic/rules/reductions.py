"""Reductions and scans: sum, mean, prod, extremes, norms, variance, cumulative ops, sort-like ops.

A reduction of a 0-d tensor over ``dim=0``/``-1`` reduces nothing (as torch does). Extremes over
expressions are decided at the point (the element the real run picked), which keeps formulas
small: ``Max`` of 25 sums of ``Abs`` is what made one ``norm.inf`` sample take seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import sympy as S
import torch

from . import Call, apply, as_objects, real_array, register
from ..exact import SymbolicUnsupported, number


def _dims(dim: Any, ndim: int) -> tuple[int, ...]:
    if dim is None or (isinstance(dim, (list, tuple)) and len(dim) == 0):
        return tuple(range(ndim))
    dims = dim if isinstance(dim, (list, tuple)) else [dim]
    n = max(ndim, 1)
    return tuple(sorted({int(d) % n for d in dims if ndim > 0}))


def reduce(x: np.ndarray, dim: Any, keepdim: bool, fn: Callable[[list[Any], list[float]], Any],
           real: np.ndarray | None = None) -> np.ndarray:
    """fn(items, real values) over the reduced dimensions of x."""
    x = as_objects(x)
    r = np.zeros(x.shape) if real is None else np.broadcast_to(real, x.shape)
    axes = _dims(dim, x.ndim)
    if x.ndim == 0:
        out = np.empty((), dtype=object)
        out[()] = fn([x[()]], [float(r[()])])
        return out
    moved = np.moveaxis(x, axes, tuple(range(-len(axes), 0)))
    rmoved = np.moveaxis(r, axes, tuple(range(-len(axes), 0)))
    lead = moved.shape[: x.ndim - len(axes)]
    count = int(np.prod([x.shape[d] for d in axes])) if axes else 1
    flat, rflat = moved.reshape(*lead, count), rmoved.reshape(*lead, count)
    out = np.empty(lead, dtype=object)
    for idx in np.ndindex(*lead):
        out[idx] = fn(list(flat[idx]), list(rflat[idx]))
    return np.expand_dims(out, axes) if keepdim else out


def pick(kind: str, readable: bool = True) -> Callable[[list[Any], list[float]], Any]:
    """The extreme element: ``Max`` of a few plain symbols where the cell wrote it (``readable``),
    else the one the point selects (``Max`` of the tied ones on ties)."""

    def choose(items: list[Any], reals: list[float]) -> Any:
        if len(items) == 1:
            return items[0]
        target = max(reals) if kind == "max" else min(reals)
        hits = [i for i, v in zip(items, reals) if v == target]
        if readable and all(isinstance(i, (S.Symbol, S.Number)) for i in items) and len(items) <= 8:
            return S.Max(*items) if kind == "max" else S.Min(*items)
        if len(hits) == 1 or any(np.isnan(reals)):
            return hits[0] if hits else items[int(np.nanargmax(reals) if kind == "max" else np.nanargmin(reals))]
        return S.Max(*hits) if kind == "max" else S.Min(*hits)

    return choose


def _sum(items: list[Any], _: Any) -> Any:
    return S.Add(*items)


@register("sum", "nansum", "prims.sum")
def _sum_rule(call: Call) -> np.ndarray:
    x = call["self"] if "self" in call.args else call["inp"]
    call.spend(np.size(x))
    dim = call.get("dim", call.get("dims"))
    return reduce(x, dim, bool(call.get("keepdim", False)), _sum)


@register("mean")
def _mean(call: Call) -> np.ndarray:
    x = call["self"]
    call.spend(np.size(x))
    return reduce(x, call.get("dim"), bool(call.get("keepdim", False)), lambda items, _: S.Add(*items) / len(items))


@register("prod")
def _prod(call: Call) -> np.ndarray:
    x = call["self"]
    call.spend(np.size(x))
    return reduce(x, call.get("dim"), bool(call.get("keepdim", False)), lambda items, _: S.Mul(*items))


@register("amax", "amin", "max.default", "min.default")
def _amax(call: Call) -> np.ndarray:
    kind = "max" if "max" in str(call.op) else "min"
    x = call["self"]
    call.spend(np.size(x))
    # inside a decomposition (softmax's x - max(x)) the extreme is an implementation detail: decided at the point
    readable = call.replay.depth == 0
    return reduce(x, call.get("dim"), bool(call.get("keepdim", False)), pick(kind, readable), real_array(call.real("self")))


@register("aminmax")
def _aminmax(call: Call) -> tuple[np.ndarray, np.ndarray]:
    x, real, dim, keep = call["self"], real_array(call.real("self")), call.get("dim"), bool(call.get("keepdim", False))
    return reduce(x, dim, keep, pick("min"), real), reduce(x, dim, keep, pick("max"), real)


@register("logsumexp")
def _logsumexp(call: Call) -> np.ndarray:
    x = call["self"]
    return reduce(x, call["dim"], bool(call["keepdim"]), lambda items, _: S.log(S.Add(*[S.exp(i) for i in items])))


@register("_softmax", "_safe_softmax", "softmax")
def _softmax(call: Call) -> np.ndarray:
    x = as_objects(call["self"])
    e = apply(S.exp, x)
    return apply(lambda p, q: p / q, e, reduce(e, call["dim"], True, _sum))


@register("_log_softmax", "log_softmax")
def _log_softmax(call: Call) -> np.ndarray:
    x = as_objects(call["self"])
    total = reduce(apply(S.exp, x), call["dim"], True, _sum)
    return apply(lambda p, q: p - S.log(q), x, total)


def _variance(items: list[Any], correction: Any) -> Any:
    n = len(items)
    mean = S.Add(*items) / n
    return S.Add(*[(i - mean) ** 2 for i in items]) / (n - number(correction))


def _correction(call: Call) -> Any:
    c = call.get("correction")
    if c is None:
        return 0 if call.get("unbiased") is False else 1
    return c


@register("var")
def _var(call: Call) -> np.ndarray:
    c = _correction(call)
    return reduce(call["self"], call.get("dim"), bool(call.get("keepdim", False)), lambda items, _: _variance(items, c))


@register("std")
def _std(call: Call) -> np.ndarray:
    return apply(S.sqrt, _var(call))


@register("var_mean")
def _var_mean(call: Call) -> tuple[np.ndarray, np.ndarray]:
    return _var(call), _mean(call)


@register("std_mean")
def _std_mean(call: Call) -> tuple[np.ndarray, np.ndarray]:
    return _std(call), _mean(call)


@register("linalg_vector_norm")
def _vector_norm(call: Call) -> np.ndarray:
    x, ord_ = call["self"], call["ord"]
    dim, keep = call.get("dim"), bool(call.get("keepdim", False))
    call.spend(np.size(x))
    real = np.abs(real_array(call.real("self")))
    if ord_ in (float("inf"), float("-inf")):
        return reduce(apply(S.Abs, x), dim, keep, pick("max" if ord_ > 0 else "min"), real)
    if ord_ == 0:
        return reduce(x, dim, keep, lambda items, reals: S.Integer(sum(1 for v in reals if v != 0)), real)
    p = number(ord_)
    if p == 2:
        return reduce(x, dim, keep, lambda items, _: S.sqrt(S.Add(*[i**2 for i in items])))
    if p == 1:
        return reduce(x, dim, keep, lambda items, _: S.Add(*[S.Abs(i) for i in items]))
    return reduce(x, dim, keep, lambda items, _: S.Add(*[S.Abs(i) ** p for i in items]) ** (1 / p))


def _scan(x: np.ndarray, dim: int, step: Callable[[Any, Any], Any]) -> np.ndarray:
    x = as_objects(x)
    if x.ndim == 0:
        return x.copy()
    moved = np.moveaxis(x, dim, -1)
    out = np.empty(moved.shape, dtype=object)
    for idx in np.ndindex(*moved.shape[:-1]):
        acc = None
        for k in range(moved.shape[-1]):
            acc = moved[idx + (k,)] if acc is None else step(acc, moved[idx + (k,)])
            out[idx + (k,)] = acc
    return np.moveaxis(out, -1, dim)


@register("cumsum")
def _cumsum(call: Call) -> np.ndarray:
    return _scan(call["self"], call["dim"], lambda a, b: a + b)


@register("cumprod")
def _cumprod(call: Call) -> np.ndarray:
    return _scan(call["self"], call["dim"], lambda a, b: a * b)


@register("logcumsumexp")
def _logcumsumexp(call: Call) -> np.ndarray:
    exps = _scan(apply(S.exp, call["self"]), call["dim"], lambda a, b: a + b)
    return apply(S.log, exps)


def gather_along(x: np.ndarray, dim: int, index: torch.Tensor) -> np.ndarray:
    """x's elements picked by an index tensor along dim (torch.gather's semantics)."""
    x = as_objects(x)
    idx = index.detach().numpy().astype(np.int64)
    if x.ndim == 0:
        return np.broadcast_to(x, idx.shape).copy()
    return np.take_along_axis(x, idx, axis=dim % x.ndim)


def _values_indices(values_at: int = 0, indices_at: int = 1) -> Callable[[Call], tuple[Any, ...]]:
    """Ops returning (values, indices) along a dimension: the values are the input at the indices."""

    def rule(call: Call) -> tuple[Any, ...]:
        x = call["self"]
        outputs = call.replay.current_outputs
        indices = outputs[indices_at].value
        dim = call.get("dim", -1)
        if isinstance(dim, (list, tuple)):
            dim = dim[0]
        if x.ndim == 0:
            return (x.copy(), None)
        reduced = indices.dim() < x.ndim  # keepdim=False: the dimension was dropped
        values = gather_along(x, dim, indices.unsqueeze(dim % x.ndim) if reduced else indices)
        if reduced:
            values = np.squeeze(values, axis=dim % x.ndim)
        result: list[Any] = [None] * len(outputs)
        result[values_at] = values
        return tuple(result)

    return rule


register("max.dim", "min.dim", "sort", "topk", "kthvalue", "median.dim", "nanmedian.dim", "mode", "cummax", "cummin",
         "sort.stable")(_values_indices())


@register("median.default", "nanmedian.default")
def _median_all(call: Call) -> np.ndarray:
    x, real = as_objects(call["self"]).reshape(-1), real_array(call.real("self")).reshape(-1)
    target = call.replay.current_outputs[0].value.item()
    hits = [k for k, v in enumerate(real) if v == target]
    if not hits:
        raise SymbolicUnsupported("the median's element could not be found at the point")
    return _scalar(x[hits[0]])


def _scalar(v: Any) -> np.ndarray:
    out = np.empty((), dtype=object)
    out[()] = v
    return out

