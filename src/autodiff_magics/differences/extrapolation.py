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


def extrapolate(d: np.ndarray, half: np.ndarray, rows: list[int], nominal_steps: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Richardson's extrapolation to h = 0 of the central differences in ``rows`` (the polynomial
    in h² through them, for the steps actually taken, cancels the h², h⁴, … terms), and its
    round-off gain Σ|wₖ|/hₖ per unit of noise in each f. ``nominal_steps``: the caller found
    every step exactly k·h (:func:`_nominal_steps`), so the ratios need no check here."""
    picked = half[rows]
    nominal = _nominal(tuple(rows))
    if nominal_steps:
        w = nominal[1]
    else:
        s = (picked / picked[0]) ** 2  # (m, n), well scaled
        # steps exactly k·h (the usual case): the weights are constants, made by the same arithmetic
        w = nominal[1] if (s == nominal[0]).all() else _lagrange_at_zero(s)
    return np.add.reduce(w * d[rows], axis=0), np.add.reduce(np.abs(w) / picked, axis=0)


_NOMINAL: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = {}

#: the step ratios the central scheme's extrapolations divide by: (h₂, h₃, h₄)/h₁ and (h₃, h₄)/h₂
_FROM_FIRST = np.array([[2.0], [3.0], [4.0]])
_FROM_SECOND = np.array([[1.5], [2.0]])


def _nominal_steps(half: np.ndarray) -> bool:
    """Whether every ratio the extrapolations in :func:`central` form is the nominal one exactly
    (then each of their ``s`` equals :func:`_nominal`'s bit for bit, and one check does for all)."""
    if MULTIPLES != (1, 2, 3, 4) or half.shape[0] != 4:
        return False
    return bool((half[1:] / half[0] == _FROM_FIRST).all() and (half[2:] / half[1] == _FROM_SECOND).all())


def _nominal(rows: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """For steps exactly MULTIPLES[rows]·h: the (m, 1) ratios s and their Lagrange weights, made
    by the same arithmetic as the general case, so either way gives the same bits."""
    found = _NOMINAL.get(rows)
    if found is None:
        k = np.array([MULTIPLES[r] for r in rows], dtype=float)[:, None]
        s = (k / k[0]) ** 2
        found = _NOMINAL[rows] = (s, _lagrange_at_zero(s))
    return found


def _lagrange_at_zero(s: np.ndarray) -> np.ndarray:
    """Per column, the Lagrange weights at 0 of the nodes ``s`` (rows): wₖ = Πⱼ≠ₖ sⱼ/(sⱼ − sₖ)."""
    weights = []
    for k in range(len(s)):
        w = np.ones_like(s[0])
        for j in range(len(s)):
            if j != k:
                w = w * s[j] / (s[j] - s[k])
        weights.append(w)
    return np.stack(weights)


@dataclass
class Central:
    """Two extrapolations per column, each a (value, truncation bound, round-off gain)."""

    candidates: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
    sigma: np.ndarray  # f's noise per evaluation, one sample per column (0 where f jumps)
    smooth: np.ndarray  # f at the point, extrapolated from the even parts
    scale: np.ndarray  # largest |f| among each column's evaluations
    #: where f jumps within the column's steps: one step between neighbouring points carries
    #: most of f's change there, and is no round-off
    jump: np.ndarray
    jump_at: np.ndarray  # the jump's place, in base steps from x (−3.5 … 3.5)
    jump_size: np.ndarray

    def pooled(self) -> float:
        """Root mean square of the noise samples, columns with a jump left out."""
        kept = self.sigma[~self.jump]
        return float(np.sqrt(np.mean(kept**2))) if kept.size else 0.0

    def level(self, eps: float, floor: float = 0.0, pooled: float | None = None) -> np.ndarray:
        """The noise each column's bound uses: its own sample, the pooled one (unless given),
        ε·|f| and ``floor``, whichever is largest."""
        pooled = self.pooled() if pooled is None else pooled
        return np.maximum.reduce([NOISE_FACTOR * self.sigma, np.full_like(self.sigma, NOISE_FACTOR * pooled), eps * self.scale, np.full_like(self.sigma, floor)])

    def bound(self, level: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per column, the candidate with the smaller bound at this noise: (value, bound, round-off).
        Where f jumps the bound widens by |value|: the differences cannot tell the slope from 0."""
        (v4, t4, g4), (v6, t6, g6) = self.candidates
        e4, e6 = t4 + g4 * level, t6 + g6 * level
        pick6 = e6 < e4
        value = np.where(pick6, v6, v4)
        bound = np.where(pick6, e6, e4) + np.where(self.jump, np.abs(value), 0.0)
        return value, bound, np.where(pick6, g6, g4) * level


def central(fp: np.ndarray, fm: np.ndarray, tp: np.ndarray, tm: np.ndarray, f0: float | None, eps: float) -> Central:
    """Richardson on central differences: ``fp[k], fm[k]`` (rows k = 0…3, one column each) are
    f(x + tp[k]), f(x − tm[k]) for the k-th multiple of the step; ``f0`` = f(x) when evaluated."""
    with np.errstate(all="ignore"):
        half = (tp + tm) / 2
        d = (fp - fm) / (2 * half)
        nominal = _nominal_steps(half)
        v4, g4 = extrapolate(d, half, [0, 1], nominal)
        v6, g6 = extrapolate(d, half, [0, 1, 2], nominal)
        coarse4, _ = extrapolate(d, half, [1, 3], nominal)
        coarse6, _ = extrapolate(d, half, [1, 2, 3], nominal)
        smooth, _ = extrapolate((fp + fm) / 2, half, [0, 1], nominal)
        sigma = np.abs(odd_residual() @ (fp - fm)) / math.sqrt(2)
        scale = np.max(np.abs(np.concatenate([fp, fm])), axis=0)
        if f0 is not None:
            scale = np.maximum(scale, abs(f0))
        jump, jump_at, jump_size = _jumps(fp, fm, f0, eps * scale)
        sigma = np.where(jump, 0.0, sigma)
        candidates = [(v4, np.abs(v4 - coarse4), g4), (v6, np.abs(v6 - coarse6), g6)]
        return Central(candidates, sigma, smooth, scale, jump, jump_at, jump_size)


def _jumps(fp: np.ndarray, fm: np.ndarray, f0: float | None, rounding: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column: whether one step between neighbouring points (x − 4h … x + 4h) carries more than
    3/4 of f's total variation there and ≥ 10⁶ round-offs, where, and by how much. Smooth f
    spreads its change over the 8 steps (¼ at most, for x² at 0), noise over two at least."""
    rows = [fm[::-1], fp] if f0 is None else [fm[::-1], np.full((1, fp.shape[1]), f0), fp]
    ordered = np.concatenate(rows)
    places = np.array([-k for k in MULTIPLES[::-1]] + ([] if f0 is None else [0]) + list(MULTIPLES), dtype=float)
    steps = np.diff(ordered, axis=0)
    size = np.abs(steps)
    where = np.argmax(np.where(np.isfinite(size), size, -1.0), axis=0)
    biggest = size[where, np.arange(size.shape[1])]
    jump = np.isfinite(size).all(axis=0) & (biggest > 0.75 * size.sum(axis=0)) & (biggest > ROUGH * rounding)
    return jump, (places[where] + places[where + 1]) / 2, steps[where, np.arange(size.shape[1])]


def rounded(values: np.ndarray, dtype: Any) -> np.ndarray:
    """Values as the dtype stores them (as float64)."""
    import torch

    if dtype == torch.float64:
        return np.asarray(values, dtype=np.float64)
    if dtype in (torch.float32, torch.float16):
        return np.asarray(values, dtype=np.float64).astype(np.float32 if dtype == torch.float32 else np.float16).astype(np.float64)

    return torch.from_numpy(np.asarray(values, dtype=np.float64)).to(dtype).double().numpy()
