"""The comparison: the reference chosen after it is validated, every other method against it
within tolerances that can resolve the gradient, and the verdict that the diagnosis explains.

A method's ``error`` is its stated error bound per component. A component agrees when
``|method − reference| ≤ error(method) + error(reference) + floor``, where the floor is
``16ε·max(max|g|, |f|/max(1, |x|))`` (with ``--rtol``/``--atol`` the user's tolerance replaces this). A method whose
bound is as wide as the gradient itself is *inconclusive*, never part of "all agree".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..arrays import all_finite, largest_abs, signed_sum
from ..cell import CellError
from .bounds import total
from .diagnosis import Comparison, Finding, diagnose
from .report import METHODS, Disagreement, MethodResult

__all__ = ["choose_reference", "compare", "study"]

#: the order in which methods are trusted as the reference, once validated
_TRUST = ("symbolic", "autograd", "central", "forward")


def _usable(m: MethodResult | None, finite: Any = all_finite) -> bool:
    return m is not None and m.status == "ok" and m.gradient is not None and all(finite(g) for g in m.gradient.values())


def choose_reference(run: Any, results: Mapping[str, MethodResult]) -> str:
    """The most exact method that ran, with a finite gradient (NaN disqualifies it)."""
    finite = getattr(run, "finite", all_finite)
    for name in _TRUST:
        if _usable(results.get(name), finite):
            return name
    return next((n for n in _TRUST if n in results and results[n].status == "ok"), "autograd")


@dataclass
class Verdict:
    headline: str
    explanations: list[str]
    disagreements: list[Disagreement]
    tolerance: str
    suspects: list[str] = field(default_factory=list)
    #: every method that voted agrees with a validated reference, within tolerances that resolve it
    agree: bool = False
    findings: list[Finding] = field(default_factory=list)


def compare(run: Any, results: dict[str, MethodResult], reference: str, rtol: float | None, atol: float | None, value: float) -> Verdict:
    ref = results.get(reference)
    if ref is None or ref.status != "ok" or ref.gradient is None:
        reasons = "; ".join(f"{m.name}: {m.reason}" for m in results.values() if m.status == "failed")
        return Verdict("No gradient could be computed.", [reasons] if reasons else [], [], "")
    finite, largest = getattr(run, "finite", all_finite), getattr(run, "largest", largest_abs)
    gscale = max((largest(g) for g in ref.gradient.values() if g.size and finite(g)), default=0.0)
    user = rtol is not None or atol is not None
    tolerance_text = (
        f"|method − {reference}| ≤ {atol or 0:g} + {rtol or 0:g}·|{reference}|"
        if user
        else "per component: the method's error bound + the reference's + 16ε·max(max|g|, |f|/max(1, |x|))"
    )
    c = Comparison(run=run, results=results, reference=reference, value=value, gscale=gscale)
    # the size a bound must resolve: the gradient, but not below what is zero at f's scale (a
    # gradient of 1e-14 where f is 3 is round-off, and "0 ± 1e-9" agrees with it)
    top = max((largest(t) for t in run.points.values() if t.numel()), default=0.0)
    resolution = max(0.25 * gscale, 1e-6 * abs(value) / max(1.0, top) if math.isfinite(value) else 0.0, np.finfo(np.float64).tiny)
    # round-off every method may carry: at the gradient's scale, and at f's (a gradient that is
    # exactly 0 comes out of autograd as ±1e-17 where f is 1)
    floor = 16 * run.eps * max(gscale, abs(value) / max(1.0, top) if math.isfinite(value) else 0.0)
    for name, m in results.items():
        if name == reference or m.status != "ok":
            continue
        if name == "directional":
            m.details["reference"] = reference
            c.per_method_ok[name] = _compare_directional(run, m, ref, floor, rtol, atol, c.disagreements)
            continue
        if name == "points":
            c.per_method_ok[name] = not m.details.get("bad")
            c.disagreements.extend(Disagreement("points", None, (k,), b["autograd"], b["central"], b["tolerance"]) for k, b in enumerate(m.details.get("bad", [])))
            continue
        if m.gradient is None:
            continue
        worst, widest, ok, wide = 0.0, 0.0, True, []
        for var, g_ref in ref.gradient.items():
            g = m.gradient[var]
            diff = np.abs(g - g_ref)
            largest = float(np.max(diff)) if diff.size else 0.0
            if math.isnan(largest) or largest > worst:
                worst = largest
            if user:
                tol = (atol if atol is not None else floor) + (rtol or 0.0) * np.abs(g_ref)
            else:
                tol = m.error[var] + ref.error[var] + floor
            widest = max(widest, float(np.max(tol)) if np.size(tol) else 0.0)
            if not user:
                above = tol > resolution
                wide.append((var, above if np.shape(above) == np.shape(g_ref) else np.broadcast_to(above, np.shape(g_ref))))
            bad = ~(diff <= tol)  # NaN counts as a disagreement
            for idx in zip(*np.nonzero(bad)) if bad.ndim else ([()] if bool(bad) else []):
                idx = tuple(int(i) for i in idx)
                c.disagreements.append(Disagreement(name, var, idx, float(g[idx]), float(g_ref[idx]), float(np.asarray(tol)[idx] if np.ndim(tol) else tol)))
                ok = False
        m.max_abs_error = worst
        c.per_method_ok[name] = ok
        # a tolerance above a quarter of the gradient makes "agreement" there meaningless: say so
        if ok and not user and math.isfinite(value) and name != "expect" and widest > resolution:
            c.unresolved[name] = u = _unresolved(m, wide)
            # a method that resolves most components votes on them, and its few others are named
            if not (u["total"] > 1 and 2 * u["count"] <= u["total"]):
                c.inconclusive.append(name)
    ref.max_abs_error = 0.0
    findings = diagnose(c)
    headline = next((f.headline for f in findings if f.headline), None) or _default_headline(c)
    explanations = [f.explanation for f in findings if f.explanation]
    suspects: list[str] = []
    for f in findings:
        suspects += [s for s in f.suspects if s not in suspects]
    if c.disagreements and not suspects:
        suspects = sorted({d.method for d in c.disagreements}, key=METHODS.index)
    suspects += [m for m in c.inconclusive if m not in suspects]
    blocked = any(f.blocks_agreement for f in findings)
    # a method that cannot resolve the gradient does not vote (and is named): agreement needs
    # at least one other method that resolves it, when any other ran
    voters = [n for n, ok in c.per_method_ok.items() if n not in c.inconclusive and n != "expect"]
    others_ran = any(n != "expect" for n in c.per_method_ok)
    agree = not c.disagreements and math.isfinite(value) and not blocked and (bool(voters) or not others_ran)
    return Verdict(headline, explanations, c.disagreements, tolerance_text, suspects, agree, findings)


def _default_headline(c: Comparison) -> str:
    compared = [n for n, m in c.results.items() if m.status == "ok"]
    if not math.isfinite(c.value):
        return f"f is {_fmt(c.value)} at the point: no gradient there is meaningful."
    voters = sorted((n for n in compared if n not in c.inconclusive), key=METHODS.index)
    if not c.disagreements and c.inconclusive and len(voters) < 2:
        return f"Inconclusive: {_join(c.inconclusive)} cannot resolve the gradient at this step and dtype."
    if not c.disagreements:
        others = [n for n in voters if n != c.reference]
        if not others:
            return f"Only {c.reference} ran: nothing to cross-check."
        lead = f"All {len(voters)} methods agree" if not c.inconclusive else f"{_join(voters)} agree"
        tail = f"; {_join(c.inconclusive)} cannot resolve the gradient here (inconclusive)" if c.inconclusive else ""
        for name in (n for n in voters if n in c.unresolved):  # voters that cannot resolve a few components
            u = c.unresolved[name]
            tail += f"; {name} cannot resolve {u['count']:,} of its {u['total']:,} components ({', '.join(u['first'][:2])}{', …' if u['count'] > 2 else ''})"
        return f"{lead} (reference: {c.reference}){tail}."
    bad_methods = sorted({d.method for d in c.disagreements}, key=METHODS.index)
    places = sorted({d.label() for d in c.disagreements})
    where = f"at {', '.join(places[:4])}{' and more' if len(places) > 4 else ''}"
    if c.autograd_is_odd():
        if c.reference == "autograd":
            others = [m for m in bad_methods if m != "expect"]
        else:
            others = [m for m in METHODS if m not in ("autograd", "expect", "points") and (m == c.reference or c.per_method_ok.get(m))]
        return f"autograd disagrees with {_join(others)} {where}."
    return f"{_join(bad_methods)} {'disagrees' if len(bad_methods) == 1 else 'disagree'} with {c.reference} {where}."


def _unresolved(m: MethodResult, wide: list[tuple[str, np.ndarray]]) -> dict[str, Any]:
    """The components a method cannot resolve: how many of how many, the first few, and the share
    of round-off in their bounds (the rest is truncation: f's shape within the steps)."""
    count = sum(int(mask.sum()) for _, mask in wide)
    total = sum(mask.size for _, mask in wide)
    first = [var + f"[{', '.join(map(str, i))}]" if mask.ndim else var
             for var, mask in wide for i in (zip(*np.nonzero(mask)) if mask.ndim else [()] if mask else [])][:3]
    share = None
    if m.roundoff is not None and m.error is not None and count:
        part = sum(float(np.sum(m.roundoff[var][mask])) for var, mask in wide)
        whole = sum(float(np.sum(np.asarray(m.error[var])[mask])) for var, mask in wide)
        share = part / whole if whole > 0 else None
    return {"count": count, "total": total, "first": first, "roundoff_share": share}


def _compare_directional(run: Any, m: MethodResult, ref: MethodResult, floor: float, rtol, atol, disagreements: list[Disagreement]) -> bool:
    import torch

    expected, exp_err = [], []
    flat = {var: torch.from_numpy(g.reshape(-1)) for var, g in ref.gradient.items()}
    # directions are ±1, so |g·v| terms are |g| and the error bound is a plain sum, the same for every v
    l1 = {var: float(torch.linalg.vector_norm(gt, 1)) for var, gt in flat.items()}  # ‖g‖₁, read once per variable
    err = sum(total(ref.error, var, l1[var]) + 4 * run.eps * l1[var] for var in flat)
    for v in run.directions:
        expected.append(sum(signed_sum(g, v[var]) for var, g in ref.gradient.items()))
        exp_err.append(err)
    ok, worst = True, 0.0
    for k, (d, e, x, xe) in enumerate(zip(m.details["differences"], m.details["errors"], expected, exp_err)):
        diff = abs(d - x)
        worst = max(worst, diff)
        tol = ((atol if atol is not None else floor) + (rtol or 0.0) * abs(x)) if (rtol is not None or atol is not None) else e + xe + floor
        if not diff <= tol:
            disagreements.append(Disagreement("directional", None, (k,), d, x, tol))
            ok = False
    m.details["expected"] = expected
    m.max_abs_error = worst
    return ok


def _fmt(x: float) -> str:
    from ..views.common import fmt_num

    return fmt_num(x)


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def study(run: Any, results: dict[str, MethodResult], reference: str, value: float, step: float | None):
    """The step-size study along one random direction, against the reference's g·v."""
    import torch

    from ..finite_differences import random_directions, step_study

    ref = results.get(reference)
    if ref is None or ref.status != "ok" or ref.gradient is None:
        return None
    v = random_directions(run.points, 1, 12345)[0]
    exact = sum(signed_sum(g, v[n]) for n, g in ref.gradient.items())
    top = max(largest_abs(t) for t in run.points.values())
    used = {
        m: results[m].step * max(1.0, top) if m in results and results[m].status == "ok" and results[m].step else None
        for m in ("forward", "central")
    }
    try:
        return step_study(run.evaluate, run.points, v, exact, value, run.eps, used)
    except CellError:
        return None
