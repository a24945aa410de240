"""Benchmark of the central differences against numdifftools: relative error, evaluations and time
on the issue's five smooth float64 functions, measured in one run.

Each function is one plain Python callable on a float (``math``), handed to both: ours through
``per_coordinate`` (a 0-d float64 tensor per evaluation, as the magic does), numdifftools'
``nd.Derivative`` with its defaults (adaptive steps, Richardson). The row "plain central" is the
scheme before extrapolation, (f(x+h) − f(x−h))/2h at h = ε^(1/3)·max(1, |x|).

Run: .venv/bin/python bench/bench_differences.py
"""

from __future__ import annotations

import math
import statistics
import timeit

import numdifftools as nd
import sympy
import torch

from autodiff_magics.differences import per_coordinate

EPS = torch.finfo(torch.float64).eps
FUNCTIONS = [
    ("x³ + sin x at 2", "x**3 + sin(x)", 2.0),
    ("eˣ·x at 1.5", "exp(x)*x", 1.5),
    ("log(1+x²) at 0.7", "log(1 + x**2)", 0.7),
    ("sin 2x at 3.5", "sin(2*x)", 3.5),
    ("1/(1+x) at 0.3", "1/(1 + x)", 0.3),
]


def median_time(fn, repeat: int = 25) -> float:
    fn()
    return statistics.median(timeit.repeat(fn, number=1, repeat=repeat))


def main() -> None:
    print(f"{'function':18} {'ours':>9} {'plain central':>14} {'numdifftools':>13} {'bound/|g|':>10} "
          f"{'evals ours':>10} {'evals nd':>9} {'time ours':>10} {'time nd':>9}")
    for label, expr, x0 in FUNCTIONS:
        x = sympy.Symbol("x")
        exact = float(sympy.diff(sympy.sympify(expr), x).subs(x, sympy.Rational(x0)).evalf(40))
        scalar = eval("lambda x: " + expr, {"sin": math.sin, "exp": math.exp, "log": math.log})
        calls = [0]

        def evaluate(p, scalar=scalar):
            calls[0] += 1
            return scalar(float(p["x"]))

        points = {"x": torch.tensor(x0, dtype=torch.float64)}
        f0 = scalar(x0)
        d = per_coordinate(evaluate, points, "central", EPS, f0)
        ours, evals_ours = float(d.gradient["x"]), calls[0]
        t_ours = median_time(lambda: per_coordinate(evaluate, points, "central", EPS, f0))

        h = EPS ** (1 / 3) * max(1.0, abs(x0))
        plain = (scalar(x0 + h) - scalar(x0 - h)) / (2 * h)

        counted = [0]

        def counting(v, scalar=scalar):
            counted[0] += 1
            return scalar(float(v))

        derivative = nd.Derivative(counting)
        theirs = float(derivative(x0))
        evals_nd = counted[0]
        t_nd = median_time(lambda: nd.Derivative(counting)(x0))

        def rel(v: float) -> float:
            return abs(v - exact) / abs(exact)

        print(f"{label:18} {rel(ours):9.1e} {rel(plain):14.1e} {rel(theirs):13.1e} {float(d.error['x']) / abs(exact):10.1e} "
              f"{evals_ours:10d} {evals_nd:9d} {t_ours * 1e3:8.2f}ms {t_nd * 1e3:7.2f}ms")


if __name__ == "__main__":
    main()
