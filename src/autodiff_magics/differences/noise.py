"""f's own noise at a point: how far one evaluation may be off from the smooth function.

Round-off is measured, not assumed to be ε·|f|: where f is a small difference of large terms
(``(x**2).sum() - 1`` at [0.6, 0.8] is 0, its terms are 1) the noise is ε·1, not 0; where f
cancels catastrophically (``(1 - cos x)/x**2`` at 10⁻⁸ computes 0, the exact value is 1/2) it is
of the order of f itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .directional import moved, random_directions
from .extrapolation import NOISE_FACTOR, Evaluate

#: offsets, in units of √ε·max(1, |xᵢ|) along a random ±1 direction, where :func:`noise` evaluates f
NOISE_OFFSETS = (1, 2, 3)


def noise(evaluate: Evaluate, points: Mapping[str, Any], eps: float, f0: float, *, seed: int = 0,
          direction: Mapping[str, Any] | None = None, unit: float | None = None,
          known: Mapping[int, float] | None = None, buffers: Mapping[str, Any] | None = None) -> float:
    """f's own noise at the point, in f's units: about the most one evaluation is off from the smooth f.

    f is evaluated at x + k·s·v, k = ±1, ±2, ±3 (6 evaluations), s = √ε·max(1, |xᵢ|), v a random
    ±1 direction. On each side f is a quadratic in k to within 10⁻²⁴ (float64), so each side's
    third difference f₃ − 3f₂ + 3f₁ − f₀ is round-off alone (a kink at the point, as abs at 0, is
    no noise: the sides are fitted apart), however much of it cancellation adds:
    ``(x**2).sum() - 1`` at [0.6, 0.8] (f = 0) gets ≈ 2·10⁻¹⁶, and ``(1 - cos x)/x**2`` at 10⁻⁸
    (f = 0 where the exact value is 1/2) gets ≈ 0.7. Never below ε·max|f|; inf when f is not
    finite next to a finite f(x). ``direction``: v when the caller drew it already (the first of
    :func:`.random_directions` for this seed). ``unit``: step every element by ``unit``·v instead
    (the directional check's own step, when it is as fine), and ``known``: f at x + k·unit·v for
    the k already evaluated (the directional check's ±1, ±2), so only the others run; ``buffers``:
    tensors like the points to write the shifted points into (allocated here otherwise)."""
    import torch

    v = direction if direction is not None else random_directions(points, 1, seed)[0]
    if unit is not None:
        offsets, scale = v, unit
    else:
        offsets = {name: x.detach().abs().clamp(min=1.0).mul_(math.sqrt(eps)).mul_(v[name]) for name, x in points.items()}
        scale = 1.0

    buffers = dict(buffers or {})  # refilled for each evaluation

    def at(k: int) -> float:
        if known is not None and k in known:
            return known[k]
        if not buffers:
            buffers.update({name: torch.empty_like(x.detach()) for name, x in points.items()})
        if unit is not None:  # offsets are the signs themselves
            return evaluate({name: moved(x, offsets[name], k * scale, buffers[name]) for name, x in points.items()})
        return evaluate({name: torch.add(x.detach(), offsets[name], alpha=k * scale, out=buffers[name]) for name, x in points.items()})

    right = np.array([f0, *(at(k) for k in NOISE_OFFSETS)], dtype=float)
    left = np.array([f0, *(at(-k) for k in NOISE_OFFSETS)], dtype=float)
    scale = float(np.max(np.abs(np.concatenate([right, left]))))
    if not math.isfinite(scale):
        return math.inf if math.isfinite(f0) else math.nan
    third = np.array([-1.0, 3.0, -3.0, 1.0])  # on f₀…f₃; Σ third² = 20
    sigma = math.sqrt((float(third @ right) ** 2 + float(third @ left) ** 2) / 40)
    return max(NOISE_FACTOR * sigma, eps * scale)
