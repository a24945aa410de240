"""The comparison: each method against the reference, within tolerances, and the verdict."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..cell import CellError
from .report import METHODS, Disagreement, MethodResult

@dataclass
class _Verdict:
    headline: str
    explanations: list[str]
    disagreements: list[Disagreement]
    tolerance: str
    suspects: list[str] = field(default_factory=list)
    #: every method agrees with a reference that ran, and f is finite
    agree: bool = False


def compare(run, results: dict[str, MethodResult], reference: str, rtol: float | None, atol: float | None, value: float) -> _Verdict:
    from ..finite_differences import SAFETY

    ref = results.get(reference)
    explanations: list[str] = []
    disagreements: list[Disagreement] = []
    if ref is None or ref.status != "ok" or ref.gradient is None:
        reasons = "; ".join(f"{m.name}: {m.reason}" for m in results.values() if m.status == "failed")
        return _Verdict("No gradient could be computed.", [reasons] if reasons else [], [], "")
    gscale = max((float(np.max(np.abs(g))) for g in ref.gradient.values() if g.size), default=0.0)
    floor = 16 * run.eps * gscale
    user = rtol is not None or atol is not None
    tolerance_text = (
        f"|method − {reference}| ≤ {atol or 0:g} + {rtol or 0:g}·|{reference}|"
        if user
        else f"derived per component: {SAFETY:g}× (the method's estimated error + the reference's) + 16ε·max|g|"
    )
    per_method_ok: dict[str, bool] = {}
    inconclusive: list[str] = []
    for name, m in results.items():
        if name == reference or m.status != "ok":
            continue
        if name == "directional":
            m.details["reference"] = reference
            ok = _compare_directional(run, m, ref, floor, rtol, atol, disagreements)
            per_method_ok[name] = ok
            continue
        worst = 0.0
        widest = 0.0
        ok = True
        for var, g_ref in ref.gradient.items():
            g = m.gradient[var]
            diff = np.abs(g - g_ref)
            largest = float(np.max(diff)) if diff.size else 0.0
            if math.isnan(largest) or largest > worst:
                worst = largest
            if user:
                tol = (atol if atol is not None else floor) + (rtol or 0.0) * np.abs(g_ref)
            else:
                tol = SAFETY * (m.error[var] + ref.error[var]) + floor
            widest = max(widest, float(np.max(tol)) if np.size(tol) else 0.0)
            bad = ~(diff <= tol)  # NaN counts as a disagreement
            for idx in zip(*np.nonzero(bad)) if bad.ndim else ([()] if bool(bad) else []):
                idx = tuple(int(i) for i in idx)
                disagreements.append(Disagreement(name, var, idx, float(g[idx]), float(g_ref[idx]), float(np.asarray(tol)[idx] if np.ndim(tol) else tol)))
                ok = False
        m.max_abs_error = worst
        per_method_ok[name] = ok
        # a tolerance as wide as the gradient itself makes "agreement" meaningless: say so
        if ok and not user and gscale > 0 and widest > 0.25 * gscale and math.isfinite(value):
            inconclusive.append(name)
    ref.max_abs_error = 0.0
    explanations.extend(_explain(run, results, reference, disagreements, per_method_ok, value))
    suspects = sorted({d.method for d in disagreements}, key=METHODS.index)
    if disagreements and _autograd_is_odd(results, reference, per_method_ok):
        suspects = ["autograd"] + [m for m in suspects if m == "expect"]
    compared = [n for n, m in results.items() if m.status == "ok"]
    if not math.isfinite(value):
        headline = f"f is {_fmt(value)} at the point: no gradient there is meaningful."
    elif not disagreements and inconclusive:
        headline = f"Inconclusive: {_join(inconclusive)} cannot resolve the gradient at this step and dtype."
        for name in inconclusive:
            m = results[name]
            explanations.append(
                f"{name} differences in {str(run.dt).replace('torch.', '')} with a step of {m.step:.2g}·max(1, |xᵢ|) carry an estimated "
                f"round-off error as large as the gradient (ε·|f|/h), so their agreement means nothing; the step that suits "
                f"this dtype is ≈ {_suited_step(name, run.eps):.2g}·max(1, |xᵢ|) (the default when --step is not given)."
            )
    elif not disagreements:
        others = [n for n in compared if n != reference]
        if others:
            headline = f"All {len(compared)} methods agree (reference: {reference})."
        else:
            headline = f"Only {reference} ran: nothing to cross-check."
    else:
        bad_methods = sorted({d.method for d in disagreements}, key=METHODS.index)
        places = sorted({d.label() for d in disagreements})
        where = f"at {', '.join(places[:4])}{' and more' if len(places) > 4 else ''}"
        if _autograd_is_odd(results, reference, per_method_ok):
            others = [m for m in bad_methods if m != "expect"]
            headline = f"autograd disagrees with {_join(others)} {where}."
        else:
            headline = f"{_join(bad_methods)} {'disagrees' if len(bad_methods) == 1 else 'disagree'} with {reference} {where}."
        if run.symbolic_kinks or run.fd_kinks:
            headline = "f is not differentiable at the point: " + headline
    suspects += [m for m in inconclusive if m not in suspects]
    agree = not disagreements and not suspects and math.isfinite(value)
    return _Verdict(headline, explanations, disagreements, tolerance_text, suspects, agree)


def _compare_directional(run, m: MethodResult, ref: MethodResult, floor: float, rtol, atol, disagreements: list[Disagreement]) -> bool:
    import torch

    ok = True
    from ..finite_differences import SAFETY

    expected, exp_err = [], []
    for v in run.directions:
        dot, err = 0.0, 0.0
        for var, g in ref.gradient.items():
            # directions are ±1, so |g·v| terms are |g| and the error bound is a plain sum
            vt = v[var].detach().to("cpu", torch.float64).reshape(-1)
            gt = torch.from_numpy(g.reshape(-1))
            dot += float(gt @ vt)
            err += float(torch.from_numpy(ref.error[var].reshape(-1)).sum()) + 4 * run.eps * float(gt.abs().sum())
        expected.append(dot)
        exp_err.append(err)
    diffs = m.details["differences"]
    errs = m.details["errors"]
    worst = 0.0
    for k, (d, e, x, xe) in enumerate(zip(diffs, errs, expected, exp_err)):
        diff = abs(d - x)
        worst = max(worst, diff)
        tol = ((atol if atol is not None else floor) + (rtol or 0.0) * abs(x)) if (rtol is not None or atol is not None) else SAFETY * (e + xe) + floor
        if not diff <= tol:
            disagreements.append(Disagreement("directional", None, (k,), d, x, tol))
            ok = False
    m.details["expected"] = expected
    m.max_abs_error = worst
    return ok


def _fmt(x: float) -> str:
    from ..views.common import fmt_num

    return fmt_num(x)


def _explain(
    run,
    results: dict[str, MethodResult],
    reference: str,
    disagreements: list[Disagreement],
    per_method_ok: dict[str, bool],
    value: float,
) -> list[str]:
    """Plain-words reasons for what disagrees, most specific first."""
    out: list[str] = []
    if not math.isfinite(value):
        out.append(f"f evaluates to {_fmt(value)} at the point, so every method's numbers are meaningless there.")
    by_method: dict[str, list[Disagreement]] = {}
    for d in disagreements:
        by_method.setdefault(d.method, []).append(d)
    kinks = list(run.symbolic_kinks)
    fd_kink_labels = [f"{v}[{', '.join(map(str, i))}]" if i else v for v, i, _, _ in run.fd_kinks]
    if kinks or fd_kink_labels:
        where = ", ".join(kinks) if kinks else ", ".join(fd_kink_labels)
        slopes = "; ".join(
            f"left slope {_fmt(lft)}, right slope {_fmt(rgt)} in {v}{'[' + ', '.join(map(str, i)) + ']' if i else ''}"
            for v, i, lft, rgt in run.fd_kinks
        )
        out.append(
            f"f is not differentiable at this point ({where} sits exactly on its kink"
            + (f"; {slopes}" if slopes else "")
            + "). Autograd, SymPy and the differences each pick a different but legitimate value there "
            "(autograd takes torch's convention, e.g. 0 for abs; SymPy sign(0) = 0 or Heaviside(0) = 1/2; "
            "a forward difference sees the right-hand slope). Move the point off the kink to compare them."
        )
    autograd_odd = "autograd" in by_method or _autograd_is_odd(results, reference, per_method_ok)
    explained = autograd_odd and bool(run.cuts or run.custom_functions)
    for method, items in by_method.items():
        where = ", ".join(f"{d.label()} ({_fmt(d.value)} vs {_fmt(d.expected)})" for d in items[:6])
        more = f" and {len(items) - 6} more" if len(items) > 6 else ""
        if method == "expect":
            support = [m for m in ("central", "forward", "autograd", "symbolic") if m != reference and per_method_ok.get(m)]
            backing = f"; {_join(support)} agree with {reference}, so the expected values are the likely culprit" if support else ""
            out.append(f"Your --expect differs from {reference} at {where}{more}{backing}.")
            continue
        if kinks or fd_kink_labels or (explained and method != "autograd" and reference == "autograd"):
            continue
        if method in ("central", "forward", "directional") and run.eps > np.finfo(np.float64).eps and results[method].details.get("roundoff_share", 0) > 0.5:
            out.append(
                f"{method} differences in {str(run.dt).replace('torch.', '')} are dominated by round-off at this step "
                f"(about ε·|f|/h); the step that suits this dtype is ≈ {_suited_step(method, run.eps):.2g}·max(1, |x|) "
                "(the default when --step is not given); or check in float64."
            )
            continue
        out.append(f"{method} disagrees with {reference} at {where}{more}.")
    if autograd_odd and not (kinks or fd_kink_labels):
        if run.cuts:
            out.append(
                "Autograd's graph is cut by " + ", ".join(run.cuts)
                + ": autograd treats what these return as constants, so its gradient misses those paths, while "
                "SymPy and the differences see the whole function. Keep the computation in tensors (no .item(), .detach(), .numpy() or float())."
            )
        elif run.custom_functions:
            out.append(
                "The cell uses the custom autograd.Function "
                + ", ".join(run.custom_functions)
                + ": autograd follows its hand-written backward, and the other methods disagree with it, so that backward is the likely culprit."
            )
        elif "autograd" in by_method or reference == "autograd":
            out.append("Autograd is the odd one out; look for operations that stop gradients (torch.no_grad, in-place edits of .data) in the cell.")
    return out


def _autograd_is_odd(results: dict[str, MethodResult], reference: str, per_method_ok: dict[str, bool]) -> bool:
    """Autograd is the reference, and every other method that ran disagrees with it."""
    others = [m for m in ("symbolic", "central", "forward", "directional") if m in per_method_ok]
    return reference == "autograd" and bool(others) and not any(per_method_ok[m] for m in others)


def _join(words: Sequence[str]) -> str:
    """a, b and c"""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _suited_step(method: str, eps: float) -> float:
    from ..finite_differences import default_step

    return default_step("central" if method != "forward" else "forward", eps)


def study(run, results: dict[str, MethodResult], reference: str, value: float, step: float | None):
    import torch

    from ..finite_differences import random_directions, step_study

    ref = results.get(reference)
    if ref is None or ref.status != "ok" or ref.gradient is None:
        return None
    v = random_directions(run.points, 1, 12345)[0]
    exact = sum(float(torch.from_numpy(g.reshape(-1)) @ v[n].detach().to("cpu", torch.float64).reshape(-1)) for n, g in ref.gradient.items())
    top = max(float(t.abs().max()) for t in run.points.values())
    used = {
        m: results[m].step * max(1.0, top) if m in results and results[m].status == "ok" and results[m].step else None
        for m in ("forward", "central")
    }
    try:
        return step_study(run.evaluate, run.points, v, exact, value, run.eps, used)
    except CellError:
        return None

