"""Benchmark of %%gradient: prints ratios measured in one run (no timings live in tests).

1. warm ``%%gradient`` on the seed's f2 against the seed's own hand-written cells doing the same
   work (SymPy diff + evaluation, forward and central differences, autograd); target <= 3x;
2. ``%load_ext autodiff_magics`` against ``import torch``, each in a fresh process; target <= 0.02x;
3. ``%%gradient --wrt w`` with a 10^6-element w against one forward+backward; target <= 15x;
4. ``%%gradient --wrt model`` on a 10^6-parameter ``torch.nn`` model (float32, checked on float64
   copies) against one forward+backward of the model in float64; target <= 15x.

Run: .venv/bin/python bench/bench_gradient.py
"""

from __future__ import annotations

import copy
import os
import statistics
import subprocess
import sys

import numpy as np
import sympy as sym
import torch
from IPython.core.interactiveshell import InteractiveShell
from timing import interleaved_medians  # bench/, the script's own folder

F2 = "3*x[0]*x[2] - 2*x[1]**2 + 5*x[2]**3"




def seed_cells() -> None:
    """The lesson's three ways for f2, written by hand (differences done per coordinate, right)."""
    x1, x2, x3 = sym.symbols("x1 x2 x3")
    f = 3 * x1 * x3 - 2 * x2**2 + 5 * x3**3
    point = {x1: 1.0, x2: 2.0, x3: 3.0}
    [sym.diff(f, v).subs(point) for v in (x1, x2, x3)]

    def f2(x):
        return 3 * x[0] * x[2] - 2 * x[1] ** 2 + 5 * x[2] ** 3

    x0 = np.array([1.0, 2.0, 3.0])
    h = 1e-4
    ei = np.eye(3)
    [(f2(x0 + h * ei[i]) - f2(x0)) / h for i in range(3)]
    [(f2(x0 + h * ei[i]) - f2(x0 - h * ei[i])) / (2 * h) for i in range(3)]
    xt = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    out = 3 * xt[0] * xt[2] - 2 * xt[1] ** 2 + 5 * xt[2] ** 3
    out.backward()
    xt.grad


def timed_in_fresh_process(setup: str, statement: str, repeat: int = 5) -> float:
    """Median seconds of ``statement`` run once in each of ``repeat`` fresh interpreters."""
    code = f"import time\n{setup}\nt = time.perf_counter()\n{statement}\nprint(time.perf_counter() - t)"
    # as on a user's machine, modules load from their cached bytecode (the first run writes it)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    samples = []
    for _ in range(repeat + 1):
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env)
        samples.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(samples[1:])


def main() -> None:
    ip = InteractiveShell.instance()
    ip.display_formatter.active_types = ["text/plain"]
    ip.run_line_magic("load_ext", "autodiff_magics")

    # the three are timed in alternating rounds, so that a change in the machine's load during the
    # run weighs on each alike (timed one after the other, the ratio moved by 2x between runs here)
    ours, shown, theirs = interleaved_medians(
        lambda: ip.run_cell_magic("gradient", "x=[1., 2., 3.]", F2),
        lambda: ip.run_cell_magic("gradient", "x=[1., 2., 3.]", F2).to_text(),
        seed_cells,
    )
    print(f"1. warm %%gradient on f2: {ours * 1e3:.1f} ms ({shown * 1e3:.1f} ms with its text printed); the seed's "
          f"hand-written cells: {theirs * 1e3:.1f} ms; ratio {ours / theirs:.2f}x ({shown / theirs:.2f}x printed; target <= 3x)")

    load = timed_in_fresh_process(
        "from IPython.core.interactiveshell import InteractiveShell\nip = InteractiveShell.instance()",
        "ip.run_line_magic('load_ext', 'autodiff_magics')",
    )
    torch_import = timed_in_fresh_process("", "import torch")
    print(f"2. %load_ext autodiff_magics: {load * 1e3:.2f} ms; import torch: {torch_import * 1e3:.0f} ms "
          f"(each in fresh processes); ratio {load / torch_import:.4f}x (target <= 0.02x)")

    w = torch.randn(10**6, generator=torch.Generator().manual_seed(0))
    ip.user_ns["w"] = w
    wd = w.double().requires_grad_()

    def forward_backward():
        y = (torch.sin(wd) * wd**2).sum()
        torch.autograd.grad(y, [wd])

    big, one = interleaved_medians(lambda: ip.run_cell_magic("gradient", "--wrt w", "(sin(w) * w**2).sum()"), forward_backward,
                                   rounds=7, per_round=1, warmup=1)
    report = ip.run_cell_magic("gradient", "--wrt w", "(sin(w) * w**2).sum()")
    parts = ", ".join(f"{n} {m.seconds * 1e3:.0f} ms" for n, m in report.methods.items() if m.seconds)
    print(f"3. %%gradient --wrt w (10^6 elements, float64): {big * 1e3:.0f} ms ({parts}); one forward+backward: "
          f"{one * 1e3:.1f} ms; ratio {big / one:.1f}x (target <= 15x); agree={report.agree}")

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(1000, 800), torch.nn.Tanh(), torch.nn.Linear(800, 250), torch.nn.Tanh(), torch.nn.Linear(250, 1))
    inputs, targets = torch.randn(64, 1000), torch.randn(64, 1)
    n = sum(p.numel() for p in model.parameters())
    ip.user_ns.update(model=model, inputs=inputs, targets=targets, torch=torch)
    twin = copy.deepcopy(model).double()
    params = list(twin.parameters())
    inputs64, targets64 = inputs.double(), targets.double()

    def model_forward_backward():
        loss = torch.nn.functional.mse_loss(twin(inputs64), targets64)
        torch.autograd.grad(loss, params)

    cell = "torch.nn.functional.mse_loss(model(inputs), targets)"
    big, one = interleaved_medians(lambda: ip.run_cell_magic("gradient", "--wrt model", cell), model_forward_backward,
                                   rounds=7, per_round=1, warmup=1)
    report = ip.run_cell_magic("gradient", "--wrt model", cell)
    parts = ", ".join(f"{n} {m.seconds * 1e3:.0f} ms" for n, m in report.methods.items() if m.seconds)
    print(f"4. %%gradient --wrt model ({n:,} parameters, float32 model checked in float64): {big * 1e3:.0f} ms ({parts}); "
          f"one forward+backward in float64: {one * 1e3:.1f} ms; ratio {big / one:.1f}x (target <= 15x); agree={report.agree}")


if __name__ == "__main__":
    main()
