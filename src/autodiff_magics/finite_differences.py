"""Finite differences with an error bound for every number they produce.

Central differences evaluate f at x ± h, ±2h, ±3h, ±4h along each coordinate (8 evaluations)
with h = ε^(1/5)·max(1, |xᵢ|), the step that suits an O(h⁴) scheme. The value is Richardson's
extrapolation of the (h, 2h) pair; its error bound is the distance to the (2h, 4h) extrapolation
(about 15× the truncation error) plus round-off. Round-off is f's own noise, measured rather
than assumed: the odd parts f(x+kh) − f(x−kh), k = 1…4, fit a polynomial in h, h³, h⁵ up to a
residual that is pure noise (the h⁷ term is 10⁻²¹ in float64), which also sees cancellation
(``(x**2).sum() - 1`` where f = 0). The forward row stays the plain one-sided scheme
(f(x+h) − f(x))/h with h = √ε·max(1, |xᵢ|), bounded by its Richardson estimate and the noise
that :func:`noise` measures at the point. The directional check (as JAX's ``check_grads``)
applies the central scheme along a few random ±1 directions, so a million-parameter gradient
costs a few dozen evaluations. Per-coordinate differences evaluate their shifted points in one
``torch.func.vmap`` batch when f allows it and the batch is small, check the batch against
plain evaluations and fall back to one by one (with a note) when they differ.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "Differences", "Directional", "StepStudy", "default_step", "noise", "per_coordinate", "directional",
    "random_directions", "step_study",
]

#: how many times an estimated error a difference may be off before it counts as a disagreement
SAFETY = 8.0
#: multiples of the base step at which the central scheme evaluates f, on both sides
MULTIPLES = (1, 2, 3, 4)
#: the central base step never exceeds this share of max(1, |x|), so x ± 4h stays within x ± |x|/2
MAX_CENTRAL_STEP = 1 / 8
#: a noise estimate from a few samples is scaled by this to bound the noise it samples
NOISE_FACTOR = 3.0

Evaluate = Callable[[Mapping[str, Any]], float]
EvaluateBatch = Callable[[Mapping[str, Any]], list[float]]


def default_step(scheme: str, eps: float) -> float:
    """The relative step that balances truncation and round-off for this scheme and dtype:
    ε^(1/5) for central (Richardson, O(h⁴)), √ε for forward (O(h))."""
    return min(eps ** 0.2, MAX_CENTRAL_STEP) if scheme == "central" else math.sqrt(eps)


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
    evaluations: int
    #: (variable, index, left slope, right slope) where f has a kink within the step
    kinks: list[tuple[str, tuple[int, ...], float, float]] = field(default_factory=list)
    #: largest round-off part of the error bound, relative to the whole bound (0..1)
    roundoff_share: float = 0.0
    #: f's own noise near the point, in f's units: the most a single evaluation is off from the
    #: smooth f (central: measured at the shifted points; forward: by :func:`noise` at the point)
    noise: float = 0.0
    #: largest |f| among the evaluations: noise / (ε·f_scale) ≫ 1 means f loses digits to cancellation
    f_scale: float = 0.0
    #: central only: f at the point as the shifted evaluations extrapolate it (median over
    #: coordinates); far from f(x) when f's value at the point is off its own curve (cancellation)
    smooth_value: float | None = None
    #: what the user should know about how the differences were computed (e.g. a vmap batch dropped)
    notes: list[str] = field(default_factory=list)


_ODD_RESIDUAL: np.ndarray | None = None


def _odd_residual() -> np.ndarray:
    """Unit vector w with w·(o₁…o₄) = 0 for every oₖ = a·k + b·k³ + c·k⁵: applied to the odd parts
    f(x+kh) − f(x−kh) it leaves only noise (and the h⁷ term)."""
    global _ODD_RESIDUAL
    if _ODD_RESIDUAL is None:
        k = np.array(MULTIPLES, dtype=float)
        _ODD_RESIDUAL = np.linalg.svd(np.stack([k, k**3, k**5]))[2][-1]
    return _ODD_RESIDUAL


def _extrapolate(d: np.ndarray, half: np.ndarray, rows: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Richardson's extrapolation to h = 0 of the central differences in ``rows`` (which cancel
    the h², h⁴, … terms), and its round-off gain Σ|wₖ|/hₖ (per unit of noise in each f)."""
    h2 = (half[rows] / half[rows[0]]) ** 2  # (m, n), well scaled
    powers = np.stack([h2**p for p in range(len(rows))])  # (p, m, n)
    system = np.moveaxis(powers, -1, 0)  # (n, p, m)
    rhs = np.zeros((system.shape[0], len(rows)))
    rhs[:, 0] = 1.0
    w = np.linalg.solve(system, rhs[..., None])[..., 0].T  # (m, n)
    return np.sum(w * d[rows], axis=0), np.sum(np.abs(w) / half[rows], axis=0)


@dataclass
class _Central:
    """Two extrapolations per column, each with a value, a truncation bound and a round-off gain."""

    candidates: list[tuple[np.ndarray, np.ndarray, np.ndarray]]  # (value, truncation, gain)
    sigma: np.ndarray  # noise per evaluation, one sample each
    smooth: np.ndarray  # f at the point, extrapolated from the even parts
    scale: np.ndarray  # largest |f| among each column's evaluations

    def bound(self, level: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per column, the candidate with the smaller bound at this noise: (value, bound, round-off)."""
        (v4, t4, g4), (v6, t6, g6) = self.candidates
        e4, e6 = t4 + g4 * level, t6 + g6 * level
        pick6 = e6 < e4
        return np.where(pick6, v6, v4), np.where(pick6, e6, e4), np.where(pick6, g6, g4) * level


def _central(fp: np.ndarray, fm: np.ndarray, tp: np.ndarray, tm: np.ndarray, f0: float) -> _Central:
    """Richardson on central differences, one column per coordinate or direction.

    ``fp[k], fm[k]`` are f(x + tp[k]), f(x − tm[k]) for the k-th multiple of the step (1…4).
    Candidates: O(h⁴) from (h, 2h), bounded by its distance to the (2h, 4h) one (≈ 15× its
    truncation), and O(h⁶) from (h, 2h, 3h), bounded by its distance to (2h, 3h, 4h)."""
    with np.errstate(all="ignore"):
        half = (tp + tm) / 2
        d = (fp - fm) / (2 * half)
        v4, g4 = _extrapolate(d, half, [0, 1])
        v6, g6 = _extrapolate(d, half, [0, 1, 2])
        coarse4, _ = _extrapolate(d, half, [1, 3])
        coarse6, _ = _extrapolate(d, half, [1, 2, 3])
        even = (fp + fm) / 2
        smooth, _ = _extrapolate(even, half, [0, 1])
        sigma = np.abs(_odd_residual() @ (fp - fm)) / math.sqrt(2)
        scale = np.maximum(np.max(np.abs(np.concatenate([fp, fm])), axis=0), abs(f0))
        candidates = [(v4, np.abs(v4 - coarse4), g4), (v6, np.abs(v6 - coarse6), g6)]
        return _Central(candidates, sigma, smooth, scale)


def _rounded(values: np.ndarray, dtype: Any) -> np.ndarray:
    """Values as the dtype stores them (as float64)."""
    import torch

    return torch.from_numpy(np.asarray(values, dtype=np.float64)).to(dtype).double().numpy()


def _shifted(points: Mapping[str, Any], name: str, flat_index: int, value: float) -> dict[str, Any]:
    moved = points[name].clone()
    moved.view(-1)[flat_index] = value
    return {**points, name: moved}


#: most elements the batched evaluation may hold at once (shifted copies × elements per copy)
BATCH_ELEMENTS = 1 << 23


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
) -> Differences:
    """Central or forward differences for every coordinate of every variable.

    ``evaluate`` runs f at a dict of tensors and returns a float; ``points`` are tensors that
    are never modified (each evaluation gets a changed copy). ``evaluate_batch``, when given,
    runs f on a batch of points at once (``torch.func.vmap``) and may raise to say it cannot:
    the shifted points are then evaluated one by one. ``noise_level``: f's noise at the point
    if already measured by :func:`noise` (the forward scheme measures it otherwise; for the
    central scheme it is a floor under the noise it measures itself)."""
    rel = relative_step if relative_step is not None else default_step(scheme, eps)
    multiples = MULTIPLES if scheme == "central" else (1, 2)
    plan: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]] = []  # (variable, x, +steps, −steps)
    shifts: list[tuple[str, int, float]] = []  # (variable, flat index, shifted value)
    for name, x in points.items():
        xs = x.detach().reshape(-1).cpu().double().numpy()
        width = np.maximum(1.0, np.abs(xs))
        h = _rounded(xs + rel * width, x.dtype) - xs
        tiny = h == 0.0
        h[tiny] = (_rounded(xs + 4 * eps * width, x.dtype) - xs)[tiny]
        plus = np.stack([_rounded(xs + k * h, x.dtype) - xs for k in multiples])
        minus = np.stack([xs - _rounded(xs - k * h, x.dtype) for k in multiples]) if scheme == "central" else plus[:0]
        plan.append((name, xs, plus, minus))
        for i in range(xs.size):
            for k in range(len(multiples)):
                shifts.append((name, i, xs[i] + plus[k, i]))
                if scheme == "central":
                    shifts.append((name, i, xs[i] - minus[k, i]))
    values, notes, extra = _evaluate_all(evaluate, evaluate_batch, points, shifts, eps, f0)
    if scheme == "forward" and noise_level is None:
        noise_level = noise(evaluate, points, eps, f0)
        extra += 2 * len(NOISE_OFFSETS)
    floor = noise_level or 0.0

    grads, errors, steps = {}, {}, {}
    kinks: list[tuple[str, tuple[int, ...], float, float]] = []
    share, used_noise, f_scale, smooth = 0.0, floor, 0.0, []
    start = 0
    pieces = []
    for name, xs, plus, minus in plan:
        count = xs.size * len(multiples) * (2 if scheme == "central" else 1)
        f = np.asarray(values[start : start + count], dtype=float).reshape(xs.size, -1).T
        start += count
        if scheme == "central":
            pieces.append((name, xs, plus, minus, f[0::2], f[1::2], _central(f[0::2], f[1::2], plus, minus, f0)))
        else:
            pieces.append((name, xs, plus, minus, f, None, None))
    sigmas = [c.sigma for *_, c in pieces if c is not None and c.sigma.size]
    pooled = float(np.sqrt(np.mean(np.concatenate(sigmas) ** 2))) if sigmas else 0.0
    for name, xs, plus, minus, fp, fm, c in pieces:
        shape = tuple(points[name].shape)
        if c is not None:
            level = np.maximum.reduce([NOISE_FACTOR * c.sigma, np.full_like(c.sigma, NOISE_FACTOR * pooled), eps * c.scale, np.full_like(c.sigma, floor)])
            value, err, roundoff = c.bound(level)
            scale = c.scale
            smooth.extend(c.smooth.tolist())
            for i in range(xs.size):
                kink = _kink(f0, fp[0, i], fm[0, i], fp[1, i], fm[1, i], plus[0, i], minus[0, i], plus[1, i], minus[1, i], level[i])
                if kink is not None:
                    kinks.append((name, tuple(int(k) for k in np.unravel_index(i, shape)), *kink))
        else:
            with np.errstate(all="ignore"):
                d1, d2 = (fp[0] - f0) / plus[0], (fp[1] - f0) / plus[1]
                scale = np.maximum(np.max(np.abs(fp), axis=0, initial=0.0), abs(f0))
                level = np.maximum(eps * scale, floor)
                # d2 − d1 ≈ h·f''/2 is d1's own leading error; doubled to cover the next term
                roundoff = 2 * level / plus[0]
                value, err = d1, 2 * np.abs(d2 - d1) + roundoff
        used_noise = max(used_noise, float(np.nanmax(level, initial=0.0)))
        f_scale = max(f_scale, float(np.nanmax(scale, initial=0.0)))
        ok = (err > 0) & np.isfinite(err)
        if ok.any():
            share = max(share, float(np.max(roundoff[ok] / err[ok])))
        grads[name], errors[name], steps[name] = value.reshape(shape), err.reshape(shape), plus[0].reshape(shape)
    return Differences(
        scheme, grads, errors, steps, rel, len(shifts) + extra, kinks, share, used_noise, f_scale,
        float(np.median(smooth)) if smooth else None, notes,
    )


def _evaluate_all(
    evaluate: Evaluate, evaluate_batch: EvaluateBatch | None, points: Mapping[str, Any], shifts: list[tuple[str, int, float]],
    eps: float, f0: float,
) -> tuple[list[float], list[str], int]:
    """f at every shifted point, notes, and how many evaluations were spent on checking a batch.

    One ``vmap`` batch when f allows it and the batch is small: measured on this project's
    2-core machine (float64, f = Σ sin(x)·x², central differences), batched 0.9 ms against
    12.3 ms one by one at n = 100, but 6.5 s against 2.0 s at n = 10⁴, where the n × n batch no
    longer fits in cache (and needs O(n²) memory). A batch is trusted only once its first and
    last values equal plain evaluations of the same points (up to round-off): ops whose batching
    rule is wrong (``torch.roll`` on a 0-d tensor) are caught there."""
    total = sum(int(x.numel()) for x in points.values())
    plain = [lambda s=s: evaluate(_shifted(points, *s)) for s in shifts]
    if evaluate_batch is None or not shifts or len(shifts) * total > BATCH_ELEMENTS:
        return [run() for run in plain], [], 0
    import torch

    rows = len(shifts)
    batched = {name: x.detach().reshape(1, -1).repeat(rows, 1) for name, x in points.items()}
    for name, flat in batched.items():
        picked = [(k, i, v) for k, (n, i, v) in enumerate(shifts) if n == name]
        if picked:
            ks, idx, vals = zip(*picked)
            flat[list(ks), list(idx)] = torch.tensor(vals, dtype=flat.dtype, device=flat.device)
    try:
        values = evaluate_batch({name: b.reshape(rows, *points[name].shape) for name, b in batched.items()})
    except Exception:  # f does something vmap cannot batch (.item(), a branch on a value, NumPy): one by one
        values = None
    if values is None or len(values) != rows:
        return [run() for run in plain], [], 0
    values = [float(v) for v in values]
    checks = sorted({0, rows - 1})
    seen = {k: plain[k]() for k in checks}
    scale = max([abs(f0), *(abs(v) for v in values if math.isfinite(v))], default=0.0)
    for k, want in seen.items():
        got = values[k]
        if not (got == want or abs(got - want) <= 1024 * eps * scale or (math.isnan(got) and math.isnan(want))):
            name, i, _ = shifts[k]
            where = f"{name}[{', '.join(map(str, np.unravel_index(i, tuple(points[name].shape))))}]" if points[name].dim() else name
            note = (
                f"f under torch.func.vmap gave {got:.6g} where a plain evaluation gave {want:.6g} (with {where} shifted), "
                "so the batch was dropped and the shifted points evaluated one by one"
            )
            rest = [seen[j] if j in seen else plain[j]() for j in range(rows)]
            return rest, [note], len(checks)
    for k, want in seen.items():
        values[k] = want
    return values, [], 0


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


#: offsets, in units of √ε·max(1, |xᵢ|) along a random ±1 direction, where :func:`noise` evaluates f
NOISE_OFFSETS = (1, 2, 3)


def noise(evaluate: Evaluate, points: Mapping[str, Any], eps: float, f0: float, *, seed: int = 0) -> float:
    """f's own noise at the point, in f's units: about the most one evaluation is off from the smooth f.

    f is evaluated at x + k·s·v, k = ±1, ±2, ±3 (6 evaluations), s = √ε·max(1, |xᵢ|), v a random
    ±1 direction. On each side f is a quadratic in k to within 10⁻²⁴ (float64), so each side's
    third difference f₃ − 3f₂ + 3f₁ − f₀ is round-off alone (a kink at the point, as abs at 0, is
    no noise: the sides are fitted apart), however much of it cancellation adds:
    ``(x**2).sum() - 1`` at [0.6, 0.8] (f = 0) gets ≈ 2·10⁻¹⁶, and ``(1 - cos x)/x**2`` at 10⁻⁸
    (f = 0 where the exact value is 1/2) gets ≈ 0.7. Never below ε·max|f|."""
    import torch

    v = random_directions(points, 1, seed)[0]
    offsets = {}
    for name, x in points.items():
        width = x.detach().abs().clamp(min=1.0)
        offsets[name] = width.mul_(math.sqrt(eps)).mul_(v[name])

    def at(k: int) -> float:
        return evaluate({name: torch.add(x.detach(), offsets[name], alpha=k) for name, x in points.items()})

    right = np.array([f0, *(at(k) for k in NOISE_OFFSETS)], dtype=float)
    left = np.array([f0, *(at(-k) for k in NOISE_OFFSETS)], dtype=float)
    scale = float(np.max(np.abs(np.concatenate([right, left]))))
    if not math.isfinite(scale):
        return math.inf if math.isfinite(f0) else math.nan
    third = np.array([-1.0, 3.0, -3.0, 1.0])  # f₀, f₁, f₂, f₃; Σ third² = 20
    sigma = math.sqrt((float(third @ right) ** 2 + float(third @ left) ** 2) / 40)
    return max(NOISE_FACTOR * sigma, eps * scale)


@dataclass
class Directional:
    """The directional check: for each random direction v, g·v against a central difference."""

    directions: int
    step: float
    differences: list[float]  # central difference along each v (Richardson-extrapolated)
    errors: list[float]  # its error bound
    evaluations: int
    seed: int
    #: f's noise near the point, in f's units (largest over the directions)
    noise: float = 0.0


def random_directions(points: Mapping[str, Any], k: int, seed: int) -> list[dict[str, Any]]:
    """k random directions with entries ±1 (Rademacher), drawn on the CPU from a seeded generator
    so that every device sees the same directions; ±1 entries keep every coordinate's step equal."""
    import torch

    generator = torch.Generator(device="cpu").manual_seed(seed)
    out = []
    for _ in range(k):
        v = {}
        for name, x in points.items():
            bits = torch.randint(0, 2, tuple(x.shape), generator=generator, dtype=torch.int8)
            v[name] = bits.to(device=x.device, dtype=x.dtype).mul_(2).sub_(1)
        out.append(v)
    return out


def directional(
    evaluate: Evaluate,
    points: Mapping[str, Any],
    directions: list[dict[str, Any]],
    eps: float,
    relative_step: float | None = None,
    seed: int = 0,
    *,
    noise_level: float | None = None,
) -> Directional:
    """Central differences of f along each direction, extrapolated and bounded as per coordinate.

    The step t moves x by t·√n in norm (n elements), a power of two so that x ± k·t is exact
    for k = 1…4 (8 evaluations per direction); ``noise_level`` is a floor under the noise."""
    import torch

    rel = relative_step if relative_step is not None else default_step("central", eps)
    top = max((float(x.detach().abs().max()) if x.numel() else 0.0 for x in points.values()), default=0.0)
    n = max(1, sum(int(x.numel()) for x in points.values()))
    t = 2.0 ** round(math.log2(rel * max(1.0, top) / math.sqrt(n)))
    k = np.array(MULTIPLES, dtype=float)[:, None]
    steps = np.repeat(k * t, len(directions), axis=1)
    fp, fm = np.empty_like(steps), np.empty_like(steps)
    for j, v in enumerate(directions):
        for m, mult in enumerate(MULTIPLES):
            fp[m, j] = evaluate({name: torch.add(x, v[name], alpha=mult * t) for name, x in points.items()})
            fm[m, j] = evaluate({name: torch.add(x, v[name], alpha=-mult * t) for name, x in points.items()})
    c = _central(fp, fm, steps, steps, 0.0)
    pooled = float(np.sqrt(np.mean(c.sigma**2))) if directions else 0.0
    level = np.maximum.reduce([NOISE_FACTOR * c.sigma, np.full_like(c.sigma, NOISE_FACTOR * pooled), eps * c.scale, np.full_like(c.sigma, noise_level or 0.0)])
    value, errors, _ = c.bound(level)
    return Directional(
        len(directions), t, value.tolist(), errors.tolist(), 2 * len(MULTIPLES) * len(directions), seed,
        float(np.max(level, initial=0.0)),
    )


@dataclass
class StepStudy:
    """Error of forward and central differences along one direction, for steps 10⁻¹ … 10⁻¹⁴."""

    steps: list[float]
    forward: list[float]
    central: list[float]
    exact: float  # the reference directional derivative g·v
    used_forward: float | None
    used_central: float | None


def step_study(
    evaluate: Evaluate,
    points: Mapping[str, Any],
    direction: dict[str, Any],
    exact: float,
    f0: float,
    eps: float,
    used: Mapping[str, float | None],
) -> StepStudy:
    """Sweep the step over 14 decades to show where truncation gives way to round-off."""
    import torch

    lowest = int(math.floor(math.log10(eps))) + 1
    steps = [10.0**k for k in range(-1, lowest - 2, -1)]
    forward, central = [], []
    for h in steps:
        fp = evaluate({name: torch.add(x, direction[name], alpha=h) for name, x in points.items()})
        fm = evaluate({name: torch.add(x, direction[name], alpha=-h) for name, x in points.items()})
        forward.append(abs((fp - f0) / h - exact))
        central.append(abs((fp - fm) / (2 * h) - exact))
    return StepStudy(steps, forward, central, exact, used.get("forward"), used.get("central"))
