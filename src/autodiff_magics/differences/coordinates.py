"""Central and forward differences for every coordinate, each with an error bound.

Central: f at x ± k·h, k = 1…4 (8 evaluations per coordinate), h = ε^(1/5)·max(1, |xᵢ|) rounded so
that x + h is representable; Richardson's extrapolation, bounded by the next extrapolation plus
round-off from the noise measured at those points (see :mod:`.extrapolation`). Forward: the
plain one-sided (f(x+h) − f(x))/h the lesson teaches, h = √ε·max(1, |xᵢ|), with a second step 2h
for its error (2·|d(2h) − d(h)|, twice the leading term) and round-off from :func:`.noise.noise`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .batch import EvaluateBatch, evaluate_all, shifted
from .extrapolation import MULTIPLES, NOISE_FACTOR, ROUGH, Evaluate, central, default_step, rounded
from .noise import NOISE_OFFSETS, noise

#: a noise sample this many times what rounding explains is checked against f's noise at the point
SUSPECT = 1e3
#: most coordinates stepped around again (16 evaluations each at most)
REFINE_LIMIT = 64


@dataclass
class Differences:
    """Per-coordinate differences: values, error bounds and steps, per variable (f's units per x's)."""

    scheme: str
    gradient: dict[str, np.ndarray]
    #: bound on |difference − true derivative|: truncation (Richardson) + round-off (noise)
    error: dict[str, np.ndarray]
    #: the base step h actually taken per coordinate (x + h is representable)
    steps: dict[str, np.ndarray]
    relative_step: float
    #: evaluations of f, counting a batch's points and the plain ones that checked it
    evaluations: int
    #: (variable, index, left slope, right slope) where f has a kink within the step
    kinks: list[tuple[str, tuple[int, ...], float, float]] = field(default_factory=list)
    #: largest round-off part of the error bound, relative to the whole bound (0..1)
    roundoff_share: float = 0.0
    #: f's own noise near the point, in f's units: the most a single evaluation is off from the
    #: smooth f (central: measured at the shifted points; forward: by :func:`noise` at the point)
    noise: float = 0.0
    #: largest |f| among the evaluations
    f_scale: float = 0.0
    #: the noise measured, over what rounding f's value and inputs explains, ε·(f_scale + Σ|xⱼ·∂ⱼf|):
    #: about 1 or less when f is computed well (even f = 0 from terms of size 1); ≫ 1 (say > 100)
    #: when f loses digits to cancellation inside ((1 − cos x)/x² at 10⁻⁸: ≈ 10⁵)
    noise_ratio: float = 0.0
    #: central only: f at the point as the shifted evaluations extrapolate it (median over
    #: coordinates); far from f(x) when f's value at the point is off its own curve (cancellation)
    smooth_value: float | None = None
    #: what the user should know about how the differences were computed (e.g. a vmap batch dropped)
    notes: list[str] = field(default_factory=list)
    #: central only: (variable, index, where, size) where f jumps within the steps (floor, ceil,
    #: a comparison): between x + where and its neighbouring point, f changes by size; the bound
    #: there widens by |value| (the differences cannot tell the slope from 0)
    jumps: list[tuple[str, tuple[int, ...], float, float]] = field(default_factory=list)
    #: f at the ``also=`` points evaluated in the same batch ((variable, index, value) -> f)
    also: dict[tuple[str, int, float], float] = field(default_factory=dict)
    #: the round-off part of each component's bound (the rest is truncation, or f's shape)
    roundoff: dict[str, np.ndarray] = field(default_factory=dict)


def per_coordinate(
    evaluate: Evaluate,
    points: Mapping[str, Any],
    scheme: str,
    eps: float,
    f0: float,
    relative_step: float | None = None,
    evaluate_batch: EvaluateBatch | None = None,
    *,
    noise_level: float | None = None,
    also: list[tuple[str, int, float]] | None = None,
    known: Mapping[tuple[str, int, float], float] | None = None,
    planned: Any = None,
) -> Differences:
    """Central or forward differences for every coordinate of every variable.

    ``evaluate`` runs f at a dict of tensors and returns a float; ``points`` are tensors that
    are never modified (each evaluation gets a changed copy). ``evaluate_batch``, when given,
    runs f on a batch of points at once (``torch.func.vmap``) and may raise to say it cannot:
    the shifted points are then evaluated one by one. ``noise_level``: f's noise at the point if
    already measured by :func:`noise` (forward measures it otherwise, with 6 evaluations; for
    central it is only a floor under the noise it measures at its own points).

    ``also``: more shifted points (another scheme's :func:`shifted_points`) evaluated in the same
    batch, their values returned in ``Differences.also``; ``known``: values of shifted points
    already evaluated that way, used instead of evaluating them again; ``planned``: this scheme's
    :func:`plan_of` for these points, when the caller made it already."""
    both = scheme == "central"
    multiples = MULTIPLES if both else (1, 2)
    plan, shifts = planned if planned is not None else plan_of(points, scheme, eps, relative_step)
    rel = relative_step if relative_step is not None else default_step(scheme, eps)
    todo = [s for s in shifts if known is None or s not in known] + list(also or ())
    got, notes, extra = evaluate_all(evaluate, evaluate_batch, points, todo, eps, f0) if todo else ([], [], 0)
    found = dict(zip(todo, got))
    values = [known[s] if known is not None and s in known else found[s] for s in shifts]
    shared = {s: found[s] for s in also or ()}
    if not both and noise_level is None:
        noise_level = noise(evaluate, points, eps, f0)
        extra += 2 * len(NOISE_OFFSETS)
    floor = noise_level or 0.0

    table = np.asarray(values, dtype=float)
    columns, start = [], 0
    for name, xs, plus, minus in plan:
        count = xs.size * len(multiples) * (2 if both else 1)
        f = table[start : start + count].reshape(xs.size, -1).T
        start += count
        columns.append((name, xs, plus, minus, f, central(f[0::2], f[1::2], plus, minus, f0, eps) if both else None))
    finite = np.abs(table[np.isfinite(table)])
    f_scale = max(abs(f0) if math.isfinite(f0) else 0.0, float(finite.max(initial=0.0)))
    pooled = _pooled([c for *_, c in columns if c is not None])
    # f computed in floating point is f at inputs rounded by ε at each of their first few uses
    # (sin(a·x + b): a·x rounds, then + b), so it carries ≈ 2ε·Σ|xⱼ·∂ⱼf| of noise at least,
    # whatever a small sample of it says
    sensitivity = _sensitivity(columns, f0)
    floor = max(floor, 2 * eps * sensitivity)
    measured = max([NOISE_FACTOR * max(pooled, float(np.nanmax(c.sigma, initial=0.0))) for *_, c in columns if c is not None], default=noise_level or 0.0)
    ratio = _ratio(measured, eps * (f_scale + sensitivity))
    # a residual far above round-off is f's noise (cancellation) or f's shape within the steps (a
    # kink, jump or pole near x): the noise at the point tells which; shape is stepped around
    refine: dict[str, np.ndarray] = {}
    calm_pooled = pooled  # the pooled noise without the columns whose residual is f's shape
    slopes = [np.abs(c.candidates[0][0]) for *_, c in columns if c is not None]
    gscale = float(np.nanmax(np.concatenate(slopes), initial=0.0)) if slopes else 0.0
    gscale = gscale if math.isfinite(gscale) and gscale > 0 else f_scale
    suspects = {name: _suspect(c, eps, sensitivity, gscale) for name, _, _, _, _, c in columns if c is not None}
    if any(mask.any() for mask in suspects.values()):
        if noise_level is None:
            noise_level = noise(evaluate, points, eps, f0)
            extra += 2 * len(NOISE_OFFSETS)
        if noise_level <= SUSPECT * eps * (f_scale + sensitivity):
            refine = suspects
            kept = [c.sigma[~suspects[name]] for name, _, _, _, _, c in columns if c is not None]
            calm = np.concatenate(kept) if kept else np.empty(0)
            calm_pooled = max(float(np.sqrt(np.mean(calm**2))) if calm.size else 0.0, noise_level / NOISE_FACTOR)
            measured = max(noise_level, NOISE_FACTOR * float(calm.max(initial=0.0)))
            ratio = _ratio(measured, eps * (f_scale + sensitivity))
        else:
            measured = max(measured, noise_level)

    grads, errors, steps = {}, {}, {}
    kinks: list[tuple[str, tuple[int, ...], float, float]] = []
    jumps: list[tuple[str, tuple[int, ...], float, float]] = []
    share, used_noise, smooth, parts = 0.0, floor, [], {}
    for name, xs, plus, minus, f, c in columns:
        shape = tuple(points[name].shape)
        if c is not None:
            level = c.level(eps, floor, calm_pooled)
            value, err, roundoff = c.bound(level)
            smooth.extend(c.smooth.tolist())
            kinks.extend((name, tuple(int(k) for k in np.unravel_index(i, shape)), *kink) for i, kink in _kinks(f0, f, plus, minus, level))
            jumps.extend(
                (name, tuple(int(k) for k in np.unravel_index(i, shape)), float(c.jump_at[i] * plus[0, i]), float(c.jump_size[i]))
                for i in np.flatnonzero(c.jump)
            )
        else:
            with np.errstate(all="ignore"):
                d1, d2 = (f[0] - f0) / plus[0], (f[1] - f0) / plus[1]
                level = np.maximum(eps * np.maximum(np.max(np.abs(f), axis=0, initial=0.0), abs(f0)), floor)
                roundoff = 2 * level / plus[0]
                value, err = d1, 2 * np.abs(d2 - d1) + roundoff
        if ratio > ROUGH or (c is not None and name in refine and c.sigma.max(initial=0.0) * NOISE_FACTOR > ROUGH * eps * (f_scale + sensitivity)):
            # f is not smooth at the step's scale (a fine staircase: round(x, 3)): the differences
            # see its trend, and cannot tell the derivative at the point from 0; for the whole
            # variable, since a staircase's other columns may show its trend as a clean slope
            err = err + np.abs(value)
        if name in refine:
            h = plus[0].copy()
            for i in np.flatnonzero(refine[name])[:REFINE_LIMIT]:
                v, e, step, used = _refine(evaluate, points, name, i, xs[i], h[i], eps, f0, floor, calm_pooled)
                extra += used
                if e < err[i] or not np.isfinite(err[i]):
                    value[i], err[i], h[i], roundoff[i] = v, e, step, 0.0
            plus = np.concatenate([h[None], plus[1:]])
        used_noise = max(used_noise, float(np.nanmax(level, initial=0.0)))
        ok = (err > 0) & np.isfinite(err)
        if ok.any():
            share = max(share, float(np.max(roundoff[ok] / err[ok])))
        grads[name], errors[name], steps[name] = value.reshape(shape), err.reshape(shape), plus[0].reshape(shape)
        parts[name] = np.minimum(roundoff, err).reshape(shape)
    return Differences(
        scheme, grads, errors, steps, rel, len(shifts) + extra, kinks, share, max(floor, measured) if refine else used_noise, f_scale, ratio,
        _median(smooth), notes, jumps, shared, parts,
    )


def shifted_points(points: Mapping[str, Any], scheme: str, eps: float, relative_step: float | None = None) -> list[tuple[str, int, float]]:
    """The shifted points (variable, flat index, value) :func:`per_coordinate` evaluates for ``scheme``."""
    return plan_of(points, scheme, eps, relative_step)[1]


#: plans of small points, remembered by the points' exact values (a re-run checks the same point)
_PLANS: dict[Any, Any] = {}
PLAN_ELEMENTS = 4096


def plan_of(points: Mapping[str, Any], scheme: str, eps: float, relative_step: float | None = None):
    """Per variable (name, x, +steps, −steps), and the shifted points (variable, flat index,
    value) in evaluation order, as :func:`per_coordinate` takes them for ``scheme``. A plan is
    arithmetic on the point alone: for a small point it is made once per exact value (each call
    gets its own arrays)."""
    from ..purity import point_key

    key = point_key("", points, PLAN_ELEMENTS)
    if key is None:
        return _plan(points, scheme, eps, relative_step)
    key = (key, scheme, eps, relative_step)
    found = _PLANS.get(key)
    if found is None:
        if len(_PLANS) >= 64:
            _PLANS.clear()
        found = _PLANS[key] = _plan(points, scheme, eps, relative_step)
    plan, shifts = found
    return [(name, xs.copy(), plus.copy(), minus.copy()) for name, xs, plus, minus in plan], list(shifts)


def _plan(points: Mapping[str, Any], scheme: str, eps: float, relative_step: float | None):
    rel = relative_step if relative_step is not None else default_step(scheme, eps)
    both = scheme == "central"
    multiples = MULTIPLES if both else (1, 2)
    plan: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]] = []  # (variable, x, +steps, −steps)
    shifts: list[tuple[str, int, float]] = []  # (variable, flat index, shifted value)
    for name, x in points.items():
        xs = x.detach().reshape(-1).cpu().double().numpy().copy()
        width = np.maximum(1.0, np.abs(xs))
        h = rounded(xs + rel * width, x.dtype) - xs
        tiny = h == 0.0
        h[tiny] = (rounded(xs + 4 * eps * width, x.dtype) - xs)[tiny]
        k = _column(multiples)  # every multiple at once: the same elementwise arithmetic as one by one
        plus = rounded(xs + k * h, x.dtype) - xs
        minus = xs - rounded(xs - k * h, x.dtype)
        plan.append((name, xs, plus, minus))
        up, down = (xs + plus).T.tolist(), (xs - minus).T.tolist()  # per coordinate, per multiple
        for i in range(xs.size):
            if both:
                for a, b in zip(up[i], down[i]):
                    shifts.append((name, i, a))
                    shifts.append((name, i, b))
            else:
                shifts.extend((name, i, a) for a in up[i])
    return plan, shifts


def _kinks(f0: float, f: np.ndarray, plus: np.ndarray, minus: np.ndarray, level: np.ndarray):
    """(flat index, (left slope, right slope)) for each coordinate where f has a kink."""
    fp, fm = f[0::2], f[1::2]
    for i in range(f.shape[1]):
        with np.errstate(all="ignore"):
            kink = _kink(f0, fp[0, i], fm[0, i], fp[1, i], fm[1, i], plus[0, i], minus[0, i], plus[1, i], minus[1, i], level[i])
        if kink is not None:
            yield i, kink


def _suspect(c: Any, eps: float, sensitivity: float, gscale: float) -> np.ndarray:
    """Columns whose differences may do better with a smaller step: a jump, a residual far above
    round-off, or a truncation bound above √ε·max(|value|, max|gradient|) (a pole or kink near x)
    and above round-off."""
    with np.errstate(all="ignore"):
        (v4, t4, g4), (_, t6, _) = c.candidates
        # and above round-off, which a smaller step would only make worse
        truncated = np.minimum(t4, t6) > np.maximum(math.sqrt(eps) * np.maximum(np.abs(v4), gscale), g4 * eps * c.scale)
        return c.jump | (NOISE_FACTOR * c.sigma > SUSPECT * eps * (c.scale + sensitivity)) | truncated


def _refine(evaluate, points, name, i, x, h, eps, f0, floor, pooled) -> tuple[float, float, float, int]:
    """The central scheme again at x[i] with the steps h/8 and h/64: (value, bound, step,
    evaluations) of the finer, its bound widened to the coarser one's value unless f jumps within
    the coarser steps (a staircase can look smooth at one step and flat at another)."""
    dtype = points[name].dtype
    found, used = [], 0
    for factor in (1 / 8, 1 / 64):
        step = float(rounded(np.array([x + h * factor]), dtype)[0] - x)
        if step <= 0:
            break
        plus = np.array([[rounded(np.array([x + k * step]), dtype)[0] - x] for k in MULTIPLES])
        minus = np.array([[x - rounded(np.array([x - k * step]), dtype)[0]] for k in MULTIPLES])
        fp = np.array([[evaluate(shifted(points, name, i, x + t))] for t in plus[:, 0]])
        fm = np.array([[evaluate(shifted(points, name, i, x - t))] for t in minus[:, 0]])
        used += 2 * len(MULTIPLES)
        c = central(fp, fm, plus, minus, f0, eps)
        value, bound, _ = c.bound(c.level(eps, floor, pooled))
        found.append((float(value[0]), float(bound[0]), float(plus[0, 0]), not bool(c.jump[0])))
    if not found:
        return math.nan, math.inf, h, used
    value, bound, step, _ = found[-1]
    if len(found) == 2 and found[0][3]:  # a coarser value without a jump in its steps must fit too
        bound = max(bound, abs(value - found[0][0]) + found[0][1])
    return value, bound, step, used


_COLUMNS: dict[tuple[int, ...], np.ndarray] = {}


def _column(multiples: tuple[int, ...]) -> np.ndarray:
    found = _COLUMNS.get(multiples)
    if found is None:
        found = _COLUMNS[multiples] = np.array(multiples, dtype=float)[:, None]
    return found


def _median(values: list[float]) -> float | None:
    """``np.median`` of a short list, without NumPy's overhead (NaN anywhere: NaN, as NumPy gives)."""
    if not values:
        return None
    if any(v != v for v in values):
        return math.nan
    ordered = sorted(values)
    half = len(ordered) // 2
    return float(ordered[half]) if len(ordered) % 2 else (ordered[half - 1] + ordered[half]) / 2


def _ratio(measured: float, explained: float) -> float:
    if explained > 0:
        return measured / explained
    return 0.0 if measured == 0 else math.inf


def _sensitivity(columns: list[Any], f0: float) -> float:
    """Σ|xⱼ·∂ⱼf| over every coordinate, with ∂ⱼf the (h, 2h) estimate; jumps and non-finite terms skipped."""
    total = 0.0
    with np.errstate(all="ignore"):
        for _, xs, plus, _, f, c in columns:
            slope = c.candidates[0][0] if c is not None else (f[0] - f0) / plus[0]
            terms = np.abs(xs * slope)
            keep = np.isfinite(terms) if c is None else np.isfinite(terms) & ~c.jump
            total += float(np.sum(terms[keep]))
    return total


def _pooled(columns: list[Any]) -> float:
    """The root-mean-square noise sample over every coordinate of every variable (but jumps)."""
    sigmas = [c.sigma[~c.jump] for c in columns]
    kept = np.concatenate(sigmas) if sigmas else np.empty(0)
    return float(np.sqrt(np.mean(kept**2))) if kept.size else 0.0


def _kink(f0, fp, fm, fp2, fm2, h, hm, h2, hm2, level) -> tuple[float, float] | None:
    """Left and right slopes when they differ by a jump that does not shrink with the step.

    For smooth f the jump right − left is about h·f'' and doubles with 2h; at a kink (abs, relu,
    max at a tie) it stays the same size whatever the step. ``level`` is f's noise."""
    right1, left1 = (fp - f0) / h, (f0 - fm) / hm
    right2, left2 = (fp2 - f0) / h2, (f0 - fm2) / hm2
    jump1, jump2 = right1 - left1, right2 - left2
    if abs(jump1) <= 64 * level / min(h, hm) or not math.isfinite(jump1):
        return None
    if abs(jump2 - jump1) < 0.25 * abs(jump1):
        return float(left1), float(right1)
    return None
