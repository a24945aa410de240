"""The symbolic row on PyTorch's OpInfo corpus: coverage, and exactness wherever it answers.

Every sample of tests/opinfo_corpus.py goes through ``trace_and_differentiate``; where it answers,
its value must equal f at the point and its gradient autograd's (except at the genuine kinks
listed in KINKS, with their reasons); it must answer on at least 60% of the ops, and never raise
anything but its one-sentence ``SymbolicUnsupported``.
"""

from __future__ import annotations

import math
import time
import warnings
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch

pytest.importorskip("expecttest")

from autodiff_magics.symbolic import SymbolicUnsupported, trace_and_differentiate  # noqa: E402
from tests.opinfo_corpus import cases  # noqa: E402

#: ops whose sample sits on a kink, where autograd returns one subgradient and SymPy none
KINKS: dict[str, str] = {
    "linalg.norm.subgradients_at_zero": "the 2-norm at 0: sqrt(Σx²) has no derivative there (autograd returns 0)",
}

#: ops where autograd's gradient is not the derivative of the function it computed (central
#: differences side with the symbolic row)
AUTOGRAD_DIFFERS: dict[str, str] = {
    "as_strided_scatter": "overlapping positions: autograd's backward sends gradient to input elements the scatter overwrote",
    "nn.functional.max_unpool1d": "duplicate indices: one element wins in the forward, autograd's backward gathers into all",
    "nn.functional.max_unpool2d": "duplicate indices: one element wins in the forward, autograd's backward gathers into all",
    "nn.functional.max_unpool3d": "duplicate indices: one element wins in the forward, autograd's backward gathers into all",
}


@dataclass
class Outcome:
    name: str
    status: str  # "ok", "unsupported", "wrong value", "wrong gradient", "crash"
    reason: str = ""
    seconds: float = 0.0
    gradcheck_seconds: float = 0.0
    kinks: list[str] = field(default_factory=list)


def check(name: str, fn, leaves, with_gradcheck: bool = False) -> Outcome:
    """One sample: the symbolic row against f's value and autograd's gradient at the point."""
    names = [f"x{k}" for k in range(len(leaves))]
    points = {n: t.detach().numpy().copy() for n, t in zip(names, leaves)}
    inputs = [t.detach().clone().requires_grad_(True) for t in leaves]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = fn(*inputs)
        grads = torch.autograd.grad(value, inputs, allow_unused=True)
        gc = 0.0
        if with_gradcheck:
            start = time.perf_counter()
            try:
                torch.autograd.gradcheck(fn, tuple(t.detach().clone().requires_grad_(True) for t in leaves))
            except Exception:  # noqa: BLE001 - a failing gradcheck still took its time
                pass
            gc = time.perf_counter() - start
        start = time.perf_counter()
        try:
            r = trace_and_differentiate(lambda v: fn(*[v[n] for n in names]), points)
        except SymbolicUnsupported as e:
            return Outcome(name, "unsupported", str(e), time.perf_counter() - start, gc)
        except Exception as e:  # noqa: BLE001 - anything else is a defect of the engine
            return Outcome(name, "crash", f"{type(e).__name__}: {e}"[:300], time.perf_counter() - start, gc)
        seconds = time.perf_counter() - start
    f0 = float(value)
    rounded = any("the cell rounds to" in n for n in r.notes)  # .half(): the formula is the unrounded math
    tolerance = 1e-2 if rounded else 1e-9
    if not math.isclose(r.value, f0, rel_tol=tolerance, abs_tol=tolerance) and not (math.isnan(r.value) and math.isnan(f0)):
        return Outcome(name, "wrong value", f"symbolic {r.value!r} vs f {f0!r}", seconds, gc, r.kinks)
    for n, g, t in zip(names, grads, inputs):
        expected = np.zeros(t.shape) if g is None else g.detach().numpy(force=True)
        got = r.gradient[n]
        scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
        if not np.allclose(got, expected, rtol=1e-7, atol=1e-9 * scale, equal_nan=True):
            worst = float(np.nanmax(np.abs(got - expected)))
            if r.kinks:
                return Outcome(name, "kink", f"{n}: at {', '.join(r.kinks)[:120]}", seconds, gc, r.kinks)
            if _central_agrees(fn, leaves, names.index(n), got):
                return Outcome(name, "autograd differs", f"{n}: central differences side with symbolic", seconds, gc)
            return Outcome(name, "wrong gradient", f"{n}: max difference {worst:.3g}", seconds, gc, r.kinks)
    return Outcome(name, "ok", "", seconds, gc, r.kinks)


def _central_agrees(fn, leaves, k: int, got: np.ndarray, h: float = 1e-6) -> bool:
    """Central differences of f in leaf k agree with the symbolic gradient (to 1e-5 relative)."""
    base = [t.detach().clone() for t in leaves]
    estimate = np.zeros(base[k].shape)
    with torch.no_grad():
        for idx in np.ndindex(*base[k].shape):
            up = [t.clone() for t in base]
            down = [t.clone() for t in base]
            up[k][idx] += h
            down[k][idx] -= h
            estimate[idx] = (float(fn(*up)) - float(fn(*down))) / (2 * h)
    scale = max(1.0, float(np.max(np.abs(got), initial=0.0)))
    return bool(np.allclose(estimate, got, rtol=1e-5, atol=1e-5 * scale))


def check_corpus(names=None, with_gradcheck: bool = False) -> dict[str, list[Outcome]]:
    """Every sample of the corpus (or of the ops named), grouped by op."""
    per_op: dict[str, list[Outcome]] = defaultdict(list)
    for name, fn, leaves in cases(names):
        per_op[name].append(check(name, fn, leaves, with_gradcheck))
    return dict(per_op)


def op_status(outcomes: list[Outcome]) -> str:
    """An op is ok when every sample is; otherwise it takes its worst sample's status."""
    order = ["crash", "wrong value", "wrong gradient", "unsupported", "kink", "autograd differs", "ok"]
    return min((o.status for o in outcomes), key=order.index)


@pytest.fixture(scope="module")
def corpus() -> dict[str, list[Outcome]]:
    return check_corpus()


def test_symbolic_answers_on_most_of_the_corpus(corpus):
    ok = [n for n, o in corpus.items() if op_status(o) in ("ok", "kink", "autograd differs")]
    assert len(corpus) >= 400, len(corpus)
    assert len(ok) / len(corpus) >= 0.60, f"symbolic ok on {len(ok)}/{len(corpus)} ops"


def test_every_answer_is_exact(corpus):
    wrong = {n: [f"{o.status}: {o.reason}" for o in outs if o.status.startswith("wrong")] for n, outs in corpus.items()}
    assert not {n: w for n, w in wrong.items() if w}


def test_disagreements_with_autograd_are_the_listed_ones(corpus):
    kinks = {n for n, outs in corpus.items() if any(o.status == "kink" for o in outs)}
    differs = {n for n, outs in corpus.items() if any(o.status == "autograd differs" for o in outs)}
    assert kinks <= set(KINKS), kinks - set(KINKS)
    assert differs <= set(AUTOGRAD_DIFFERS), differs - set(AUTOGRAD_DIFFERS)


def test_nothing_raises_but_the_one_sentence(corpus):
    crashes = {n: [o.reason for o in outs if o.status == "crash"] for n, outs in corpus.items()}
    crashes = {n: c for n, c in crashes.items() if c}
    assert not crashes, crashes
    for outs in corpus.values():
        for o in outs:
            assert "\n" not in o.reason and len(o.reason) < 300, o.reason
