"""--points K: autograd against central differences at K random points around the point.

One point cannot see a backward that is wrong only for negative inputs. Around the point,
``x + N(0, max(1, |x|)²)`` per component from a seeded generator; at each, autograd's g·v is
compared with a central difference along one random ±1 direction v. Points where f is not
finite are skipped and counted.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ...cell import CellError
from ..report import MethodResult
from .autograd import forward


def run(run, step: float | None = None, seed: int = 0, points_around: int = 0, **_: Any) -> MethodResult:
    import torch

    from ...finite_differences import SAFETY, directional, random_directions

    generator = torch.Generator(device="cpu").manual_seed(seed + 7919)
    bad: list[dict[str, Any]] = []
    skipped = compared = evaluations = 0
    for k in range(points_around):
        at = {}
        for name, x in run.points.items():
            noise = torch.randn(tuple(x.shape), generator=generator, dtype=torch.float64)
            at[name] = (x.detach().cpu().double() + noise * x.detach().cpu().double().abs().clamp(min=1.0)).to(x.device, x.dtype)
        leaves = {n: t.clone().requires_grad_(True) for n, t in at.items()}
        out = forward(run, leaves, recorded=False)
        evaluations += 1
        if isinstance(out, MethodResult) or not isinstance(out, torch.Tensor) or out.numel() != 1 or not out.requires_grad:
            skipped += 1
            continue
        if not math.isfinite(float(out.detach())):
            skipped += 1
            continue
        grads = torch.autograd.grad(out.reshape(()), list(leaves.values()), allow_unused=True)
        v = random_directions(at, 1, seed + 104729 + k)[0]
        dot = sum(float((g if g is not None else torch.zeros_like(leaves[n])).double().reshape(-1) @ v[n].double().reshape(-1)) for n, g in zip(leaves, grads))
        size = sum(float(g.abs().sum()) for g in grads if g is not None)
        try:
            d = directional(run.evaluate, at, [v], run.eps, relative_step=step, seed=seed)
        except CellError:
            skipped += 1
            continue
        evaluations += d.evaluations
        fd = d.differences[0]
        if not (math.isfinite(fd) and math.isfinite(dot)):
            skipped += 1
            continue
        compared += 1
        tol = SAFETY * d.errors[0] + 16 * run.eps * max(size, abs(dot)) + SAFETY * run.eps * abs(float(out.detach())) / d.step
        if not abs(fd - dot) <= tol:
            shown = {n: np.round(t.detach().cpu().double().numpy(), 3).tolist() for n, t in at.items()}
            bad.append({"at": ", ".join(f"{n} = {v}" for n, v in shown.items()), "autograd": dot, "central": fd, "tolerance": tol})
    if compared == 0:
        return MethodResult("points", "failed", f"f is not finite (or not differentiable by autograd) at all {points_around} random points", evaluations=evaluations)
    return MethodResult(
        "points",
        "ok",
        evaluations=evaluations,
        details={"compared": compared, "skipped": skipped, "bad": bad, "seed": seed},
        reason=None,
    )
