"""Operators affine in each floating input: convolutions, pooling by averages, accumulating scatters.

Such an operator is ``c + Σ A·x + Σ B·x·w`` in its variable inputs (the constant ones fixed at
their values): running it on zeros and on basis tensors gives every coefficient exactly — the
operator's own code decides strides, padding, dilation, groups, ``include_self``, the reduction —
and the rule then checks the formula against the recorded output at the point, so an operator
that is not affine after all is refused rather than written wrong.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import sympy as S
import torch

from . import Call, register, single_thread
from ..exact import SymbolicUnsupported, number

#: most evaluations of the operator one rule may spend finding its coefficients
EVALUATIONS = 3_000

LINEAR = (
    "convolution", "_convolution", "avg_pool1d", "avg_pool2d", "avg_pool3d", "_adaptive_avg_pool2d", "_adaptive_avg_pool3d",
    "adaptive_avg_pool1d", "index_add", "scatter_add", "scatter_reduce.two", "index_reduce", "segment_reduce",
    "_embedding_bag", "_embedding_bag_forward_only", "put", "col2im", "upsample_linear1d", "upsample_bilinear2d",
    "upsample_bicubic2d", "upsample_trilinear3d", "_upsample_bilinear2d_aa", "_upsample_bicubic2d_aa", "grid_sampler_2d",
    "grid_sampler_3d", "_unsafe_masked_index_put_accumulate", "index_put_accumulate",
)


def affine(call: Call) -> tuple[np.ndarray | None, ...]:
    """The outputs as exact affine (and bilinear) forms of the variable floating inputs."""
    with single_thread():
        return _affine(call)


def _affine(call: Call) -> tuple[np.ndarray | None, ...]:
    from ..recording import TensorRef

    slots: list[tuple[str, TensorRef, np.ndarray]] = []
    fixed: dict[str, Any] = {}
    for arg in call.op._schema.arguments:
        value = call.args[arg.name]
        refs = value if isinstance(value, list) else [value]
        for k, ref in enumerate(refs):
            key = arg.name if not isinstance(value, list) else f"{arg.name}.{k}"
            if isinstance(ref, TensorRef):
                if ref.floating and call.replay.symbolic(ref):
                    objects = call[key]
                    if any(getattr(v, "free_symbols", None) for v in objects.flat):
                        slots.append((key, ref, objects))
                        continue
                fixed[key] = ref.value
    if not slots:
        return tuple(None for _ in call.replay.current_outputs)
    sizes = [o.size for _, _, o in slots]
    pairs = list(itertools.combinations(range(len(slots)), 2))
    cost = 1 + sum(sizes) + sum(sizes[a] * sizes[b] for a, b in pairs)
    if cost > EVALUATIONS:
        raise SymbolicUnsupported(f"{call.op.overloadpacket} on these sizes needs {cost:,} evaluations to be written exactly, too many")

    zeros = {key: torch.zeros(ref.shape, dtype=ref.dtype) for key, ref, _ in slots}

    def run(basis: dict[int, int]) -> list[np.ndarray | None]:
        call.replay.budget.check_time()
        values = dict(fixed)
        values.update(zeros)
        for s, i in basis.items():
            key, ref, _ = slots[s]
            t = torch.zeros(ref.shape, dtype=ref.dtype)
            t.view(-1)[i] = 1
            values[key] = t
        return [_numpy(o) for o in _outputs(call, values)]

    zero = run({})
    single = [[_minus(run({s: i}), zero) for i in range(sizes[s])] for s in range(len(slots))]
    terms: list[list[list[Any]] | None] = [None if z is None else [[v] for v in z.reshape(-1)] for z in zero]
    flats = [o.reshape(-1) for _, _, o in slots]
    for s in range(len(slots)):
        for i, delta in enumerate(single[s]):
            _accumulate(terms, delta, flats[s][i])
    for a, b in pairs:
        for i in range(sizes[a]):
            for j in range(sizes[b]):
                both = _minus(_minus(_minus(run({a: i, b: j}), single[a][i]), single[b][j]), zero)
                _accumulate(terms, both, flats[a][i] * flats[b][j])
    shaped = tuple(None if t is None else _sums(t).reshape(z.shape) for t, z in zip(terms, zero))
    _verify(call, shaped, slots)
    return shaped


def _outputs(call: Call, values: dict[str, Any]) -> list[Any]:
    positional: list[Any] = []
    keywords: dict[str, Any] = {}
    for arg in call.op._schema.arguments:
        value = call.args[arg.name]
        if isinstance(value, list):
            v = [values.get(f"{arg.name}.{k}", x) for k, x in enumerate(value)]
        else:
            v = values.get(arg.name, value)
        if arg.kwarg_only:
            keywords[arg.name] = v
        else:
            positional.append(v)
    out = call.op(*positional, **keywords)
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _numpy(o: Any) -> np.ndarray | None:
    if isinstance(o, torch.Tensor) and o.is_floating_point():
        return o.detach().to(torch.float64).numpy().copy()
    return None


def _minus(a: list[np.ndarray | None], b: list[np.ndarray | None]) -> list[np.ndarray | None]:
    return [None if x is None else x - y for x, y in zip(a, b)]


def _accumulate(terms: list[list[list[Any]] | None], delta: list[np.ndarray | None], term: Any) -> None:
    """Append coefficient·term to every output element the coefficient reaches."""
    for t, d in zip(terms, delta):
        if t is None or d is None:
            continue
        flat = d.reshape(-1)
        for k in np.flatnonzero(flat):
            t[k].append((float(flat[k]), term))


def _sums(terms: list[list[Any]]) -> np.ndarray:
    numbers: dict[float, Any] = {}

    def coefficient(c: float) -> Any:
        if c not in numbers:
            numbers[c] = number(c)
        return numbers[c]

    out = np.empty(len(terms), dtype=object)
    for k, (constant, *rest) in enumerate(terms):
        out[k] = S.Add(number(float(constant)), *[coefficient(c) * t for c, t in rest])
    return out


def _verify(call: Call, shaped: tuple[np.ndarray | None, ...], slots: list[Any]) -> None:  # noqa: ARG001
    """The formula at the point must give the recorded output (else the operator is not affine)."""
    substitution = call.replay.point
    for expr_arr, ref in zip(shaped, call.replay.current_outputs):
        if expr_arr is None or ref is None or getattr(ref, "value", None) is None:
            continue
        expected = ref.value.detach().to(torch.float64).reshape(-1).numpy()
        got = np.array([float(S.sympify(e).xreplace(substitution).evalf(20)) for e in expr_arr.reshape(-1)], dtype=np.float64)
        if not np.allclose(got, expected, rtol=1e-9, atol=1e-9 * max(1.0, float(np.max(np.abs(expected), initial=0.0)))):
            raise SymbolicUnsupported(f"{call.op.overloadpacket} is not affine in its inputs here, so it has no exact rule")


register(*LINEAR)(affine)
