"""Benchmark of the symbolic row: prints figures measured in one run (no timings live in tests).

1. PyTorch's OpInfo corpus (tests/opinfo_corpus.py): the share of ops where the symbolic row
   answers (value = f, gradient = autograd's, or the listed kinks / autograd's own disagreements),
   the reasons it declines, its time against ``torch.autograd.gradcheck`` on the same samples
   (target <= 8x) and the slowest samples (target <= 3 s each);
2. the seed's f2 = 3*x0*x2 - 2*x1**2 + 5*x2**3: the symbolic row alone, the row replaying a record
   taken during a forward at the point, and that forward with and without the recorder.

Run from the repository root: .venv/bin/python bench/bench_symbolic.py [--ops sin,norm.inf]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from autodiff_magics.cell import CellFunction  # noqa: E402
from autodiff_magics.symbolic import record_operators, trace_and_differentiate  # noqa: E402
from tests.test_opinfo_symbolic import check_corpus, op_status  # noqa: E402
from timing import median_time  # noqa: E402  (bench/, the script's own folder)

ANSWERED = ("ok", "kink", "autograd differs")




def corpus(names: list[str] | None) -> None:
    start = time.perf_counter()
    per_op = check_corpus(names, with_gradcheck=True)
    wall = time.perf_counter() - start
    statuses = Counter(op_status(o) for o in per_op.values())
    answered = sum(statuses[s] for s in ANSWERED)
    samples = [o for outs in per_op.values() for o in outs]
    ours = sum(o.seconds for o in samples)
    theirs = sum(o.gradcheck_seconds for o in samples)
    print(f"1. OpInfo corpus: {len(per_op)} ops, {len(samples)} samples; symbolic answers on {answered} ops "
          f"({100 * answered / max(len(per_op), 1):.1f}%; target >= 60%): {dict(statuses)}")
    print(f"   time: symbolic {ours:.1f} s vs gradcheck {theirs:.1f} s on the same samples, ratio "
          f"{ours / max(theirs, 1e-9):.2f}x (target <= 8x); wall {wall:.0f} s")
    slow = sorted(samples, key=lambda o: -o.seconds)[:5]
    print("   slowest samples: " + ", ".join(f"{o.name} {o.seconds:.2f} s ({o.status})" for o in slow) + " (target <= 3 s)")
    reasons = Counter(re.sub(r"[0-9][0-9,.]*", "N", o.reason)[:90] for o in samples if o.status not in ANSWERED)
    print("   why it declines (samples): " + "; ".join(f"{n}× {r}" for r, n in reasons.most_common(8)))
    wrong = [f"{o.name}: {o.status} {o.reason}" for o in samples if o.status.startswith("wrong") or o.status == "crash"]
    print("   wrong or crashed: " + ("; ".join(wrong) if wrong else "none"))


def f2() -> None:
    source = "3*x[0]*x[2] - 2*x[1]**2 + 5*x[2]**3"
    cell = CellFunction(source, {})
    point = {"x": np.array([1.0, 2.0, 3.0])}
    row = median_time(lambda: trace_and_differentiate(cell, point), repeat=51, warmup=5)
    torch_cell = CellFunction("torch.sin(x).sum() + " + source, {"torch": torch})
    row_torch = median_time(lambda: trace_and_differentiate(torch_cell, point), repeat=51, warmup=5)

    def forward(record: bool):
        x = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64, requires_grad=True)
        if not record:
            return None, cell({"x": x})
        with record_operators({"x": x}) as rec:
            y = cell({"x": x})
        return rec.finish(y), y

    bare = median_time(lambda: forward(False), repeat=51, warmup=5)
    recorded = median_time(lambda: forward(True), repeat=51, warmup=5)
    rec, _ = forward(True)
    replay = median_time(lambda: trace_and_differentiate(cell, point, record=rec), repeat=51, warmup=5)
    print(f"2. f2: symbolic row {row * 1e3:.2f} ms (plain arithmetic: traced directly); with a torch call in the cell "
          f"(recorded run + replay) {row_torch * 1e3:.2f} ms; replaying a record of another forward {replay * 1e3:.2f} ms; "
          f"that forward {bare * 1e3:.3f} ms bare, {recorded * 1e3:.3f} ms recorded")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ops", default=None, help="comma-separated op names (default: the whole corpus)")
    options = ap.parse_args()
    torch.set_num_threads(1)
    f2()
    corpus(options.ops.split(",") if options.ops else None)


if __name__ == "__main__":
    main()
