"""Why the methods disagree, as an ordered list of small rules, most specific first.

Each rule is ``rule(c: Comparison) -> Finding | None``: it looks at the run (what the
evaluation saw: cuts, custom Functions, kinks, random draws, global modes) and the compared
results, and returns a finding or nothing. The first finding with a headline gives the
verdict's headline; every finding's explanation is listed. A new diagnosis is one new rule.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..arrays import all_finite
from .report import Disagreement, MethodResult

__all__ = ["Comparison", "Finding", "RULES", "diagnose"]


@dataclass
class Finding:
    """One cause, in plain words."""

    rule: str
    explanation: str
    headline: str | None = None  # replaces the default headline (the first one wins)
    suspects: list[str] = field(default_factory=list)
    #: the verdict cannot say "agree" while this holds (e.g. f is not computable in this dtype)
    blocks_agreement: bool = False


@dataclass
class Comparison:
    """What the rules look at: the run, the results and how they compared."""

    run: Any
    results: dict[str, MethodResult]
    reference: str
    value: float
    gscale: float
    disagreements: list[Disagreement] = field(default_factory=list)
    per_method_ok: dict[str, bool] = field(default_factory=dict)
    inconclusive: list[str] = field(default_factory=list)
    #: for each method with components it cannot resolve (inconclusive, or voting on the others):
    #: which, and why (see comparison._unresolved)
    unresolved: dict[str, dict[str, Any]] = field(default_factory=dict)

    def by_method(self) -> dict[str, list[Disagreement]]:
        out: dict[str, list[Disagreement]] = {}
        for d in self.disagreements:
            out.setdefault(d.method, []).append(d)
        return out

    def autograd_is_odd(self) -> bool:
        """Autograd disagrees with every other method that voted, and they agree among themselves."""
        others = [m for m in ("symbolic", "central", "forward", "directional") if m in self.per_method_ok or m == self.reference]
        others = [m for m in others if m != "autograd"]
        if not others or "autograd" not in self.results or self.results["autograd"].status != "ok":
            return False
        if self.reference == "autograd":
            return not any(self.per_method_ok.get(m, False) for m in others)
        return not self.per_method_ok.get("autograd", True) and all(self.per_method_ok.get(m, True) for m in others if m != self.reference)

    def kinked(self) -> bool:
        return bool(self.run.symbolic_kinks or self.run.fd_kinks)


def _fmt(x: float) -> str:
    from ..views.common import fmt_num

    return fmt_num(x)


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _where(items: list[Disagreement], limit: int = 6) -> str:
    text = ", ".join(f"{d.label()} ({_fmt(d.value)} vs {_fmt(d.expected)})" for d in items[:limit])
    return text + (f" and {len(items) - limit} more" if len(items) > limit else "")


# -- the rules, most specific first --------------------------------------------------------------


def nonfinite_value(c: Comparison) -> Finding | None:
    if math.isfinite(c.value):
        return None
    return Finding("nonfinite", f"f evaluates to {_fmt(c.value)} at the point, so every method's numbers are meaningless there.",
                   headline=f"f is {_fmt(c.value)} at the point: no gradient there is meaningful.")


def another_branch(c: Comparison) -> Finding | None:
    text = getattr(c.run, "symbolic_other_path", None)
    if not text:
        return None
    return Finding("another branch", text)


def cancellation(c: Comparison) -> Finding | None:
    text = getattr(c.run, "cancellation", None)
    if not text:
        return None
    if not c.disagreements and not c.inconclusive:
        return Finding("cancellation", text + " The methods still agree on the gradient.")
    return Finding(
        "cancellation",
        text + " Every floating-point method differentiates that rounded function, so their disagreement says nothing "
        "about your code: rewrite f to avoid the cancellation (e.g. 2·sin²(x/2) for 1 − cos x), or move the point.",
        headline="f loses its digits to cancellation at this point: " + text.split(": ", 1)[-1].rstrip("."),
        suspects=[m for m in ("autograd", "central", "forward") if m != c.reference and not c.per_method_ok.get(m, True)],
        blocks_agreement=True,
    )


def randomness(c: Comparison) -> Finding | None:
    if not c.run.random:
        return None
    where = f" ({'; '.join(c.run.random_lines[:3])})" if c.run.random_lines else ""
    return Finding(
        "randomness",
        f"f draws random numbers{where}; every method used the same draws, so the gradient is the one for that draw "
        "(your random generators are as they were before the check).",
    )


#: backward nodes of draws whose derivative in their distribution's parameters PyTorch defines
#: as 0 (derivatives.yaml: zeros_like), by the call that makes them
ZERO_GRADIENT_DRAWS = {
    "NormalBackward1": "torch.normal", "NormalBackward2": "torch.normal", "NormalBackward3": "torch.normal",
    "BernoulliBackward0": "torch.bernoulli", "PoissonBackward0": "torch.poisson",
}


def _zero_gradient_draws(c: Comparison) -> list[str]:
    graph = getattr(c.run, "graph", None)
    if graph is None or not c.run.random:
        return []
    return sorted({call for name, call in ZERO_GRADIENT_DRAWS.items() if name in graph.node_types()})


def zero_gradient_draw(c: Comparison) -> Finding | None:
    """A draw PyTorch does not differentiate (torch.normal's mean and std): autograd gives 0 by
    definition, while the differences, on the same draws, see the draw move with its parameters."""
    calls = _zero_gradient_draws(c)
    if not calls or not c.autograd_is_odd():
        return None
    normal = "torch.normal" in calls
    fix = (" For the pathwise (reparameterized) gradient write mean + std * torch.randn_like(mean), as "
           "torch.distributions' rsample() does." if normal else "")
    return Finding(
        "zero-gradient draw",
        f"f draws with {_join(calls)} from parameters that depend on the variables, and PyTorch defines that "
        "draw's gradient in its parameters as 0 (it does not differentiate through sampling); the differences "
        "reuse the same draws, so they see the draw move with its parameters." + fix,
        headline=f"autograd's gradient through {_join(calls)} is 0 by PyTorch's definition; the differences see "
                 "the draw move with its parameters.",
        suspects=["autograd"],  # its 0 is PyTorch's convention, not the derivative of f for these draws
    )


def global_mode(c: Comparison) -> Finding | None:
    modes = c.run.user_modes
    if not modes:
        return None
    return Finding("global mode", f"Your session has {_join(modes)}: the check turned it off while it ran and put it back after.")


def kink(c: Comparison) -> Finding | None:
    if not c.kinked() or not c.disagreements:
        return None
    run = c.run
    fd = [f"{v}[{', '.join(map(str, i))}]" if i else v for v, i, _, _ in run.fd_kinks]
    where = ", ".join(run.symbolic_kinks) if run.symbolic_kinks else ", ".join(fd)
    slopes = "; ".join(
        f"left slope {_fmt(lft)}, right slope {_fmt(rgt)} in {v}{'[' + ', '.join(map(str, i)) + ']' if i else ''}" for v, i, lft, rgt in run.fd_kinks
    )
    return Finding(
        "kink",
        f"f is not differentiable at this point ({where} sits exactly on its kink" + (f"; {slopes}" if slopes else "")
        + "). Autograd, SymPy and the differences each pick a different but legitimate value there "
        "(autograd takes torch's convention, e.g. 0 for abs; SymPy sign(0) = 0 or Heaviside(0) = 1/2; "
        "a forward difference sees the right-hand slope). Move the point off the kink to compare them.",
        headline=None,
        suspects=[],
    )


def cut_graph(c: Comparison) -> Finding | None:
    if not c.run.cuts or not c.autograd_is_odd():
        return None
    return Finding(
        "cut graph",
        "Autograd's graph is cut by " + ", ".join(c.run.cuts)
        + ": autograd treats what these return as constants, so its gradient misses those paths, while "
        "SymPy and the differences see the whole function. Keep the computation in tensors (no .item(), .detach(), .numpy() or float()"
        + ("; torch.stack([a, b]) or torch.cat instead of torch.tensor([a, b]), x itself instead of torch.tensor(x)"
           if any(cut.startswith("torch.tensor()") for cut in c.run.cuts) else "") + ").",
        suspects=["autograd"],
    )


def custom_backward(c: Comparison) -> Finding | None:
    if not c.run.custom_functions or not c.autograd_is_odd():
        return None
    return Finding(
        "custom backward",
        "The cell uses the custom autograd.Function " + ", ".join(c.run.custom_functions)
        + ": autograd follows its hand-written backward, and the other methods disagree with it, so that backward is the likely culprit.",
        suspects=["autograd"],
    )


def wrong_backward_elsewhere(c: Comparison) -> Finding | None:
    bad = c.results.get("points")
    if bad is None or bad.status != "ok" or not bad.details.get("bad"):
        return None
    first = bad.details["bad"][0]
    n, k = len(bad.details["bad"]), bad.details["compared"]
    return Finding(
        "points",
        f"At {n} of {k} random points around the point autograd and central differences disagree (first at {first['at']}: "
        f"{_fmt(first['autograd'])} vs {_fmt(first['central'])} along a random direction): the backward is wrong in part of the domain.",
        headline=f"autograd disagrees with central differences at {n} of {k} random points around the point.",
        suspects=["autograd"] + (["custom backward"] if False else []),
    )


def nonfinite_gradient(c: Comparison) -> Finding | None:
    nan = [n for n, m in c.results.items() if m.status == "ok" and m.gradient is not None and not all(getattr(c.run, "finite", all_finite)(g) for g in m.gradient.values())]
    if not nan:
        return None
    return Finding(
        "nonfinite gradient",
        f"{_join(nan)} gave a gradient with NaN or infinite components, so {'it' if len(nan) == 1 else 'they'} could not be the reference.",
        suspects=nan,
    )


def low_precision_differences(c: Comparison) -> Finding | None:
    run = c.run
    if run.eps <= np.finfo(np.float64).eps:
        return None
    from ..finite_differences import default_step

    texts = []
    for method in c.by_method():
        if method in ("central", "forward", "directional") and c.results[method].details.get("roundoff_share", 0) > 0.5:
            step = default_step("central" if method != "forward" else "forward", run.eps)
            texts.append(
                f"{method} differences in {str(run.dt).replace('torch.', '')} are dominated by round-off at this step "
                f"(about ε·|f|/h); the step that suits this dtype is ≈ {step:.2g}·max(1, |x|) (the default when --step is not given); or check in float64."
            )
    return Finding("round-off", " ".join(texts), suspects=[]) if texts else None


def inconclusive(c: Comparison) -> Finding | None:
    if not c.unresolved or c.disagreements:
        return None
    import torch

    from ..finite_differences import default_step

    dtype = str(c.run.dt).replace("torch.", "")
    wider = "--dtype float64 checks it with digits to spare" if c.run.dt != torch.float64 else None
    texts = []
    for name in c.unresolved:  # the inconclusive methods, and the voters with a few components unresolved
        m = c.results[name]
        if m.gradient is None:
            continue
        u = c.unresolved[name]
        where = _unresolved_words(u)
        if name in ("central", "forward", "directional"):
            step = f" with a step of {m.step:.2g}·max(1, |xᵢ|)" if m.step else ""
            share = u.get("roundoff_share")
            share = m.details.get("roundoff_share", 0) if share is None else share
            best = default_step("central" if name != "forward" else "forward", c.run.eps)
            at_best = bool(m.step) and abs(m.step - best) <= 0.01 * best
            if share > 0.5:
                why = " (dominated by round-off, about ε·|f|/h)"
                advice = (f"that step already suits {dtype} (it is the default): "
                          + (wider or "f keeps too few digits here for differences to resolve its slope")
                          if at_best else f"the step that suits this dtype is ≈ {best:.2g}·max(1, |xᵢ|) (the default when --step is not given)")
            else:
                why = (" (f is not smooth within its steps, x − 4h to x + 4h: a kink such as relu's or max's near a tie, "
                       "or a fine staircase such as round's, in that variable)" if name != "forward" else
                       " (truncation: f bends within the step there)")
                advice = "a smaller --step crosses fewer kinks, or another point keeps clear of them"
            texts.append(f"{name}{step} in {dtype} carries an error bound above a quarter of the gradient{where}{why}, "
                         f"so its agreement there means nothing; {advice}.")
        else:  # no step to tune: the dtype's rounding at every node is what the bound allows for
            texts.append(
                f"{name} in {dtype} carries an error bound above a quarter of the gradient{where} (it rounds to {dtype} at "
                f"every node), so its agreement means nothing" + (f"; {wider}." if wider else ".")
            )
    return Finding("inconclusive", " ".join(texts))


def _unresolved_words(u: dict[str, Any]) -> str:
    """' at 37 of 161 components (w[1, 0], w[2, 3], …)', or '' when it is all of them."""
    if not u or not u.get("count") or u["count"] >= u["total"]:
        return ""
    more = ", …" if u["count"] > len(u["first"]) else ""
    return f" at {u['count']:,} of {u['total']:,} components ({', '.join(u['first'])}{more})"


def wrong_expect(c: Comparison) -> Finding | None:
    items = c.by_method().get("expect")
    if not items:
        return None
    support = [m for m in ("central", "forward", "autograd", "symbolic") if m != c.reference and c.per_method_ok.get(m)]
    backing = f"; {_join(support)} agree with {c.reference}, so the expected values are the likely culprit" if support else ""
    return Finding("wrong expect", f"Your --expect differs from {c.reference} at {_where(items)}{backing}.", suspects=["expect"])


#: what in a cell's source stops gradients, and how the finding names it
_GRADIENT_STOPPERS = (
    ("no_grad", "torch.no_grad"), (".data", ".data"), ("detach", ".detach()"), ("inference_mode", "torch.inference_mode"),
    ("set_grad_enabled", "torch.set_grad_enabled"),
    (".sample(", "a distribution's .sample() (it draws under torch.no_grad; .rsample() draws so that gradients flow)"),
)


def autograd_odd_one_out(c: Comparison) -> Finding | None:
    if not c.autograd_is_odd() or c.run.cuts or c.run.custom_functions or c.kinked() or c.run.cancellation or _zero_gradient_draws(c):
        return None
    source = getattr(c.run.cell, "source", "") or ""
    labels = [label for word, label in _GRADIENT_STOPPERS if word in source]
    if labels:
        text = f"Autograd is the odd one out, and the cell uses {_join(labels)}, which stops gradients: what runs under it is a constant to autograd."
    else:
        text = "Autograd is the odd one out: the other methods agree among themselves."
    return Finding("autograd odd", text, suspects=["autograd"])


def plain_disagreement(c: Comparison) -> Finding | None:
    if c.kinked():
        return None
    texts = []
    for method, items in c.by_method().items():
        if method in ("expect", "points") or (method == "autograd" and c.autograd_is_odd()):
            continue
        if method in ("central", "forward", "directional") and c.run.eps > np.finfo(np.float64).eps and c.results[method].details.get("roundoff_share", 0) > 0.5:
            continue
        if c.autograd_is_odd() and c.reference == "autograd" and (c.run.cuts or c.run.custom_functions):
            continue
        texts.append(f"{method} disagrees with {c.reference} at {_where(items)}.")
    return Finding("disagreement", " ".join(texts)) if texts else None


#: every rule, most specific first
RULES: list[Callable[[Comparison], Finding | None]] = [
    nonfinite_value,
    another_branch,
    cancellation,
    randomness,
    zero_gradient_draw,
    global_mode,
    kink,
    cut_graph,
    custom_backward,
    wrong_backward_elsewhere,
    nonfinite_gradient,
    low_precision_differences,
    inconclusive,
    wrong_expect,
    autograd_odd_one_out,
    plain_disagreement,
]


def diagnose(c: Comparison) -> list[Finding]:
    """Every rule's finding, in order; the kink rule also prefixes the headline."""
    findings = [f for f in (rule(c) for rule in RULES) if f is not None]
    if any(f.rule == "kink" for f in findings) and not any(f.headline for f in findings):
        from .comparison import _default_headline

        findings.insert(0, Finding("kink headline", "", headline="f is not differentiable at the point: " + _default_headline(c)))
    return findings
