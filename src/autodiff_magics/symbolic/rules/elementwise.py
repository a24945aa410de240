"""Elementwise operators: arithmetic, the math library, activations (every keyword honoured).

Piecewise definitions (softplus's threshold, hardtanh, leaky_relu, ...) take the branch the real
run took at the point; ``Max``/``Min`` stay in the formula where their arguments are plain symbols
or numbers (``relu(x)`` reads ``Max(0, x)``, and a tie there is reported as a kink).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy
from sympy import Integer, Rational

from ..exact import number
from . import Call, apply, as_objects, real_array, register

S = sympy


def _unary(fn: Any, *names: str) -> None:
    def rule(call: Call) -> np.ndarray:
        x = call["self"]
        call.spend(np.size(x))
        return apply(fn, x)

    register(*names)(rule)


def _sigmoid(v: Any) -> Any:
    return 1 / (1 + S.exp(-v))


def _trunc(v: Any) -> Any:
    return S.sign(v) * S.floor(S.Abs(v))


for _fn, _names in [
    (S.sin, "sin"), (S.cos, "cos"), (S.tan, "tan"), (S.asin, "asin"), (S.acos, "acos"), (S.atan, "atan"),
    (S.sinh, "sinh"), (S.cosh, "cosh"), (S.tanh, "tanh"), (S.asinh, "asinh"), (S.acosh, "acosh"), (S.atanh, "atanh"),
    (S.exp, "exp"), (lambda v: 2**v, "exp2"), (lambda v: S.exp(v) - 1, "expm1"), (S.log, "log"),
    (lambda v: S.log(v) / S.log(2), "log2"), (lambda v: S.log(v) / S.log(10), "log10"), (lambda v: S.log(1 + v), "log1p"),
    (S.sqrt, "sqrt"), (lambda v: 1 / S.sqrt(v), "rsqrt"), (lambda v: 1 / v, "reciprocal"), (lambda v: -v, "neg"),
    (S.Abs, "abs"), (S.sign, "sign"), (S.sign, "sgn"), (S.erf, "erf"), (S.erfc, "erfc"), (_sigmoid, "sigmoid"),
    (S.floor, "floor"), (S.ceiling, "ceil"), (_trunc, "trunc"), (_trunc, "fix"), (lambda v: v - _trunc(v), "frac"),
    (lambda v: v**2, "square"), (lambda v: v * _sigmoid(v), "silu"), (lambda v: v * S.tanh(S.log(1 + S.exp(v))), "mish"),
    (lambda v: v * S.pi / 180, "deg2rad"), (lambda v: v * 180 / S.pi, "rad2deg"), (lambda v: S.log(_sigmoid(v)), "log_sigmoid"),
    (lambda v: -v * S.log(v), "special_entr"), (lambda v: v, "positive"), (lambda v: v, "lift_fresh"),
    (lambda v: S.Piecewise((1, S.Eq(v, 0)), (S.sin(S.pi * v) / (S.pi * v), True)) if v.free_symbols else (S.sin(S.pi * v) / (S.pi * v) if v != 0 else Integer(1)), "sinc"),
]:
    _unary(_fn, _names)


def _binary(fn: Any, *names: str, a: str = "self", b: str = "other") -> None:
    def rule(call: Call) -> np.ndarray:
        out = apply(fn, call[a], call[b])
        call.spend(out.size)
        return out

    register(*names)(rule)


_binary(lambda p, q: p * q, "mul")
_binary(S.atan2, "atan2", "arctan2")
_binary(lambda p, q: S.sqrt(p**2 + q**2), "hypot")
_binary(lambda p, q: p * S.log(q) if p != 0 else Integer(0), "xlogy")
_binary(lambda p, q: p * S.log(1 + q) if p != 0 else Integer(0), "special_xlog1py")
_binary(lambda p, q: S.log(S.exp(p) + S.exp(q)), "logaddexp")
_binary(lambda p, q: S.log(2**p + 2**q) / S.log(2), "logaddexp2")
_binary(lambda p, q: S.Abs(p) * (S.sign(q) if q.free_symbols else (1 if float(q) >= 0 else -1)), "copysign")
# C fmod: the sign of the dividend (trunc); remainder: the sign of the divisor (floor), as Python's %
_binary(lambda p, q: p - q * _trunc(p / q), "fmod")
_binary(lambda p, q: p - q * S.floor(p / q), "remainder")
_binary(lambda p, q: p**q, "pow", b="exponent")


@register("pow.Scalar")
def _pow_scalar(call: Call) -> np.ndarray:
    return apply(lambda p, q: p**q, call["self"], call["exponent"])


@register("add")
def _add(call: Call) -> np.ndarray:
    alpha = call.get("alpha", 1)
    return apply(lambda p, q: p + q if alpha == 1 else p + number(alpha) * q, call["self"], call["other"])


@register("sub")
def _sub(call: Call) -> np.ndarray:
    alpha = call.get("alpha", 1)
    return apply(lambda p, q: p - q if alpha == 1 else p - number(alpha) * q, call["self"], call["other"])


@register("rsub")
def _rsub(call: Call) -> np.ndarray:
    alpha = call.get("alpha", 1)
    return apply(lambda p, q: q - (p if alpha == 1 else number(alpha) * p), call["self"], call["other"])


@register("div")
def _div(call: Call) -> np.ndarray:
    mode = call.get("rounding_mode")
    if mode == "trunc":
        return apply(lambda p, q: _trunc(p / q), call["self"], call["other"])
    if mode == "floor":
        return apply(lambda p, q: S.floor(p / q), call["self"], call["other"])
    return apply(lambda p, q: p / q, call["self"], call["other"])


@register("round")
def _round_rule(call: Call) -> np.ndarray:
    decimals = call.get("decimals", 0) or 0
    scale = Integer(10) ** decimals
    # floor(v + 1/2) differs from round-half-to-even only at the ties, which are kinks anyway
    return apply(lambda v: S.floor(v * scale + Rational(1, 2)) / scale, call["self"])


# -- comparisons kept in the formula only where they are cheap ------------------------------------------


def _simple(v: Any) -> bool:
    return isinstance(v, (sympy.Symbol, sympy.Number))


def extreme(kind: str, a: np.ndarray, b: np.ndarray, ra: np.ndarray, rb: np.ndarray) -> np.ndarray:
    """Elementwise max/min: ``Max`` where both sides are plain, else the side larger at the point."""
    a, b = np.broadcast_arrays(as_objects(a), as_objects(b))
    ra, rb = np.broadcast_arrays(ra, rb)
    out = np.empty(a.shape, dtype=object)
    for idx in np.ndindex(*a.shape):
        p, q = a[idx], b[idx]
        if (_simple(p) and _simple(q)) or ra[idx] == rb[idx] or np.isnan(ra[idx]) or np.isnan(rb[idx]):
            out[idx] = S.Max(p, q) if kind == "max" else S.Min(p, q)
        else:
            out[idx] = p if (ra[idx] > rb[idx]) == (kind == "max") else q
    return out


@register("maximum", "fmax")
def _maximum(call: Call) -> np.ndarray:
    return extreme("max", call["self"], call["other"], real_array(call.real("self")), real_array(call.real("other")))


@register("minimum", "fmin")
def _minimum(call: Call) -> np.ndarray:
    return extreme("min", call["self"], call["other"], real_array(call.real("self")), real_array(call.real("other")))


@register("relu")
def _relu(call: Call) -> np.ndarray:
    x = call["self"]
    return extreme("max", x, as_objects(0), real_array(call.real("self")), np.zeros(()))


@register("clamp", "clip", "clamp_min", "clamp_max")
def _clamp(call: Call) -> np.ndarray:
    out, real = call["self"], real_array(call.real("self"))
    packet = str(call.op.overloadpacket).rstrip("_")
    lo = call.get("min") if packet != "aten.clamp_max" else None
    hi = call.get("max") if packet != "aten.clamp_min" else None
    if packet == "aten.clamp_max":
        hi = call.get("max")
    if lo is not None:
        lo_real = real_array(call.real("min"))
        out = extreme("max", out, lo, real, lo_real)
        real = np.maximum(real, lo_real)
    if hi is not None:
        out = extreme("min", out, hi, real, real_array(call.real("max")))
    return out


def _branch(call: Call, condition: np.ndarray, yes: Any, no: Any) -> np.ndarray:
    """Per element, the branch the real run took (condition computed on the recorded values)."""
    yes, no = np.broadcast_arrays(as_objects(yes), as_objects(no))
    condition = np.broadcast_to(condition, yes.shape)
    return np.where(condition, yes, no)


@register("softplus")
def _softplus(call: Call) -> np.ndarray:
    x, beta, threshold = call["self"], number(call["beta"]), call["threshold"]
    smooth = apply(lambda v: S.log(1 + S.exp(beta * v)) / beta, x)
    return _branch(call, real_array(call.real("self")) * float(beta) > threshold, x, smooth)


@register("gelu")
def _gelu(call: Call) -> np.ndarray:
    if call["approximate"] == "tanh":
        c = S.sqrt(Integer(2) / S.pi)
        return apply(lambda v: v * (1 + S.tanh(c * (v + Rational(44715, 1000000) * v**3))) / 2, call["self"])
    return apply(lambda v: v * (1 + S.erf(v / S.sqrt(2))) / 2, call["self"])


@register("elu")
def _elu(call: Call) -> np.ndarray:
    x = call["self"]
    alpha, scale, input_scale = number(call["alpha"]), number(call["scale"]), number(call["input_scale"])
    neg = apply(lambda v: scale * alpha * (S.exp(v * input_scale) - 1), x)
    return _branch(call, real_array(call.real("self")) > 0, apply(lambda v: scale * v, x), neg)


@register("celu")
def _celu(call: Call) -> np.ndarray:
    x, alpha = call["self"], number(call["alpha"])
    return _branch(call, real_array(call.real("self")) > 0, x, apply(lambda v: alpha * (S.exp(v / alpha) - 1), x))


@register("leaky_relu")
def _leaky_relu(call: Call) -> np.ndarray:
    x, slope = call["self"], number(call["negative_slope"])
    return _branch(call, real_array(call.real("self")) > 0, x, apply(lambda v: slope * v, x))


@register("hardtanh")
def _hardtanh(call: Call) -> np.ndarray:
    x, lo, hi = call["self"], call["min_val"], call["max_val"]
    real = real_array(call.real("self"))
    inside = _branch(call, real < lo, as_objects(lo), x)
    return _branch(call, real > hi, as_objects(hi), inside)


@register("hardsigmoid")
def _hardsigmoid(call: Call) -> np.ndarray:
    x, real = call["self"], real_array(call.real("self"))
    mid = apply(lambda v: v / 6 + Rational(1, 2), x)
    return _branch(call, real <= -3, as_objects(0), _branch(call, real >= 3, as_objects(1), mid))


@register("hardswish")
def _hardswish(call: Call) -> np.ndarray:
    x, real = call["self"], real_array(call.real("self"))
    mid = apply(lambda v: v * (v + 3) / 6, x)
    return _branch(call, real <= -3, as_objects(0), _branch(call, real >= 3, x, mid))


@register("threshold")
def _threshold(call: Call) -> np.ndarray:
    x = call["self"]
    return _branch(call, real_array(call.real("self")) <= call["threshold"], as_objects(call["value"]), x)


@register("softshrink")
def _softshrink(call: Call) -> np.ndarray:
    x, lam, real = call["self"], number(call["lambd"]), real_array(call.real("self"))
    return _branch(call, real > float(lam), apply(lambda v: v - lam, x),
                   _branch(call, real < -float(lam), apply(lambda v: v + lam, x), as_objects(0)))


@register("hardshrink")
def _hardshrink(call: Call) -> np.ndarray:
    x, lam, real = call["self"], float(call["lambd"]), real_array(call.real("self"))
    return _branch(call, np.abs(real) > lam, x, as_objects(0))


@register("logit")
def _logit(call: Call) -> np.ndarray:
    x, eps = call["self"], call.get("eps")
    if eps is not None:
        real = real_array(call.real("self"))
        x = _branch(call, real < eps, as_objects(eps), _branch(call, real > 1 - eps, as_objects(1 - eps), x))
    return apply(lambda v: S.log(v / (1 - v)), x)


@register("log_sigmoid_forward")
def _log_sigmoid_forward(call: Call) -> tuple[np.ndarray, None]:
    return apply(lambda v: -S.log(1 + S.exp(-v)), call["self"]), None


@register("lerp")
def _lerp(call: Call) -> np.ndarray:
    return apply(lambda s, e, w: s + w * (e - s), call["self"], call["end"], call["weight"])


@register("addcmul")
def _addcmul(call: Call) -> np.ndarray:
    value = number(call["value"])
    return apply(lambda s, a, b: s + value * a * b, call["self"], call["tensor1"], call["tensor2"])


@register("addcdiv")
def _addcdiv(call: Call) -> np.ndarray:
    value = number(call["value"])
    return apply(lambda s, a, b: s + value * a / b, call["self"], call["tensor1"], call["tensor2"])


@register("nan_to_num")
def _nan_to_num(call: Call) -> np.ndarray:
    return call["self"]  # finite at the point (the corpus and the row refuse non-finite values)


@register("clone", "alias", "detach", "lift_fresh_copy", "contiguous")
def _same(call: Call) -> np.ndarray:
    return call["self"]


@register("_to_copy")
def _to_copy(call: Call) -> np.ndarray:
    source = call.args["self"].dtype
    target = call.get("dtype") or source
    if target.is_floating_point and source.is_floating_point and target.itemsize < source.itemsize:
        note = (f"the cell rounds to {str(target).replace('torch.', '')}: the formula is the exact, unrounded "
                "arithmetic, so its value differs from f's by that rounding")
        if note not in call.replay.notes:
            call.replay.notes.append(note)
    return call["self"]


# -- special functions SymPy knows exactly (torch's decompositions of them are approximations) -------------


@register("polygamma")
def _polygamma(call: Call) -> np.ndarray:
    n = int(call["n"])
    return apply(lambda v: S.polygamma(n, v), call["self"])


_unary(lambda v: S.polygamma(0, v), "digamma", "special_psi", "special_digamma")
_unary(lambda v: S.log(S.Abs(S.gamma(v))), "lgamma", "special_gammaln")  # log|Γ|, as torch (real for x < 0)
_unary(S.erfinv, "erfinv", "special_erfinv")
_unary(lambda v: S.sqrt(2) * S.erfinv(2 * v - 1), "special_ndtri")
_unary(lambda v: S.log(S.erfc(-v / S.sqrt(2)) / 2), "special_log_ndtr")
_unary(lambda v: S.exp(v**2) * S.erfc(v), "special_erfcx")
_unary(lambda v: S.erfc(-v / S.sqrt(2)) / 2, "special_ndtr")


@register("mvlgamma", "special_multigammaln")
def _mvlgamma(call: Call) -> np.ndarray:
    p = int(call["p"])
    const = Rational(p * (p - 1), 4) * S.log(S.pi)
    return apply(lambda v: const + S.Add(*[S.loggamma(v + Rational(1 - j, 2)) for j in range(1, p + 1)]), call["self"])
