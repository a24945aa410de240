"""Richardson's extrapolation of central differences, and the constants every scheme shares.

The central scheme evaluates f at x ± k·h, k = 1…4. Per column (a coordinate, or a direction)
it offers two values: O(h⁴) from the (h, 2h) pair, bounded by its distance to the (2h, 4h) one
(≈ 15× its truncation error), and O(h⁶) from (h, 2h, 3h), bounded by its distance to
(2h, 3h, 4h); each bound adds round-off, gain × noise, and the smaller bound wins. The odd parts
f(x+kh) − f(x−kh) fit a·k + b·k³ + c·k⁵ up to a residual that is noise alone (the k⁷ term is
10⁻²¹ in float64 at this step): that is how f's noise is measured at the shifted points.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

#: how many times an estimated error a difference may be off before it counts as a disagreement
SAFETY = 8.0
#: multiples of the base step at which the central scheme evaluates f, on both sides
MULTIPLES = (1, 2, 3, 4)
#: the central base step never exceeds this share of max(1, |x|), so x ± 4h stays within x ± |x|/2
MAX_CENTRAL_STEP = 1 / 8
#: a noise estimate from a few samples is scaled by this to bound the noise it samples
NOISE_FACTOR = 3.0
#: measured noise above this many times what rounding explains means f is not smooth at the step's
#: scale (a fine staircase such as round(x, 3)): the differences then see a trend, and their bound
#: widens by |value| (they cannot tell the derivative from 0)
ROUGH = 1e6

Evaluate = Callable[[Mapping[str, Any]], float]


def default_step(scheme: str, eps: float) -> float:
    """The relative step that balances truncation and round-off for this scheme and dtype:
    ε^(1/5) for central (extrapolated, O(h⁴)), √ε for forward (O(h))."""
    return min(eps**0.2, MAX_CENTRAL_STEP) if scheme == "central" else math.sqrt(eps)


_ODD_RESIDUAL: np.ndarray | None = None


def odd_residual() -> np.ndarray:
    """Unit vector w with w·(o₁…o₄) = 0 for every oₖ = a·k + b·k³ + c·k⁵."""
    global _ODD_RESIDUAL
    if _ODD_RESIDUAL is None:
        k = np.array(MULTIPLES, dtype=float)
        _ODD_RESIDUAL = np.linalg.svd(np.stack([k, k**3, k**5]))[2][-1]
    return _ODD_RESIDUAL


def extrapolate(d: np.ndarray, half: np.ndarray, rows: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Richardson's extrapolation to h = 0 of the central differences in ``rows`` (the polynomial
    in h² through them, for the steps actually taken, cancels the h², h⁴, … terms), and its
    round-off gain Σ|wₖ|/hₖ per unit of noise in each f."""
    s = (half[rows] / half[rows[0]]) ** 2  # (m, n), well scaled
    weights = []
    for k in range(len(rows)):  # Lagrange weights at 0: wₖ = Πⱼ≠ₖ sⱼ/(sⱼ − sₖ)
        w = np.ones_like(s[0])
        for j in range(len(rows)):
            if j != k:
                w = w * s[j] / (s[j] - s[k])
        weights.append(w)
    w = np.stack(weights)
    return np.sum(w * d[rows], axis=0), np.sum(np.abs(w) / half[rows], axis=0)


@dataclass
class Central:
    """Two extrapolations per column, each a (value, truncation bound, round-off gain)."""

    candidates: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
    sigma: np.ndarray  # f's noise per evaluation, one sample per column
    smooth: np.ndarray  # f at the point, extrapolated from the even parts
    scale: np.ndarray  # largest |f| among each column's evaluations

    def level(self, eps: float, floor: float = 0.0, pooled: float | None = None) -> np.ndarray:
        """The noise each column's bound uses: its own sample, the pooled one (root mean square
        over the columns unless given), ε·|f| and ``floor``, whichever is largest."""
        if pooled is None:
            pooled = float(np.sqrt(np.mean(self.sigma**2))) if self.sigma.size else 0.0
        return np.maximum.reduce([NOISE_FACTOR * self.sigma, np.full_like(self.sigma, NOISE_FACTOR * pooled), eps * self.scale, np.full_like(self.sigma, floor)])

    def bound(self, level: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per column, the candidate with the smaller bound at this noise: (value, bound, round-off)."""
        (v4, t4, g4), (v6, t6, g6) = self.candidates
        e4, e6 = t4 + g4 * level, t6 + g6 * level
        pick6 = e6 < e4
        return np.where(pick6, v6, v4), np.where(pick6, e6, e4), np.where(pick6, g6, g4) * level


def central(fp: np.ndarray, fm: np.ndarray, tp: np.ndarray, tm: np.ndarray, f0: float) -> Central:
    """Richardson on central differences: ``fp[k], fm[k]`` (rows k = 0…3, one column each) are
    f(x + tp[k]), f(x − tm[k]) for the k-th multiple of the step."""
    with np.errstate(all="ignore"):
        half = (tp + tm) / 2
        d = (fp - fm) / (2 * half)
        v4, g4 = extrapolate(d, half, [0, 1])
        v6, g6 = extrapolate(d, half, [0, 1, 2])
        coarse4, _ = extrapolate(d, half, [1, 3])
        coarse6, _ = extrapolate(d, half, [1, 2, 3])
        smooth, _ = extrapolate((fp + fm) / 2, half, [0, 1])
        sigma = np.abs(odd_residual() @ (fp - fm)) / math.sqrt(2)
        scale = np.maximum(np.max(np.abs(np.concatenate([fp, fm])), axis=0), abs(f0))
        return Central([(v4, np.abs(v4 - coarse4), g4), (v6, np.abs(v6 - coarse6), g6)], sigma, smooth, scale)


def rounded(values: np.ndarray, dtype: Any) -> np.ndarray:
    """Values as the dtype stores them (as float64)."""
    import torch

    if dtype == torch.float64:
        return np.asarray(values, dtype=np.float64)
    if dtype in (torch.float32, torch.float16):
        return np.asarray(values, dtype=np.float64).astype(np.float32 if dtype == torch.float32 else np.float16).astype(np.float64)

    return torch.from_numpy(np.asarray(values, dtype=np.float64)).to(dtype).double().numpy()
