"""The directional check: a gradient against central differences along a few random directions.

As JAX's ``check_grads`` does: k random ±1 directions v, and for each the extrapolated central
difference of t ↦ f(x + t·v), with the same bound as per coordinate (:mod:`.extrapolation`), so a
million-parameter gradient costs 8·k evaluations.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..arrays import largest_abs
from .extrapolation import MULTIPLES, NOISE_FACTOR, ROUGH, Evaluate, central, default_step


@dataclass
class Directional:
    """For each random direction v, the extrapolated central difference along v and its bound."""

    directions: int
    #: the step t along v (a power of two: x ± k·t is exact); each element moves by t
    step: float
    differences: list[float]  # the difference along each v, ≈ g·v
    errors: list[float]  # its error bound
    evaluations: int
    seed: int
    #: f's noise near the point, in f's units (the largest used by a bound)
    noise: float = 0.0


def random_directions(points: Mapping[str, Any], k: int, seed: int) -> list[dict[str, Any]]:
    """k random directions with entries ±1 (Rademacher), drawn on the CPU from a seeded generator
    so that every device sees the same directions; ±1 entries keep every coordinate's step equal.
    Each is an int8 tensor of its point's shape: torch adds it to a float point as exactly as a
    float ±1 (``torch.add(x, v, alpha=t)``), and 10⁶ signs take 1 MB, not 8 MB of fresh pages per
    direction (:func:`..arrays.signed_sum` dots a gradient with one)."""
    import torch

    generator = torch.Generator(device="cpu").manual_seed(seed)
    out = []
    for _ in range(k):
        v = {}
        for name, x in points.items():
            # one random byte per 8 signs (a uniform byte's bits are independent fair coins), its
            # bits lowest first; by NumPy on one thread (torch's elementwise ops here wait for a
            # second thread that a busy machine may not have)
            n = int(x.numel())
            drawn = torch.randint(0, 256, ((n + 7) // 8,), generator=generator, dtype=torch.uint8)
            signs = np.unpackbits(drawn.numpy(), bitorder="little")[:n].view(np.int8)
            signs *= np.int8(2)
            signs -= np.int8(1)  # ±1
            v[name] = torch.from_numpy(signs).reshape(x.shape).to(device=x.device)
        out.append(v)
    return out


def moved(x: Any, v: Any, alpha: float, out: Any) -> Any:
    """x + alpha·v into ``out`` (x's dtype and shape) for a direction v of ±1 int8 signs: the signs
    copied in as floats, then one add, both vectorized (torch's mixed-dtype add casts element by
    element: 1.5-3x slower here). alpha·(±1) is exact, so this is x + alpha·v to the last bit."""
    import torch

    out.copy_(v)
    return torch.add(x.detach(), out, alpha=alpha, out=out)


def directional(
    evaluate: Evaluate,
    points: Mapping[str, Any],
    directions: list[dict[str, Any]],
    eps: float,
    relative_step: float | None = None,
    seed: int = 0,
    *,
    noise_level: float | None = None,
    per_direction: int = 8,
    noise: Callable[[float, Mapping[int, float], Mapping[str, Any]], float] | None = None,
    top: float | None = None,
) -> Directional:
    """Extrapolated central differences of f along each direction, with an error bound.

    ``per_direction`` = 8 evaluates x ± k·t·v, k = 1…4, and bounds the value as per coordinate
    (f's noise measured along the directions); 4 evaluates ±t, ±2t only, at the plain scheme's
    step ε^(1/3), for half the cost: the (t, 2t) extrapolation, bounded by the plain difference's
    Richardson estimate |d(t) − d(2t)|/3 (far above the extrapolation's own error) plus round-off
    from ``noise_level`` (from :func:`.noise.noise`; ε·|f| when not given). The step t is a power of
    two near rel·max(1, max|x|)/√n for n elements, so that x ± k·t is exact and the point moves by
    the same distance in norm whatever n. Inputs round at their first use, so the noise is at least
    2ε·max|x|·|g·v|. The shifted points are written into one buffer per variable, refilled for
    each evaluation: ``evaluate`` reads them and keeps none (:class:`..gradient.Evaluation` copies
    the variables a cell edits in place). ``noise(t, known, buffers)``, when ``noise_level`` is not given:
    f's noise measured after the evaluations, given the step t, f at x + k·t·v along the first
    direction (k = ±1, ±2), which it may reuse (:func:`.noise.noise`'s ``unit`` and ``known``),
    and the buffers, free by then."""
    import torch

    if per_direction not in (4, 8):
        raise ValueError("per_direction is 4 or 8")
    multiples = MULTIPLES if per_direction == 8 else MULTIPLES[:2]
    rel = relative_step if relative_step is not None else (default_step("central", eps) if per_direction == 8 else eps ** (1 / 3))
    if top is None:  # max|x| over every element (the caller may know it already)
        top = max((largest_abs(x) for x in points.values()), default=0.0)
    n = max(1, sum(int(x.numel()) for x in points.values()))
    t = 2.0 ** round(math.log2(rel * max(1.0, top) / math.sqrt(n)))
    steps = np.repeat(np.array(multiples, dtype=float)[:, None] * t, len(directions), axis=1)
    fp, fm = np.empty_like(steps), np.empty_like(steps)
    # one buffer per variable, refilled with x ± k·t·v for each evaluation (the evaluation copies
    # it again when the cell edits its variables in place, and keeps no tensor after it returns)
    buffers = {name: torch.empty_like(x.detach()) for name, x in points.items()}

    def shifted(v: Mapping[str, Any], alpha: float) -> dict[str, Any]:
        return {name: moved(x, v[name], alpha, buffers[name]) for name, x in points.items()}

    for j, v in enumerate(directions):
        for m, k in enumerate(multiples):
            fp[m, j] = evaluate(shifted(v, k * t))
            fm[m, j] = evaluate(shifted(v, -k * t))
    if noise_level is None and noise is not None and directions:
        known = {k * sign: float((fp if sign > 0 else fm)[m, 0]) for m, k in enumerate(multiples) for sign in (1, -1)}
        noise_level = noise(t, known, buffers)
    floor = noise_level or 0.0
    if per_direction == 8:
        c = central(fp, fm, steps, steps, None, eps)
        slope = np.abs(c.candidates[0][0])
        level = c.level(eps, floor)
        level = np.maximum(level, 2 * eps * top * np.where(np.isfinite(slope), slope, 0.0))
        value, errors, _ = c.bound(level)
        measured = NOISE_FACTOR * c.pooled()
        explained = eps * (float(np.max(c.scale, initial=0.0)) + top * float(np.max(slope, initial=0.0)))
        if measured > ROUGH * explained:  # not smooth at the step's scale: the trend, not the derivative
            errors = errors + np.abs(value)
    else:
        with np.errstate(all="ignore"):
            d1, d2 = (fp[0] - fm[0]) / (2 * t), (fp[1] - fm[1]) / (4 * t)
            value = (4 * d1 - d2) / 3
            scale = np.max(np.abs(np.concatenate([fp, fm])), axis=0)
            level = np.maximum.reduce([eps * scale, np.full_like(scale, floor), 2 * eps * top * np.abs(d1)])
            errors = np.abs(d1 - d2) / 3 + 1.5 * level / t
    return Directional(
        len(directions), t, value.tolist(), errors.tolist(), 2 * len(multiples) * len(directions), seed,
        float(np.max(level, initial=0.0)),
    )
