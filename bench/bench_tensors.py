"""%tensorinfo statistics against x.sum() alone and against lovely-tensors, with peak extra memory.

Run:  .venv/bin/python bench/bench_tensors.py [--quick]

Every figure is measured in this run. Times are the minimum of several interleaved repeats (the
machine is shared, so medians drift; the minimum is the least disturbed run), printed as ratios
to ``x.sum()`` on the same tensor. Peak extra memory is the growth of the process's peak resident
set (Linux ``VmHWM``, reset through ``/proc/self/clear_refs`` before the call) above what it held
before the call, each measured in a fresh child process (after a warm-up call on a 10-element
tensor), since a process that already ran the call reuses freed memory and would show less;
torch allocations are invisible to tracemalloc, so RSS is what counts.
"""

from __future__ import annotations

import argparse
import gc
import subprocess
import sys
import time

import torch

from autodiff_magics.tensors import _float_stats, _chunk_elements, _memory_order, tensorinfo


def _vm(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(field)


def peak_extra(fn) -> int | None:
    """Bytes by which fn() raised the peak resident set above the resident set before it."""
    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return None
    before = _vm("VmRSS")
    fn()
    return max(0, _vm("VmHWM") - before)


def best(fns: dict, repeats: int) -> dict:
    """Minimum time of each function over interleaved repeats."""
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            s = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - s)
    return {k: min(v) for k, v in times.items()}


def mib(n: int | None) -> str:
    return "n/a" if n is None else f"{n / 2**20:,.1f} MiB"


CASES = {
    "rand (all > 0: zero count skipped)": lambda n: torch.rand(n),
    "relu(randn) (half zeros)": lambda n: torch.relu(torch.randn(n)),
    "randn with 1% NaN/inf": lambda n: _with_nonfinite(torch.randn(n)),
    "1000 + randn/1000 (mean ≫ spread)": lambda n: 1000 + torch.randn(n) / 1000,
    "randn, transposed (non-contiguous)": lambda n: torch.randn(1000, n // 1000).T,
    "randn float64": lambda n: torch.randn(n, dtype=torch.float64),
    "randn bfloat16": lambda n: torch.randn(n, dtype=torch.bfloat16),
}


def _functions(x, lovely):
    u, _ = _memory_order(x)
    chunk = _chunk_elements(x)
    fns = {
        "sum": lambda: x.sum(),
        "stats": lambda: _float_stats(u, chunk),
        "report": lambda: tensorinfo(x, names=["x"]),
    }
    if lovely is not None:
        fns["lovely"] = lambda: str(lovely(x))
        fns["lovely_nohist"] = lambda: str(lovely(x, show_histogram=False))
    return fns


def _lovely():
    try:
        from lovely_tensors import lovely
    except ImportError:
        return None
    return lovely


def child(n: int, which: str, case: str | None) -> None:
    """In a fresh process: peak extra memory of one call on a new tensor."""
    lovely = _lovely()
    make = CASES[case] if case else torch.randn
    for fn in _functions(make(1000), lovely).values():  # warm up code paths on a small tensor
        fn()
    x = make(n)
    print(peak_extra(_functions(x, lovely)[which]))


def memory(n: int, which: str, case: str | None = None) -> int | None:
    cmd = [sys.executable, __file__, "--child", str(n), which] + ([case] if case else [])
    out = subprocess.run(cmd, capture_output=True, text=True)
    try:
        return int(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="10^6 and 10^7 only")
    ap.add_argument("--threads", type=int, help="torch intra-op threads for this run (default: torch's); "
                    "1 thread is steadier on a shared machine, where a busy core stalls every parallel region")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)  # this script's own process only
    if args.child:
        child(int(args.child[0]), args.child[1], " ".join(args.child[2:]) or None)
        return
    lovely = _lovely()
    sizes = [10**6, 10**7] if args.quick else [10**6, 10**7, 10**8]
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; float32 randn (values on both sides of 0)")
    print("times: minimum over interleaved repeats, as a ratio to x.sum() on the same tensor")
    print(f"{'elements':>12} {'x.sum()':>9} {'stats':>7} {'%tensorinfo':>12} {'lovely':>7} {'lovely -hist':>12}   peak extra: {'stats':>9} {'%tensorinfo':>11} {'lovely':>9}")
    for n in sizes:
        x = torch.randn(n)
        fns = _functions(x, lovely)
        for fn in fns.values():  # warm up
            fn()
        t = best(fns, 30 if n < 10**8 else 7)
        del x, fns
        gc.collect()
        mem = {k: memory(n, k) for k in ("stats", "report", "lovely") if k != "lovely" or lovely is not None}
        base = t["sum"]
        lov = f"{t['lovely'] / base:6.1f}×" if lovely else "   n/a"
        lov2 = f"{t['lovely_nohist'] / base:11.1f}×" if lovely else "        n/a"
        print(
            f"{n:>12,} {base * 1e3:7.2f}ms {t['stats'] / base:6.2f}× {t['report'] / base:11.2f}× {lov} {lov2}"
            f"   {mib(mem['stats']):>20} {mib(mem['report']):>11} {mib(mem.get('lovely')):>9}"
        )

    n = 10**7
    print(f"\nother data, {n:,} elements (stats as a ratio to x.sum() on the same tensor):")
    for label, make in CASES.items():
        x = make(n)
        fns = _functions(x, lovely)
        fns.pop("report")
        fns.pop("lovely", None)
        for fn in fns.values():
            fn()
        t = best(fns, 15)
        del x, fns
        gc.collect()
        extra = memory(n, "stats", label)
        lov = f", lovely (no histogram) {t['lovely_nohist'] / t['sum']:5.1f}×" if lovely else ""
        print(f"  {label:<38} stats {t['stats'] / t['sum']:5.2f}×{lov}, peak extra {mib(extra)}")


def _with_nonfinite(x):
    x[::300] = float("nan")
    x[1::300] = float("inf")
    x[2::300] = -float("inf")
    return x


if __name__ == "__main__":
    main()
