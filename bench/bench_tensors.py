"""%tensorinfo statistics against x.sum() alone and against lovely-tensors, with peak extra memory.

Run:  .venv/bin/python bench/bench_tensors.py [--quick] [--threads N]
      (AUTODIFF_MAGICS_NO_KERNEL=1 in front times the NumPy/torch passes instead of the compiled kernel)

Prints, in one run, the statistics (min, max, mean, std, NaN/±inf/zero counts) against ``x.sum()``
on float32 at 10⁶, 10⁷ and 10⁸ elements, on clean randn and on randn with NaN, +inf and -inf
sprinkled in (1 in 1,000 in all), with the peak extra memory of each; then other data at 10⁷.
At most one 10⁸ tensor (400 MB) is alive at a time; the run takes a minute or two.

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

from autodiff_magics.tensors import _chunk_elements, _float_stats, _memory_order, tensorinfo


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
    "randn": lambda n: torch.randn(n),
    "randn with NaN/±inf (1 in 1,000)": lambda n: _with_nonfinite(torch.randn(n)),
    "rand (all > 0)": lambda n: torch.rand(n),
    "relu(randn) (half zeros)": lambda n: torch.relu(torch.randn(n)),
    "randn with 1% NaN/inf": lambda n: _with_nonfinite(torch.randn(n), every=100),
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
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads for this run, x.sum() and the "
                    "statistics alike (default 1: steadier on a shared machine, where a busy core stalls every "
                    "parallel region; 0 keeps torch's default)")
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
    from autodiff_magics.tensors.float_fused import kernel

    fused = kernel()
    path = f"the compiled kernel ({fused.vector_width}-byte vectors)" if fused is not None else "the NumPy/torch passes (no kernel)"
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; float32; statistics by {path}")
    print("times: minimum over interleaved repeats, as a ratio to x.sum() on the same tensor (target: stats <= 3x at 10^7 and 10^8)")
    print(f"{'elements':>12} {'data':<34} {'x.sum()':>9} {'stats':>7} {'%tensorinfo':>12} {'lovely':>7}   peak extra: {'stats':>9} {'%tensorinfo':>11}")
    for n in sizes:
        for label in ("randn", "randn with NaN/±inf (1 in 1,000)"):
            x = CASES[label](n)
            fns = _functions(x, lovely)
            fns.pop("lovely_nohist", None)
            for fn in fns.values():  # warm up
                fn()
            t = best(fns, 25 if n < 10**8 else 7)
            del x, fns
            gc.collect()
            mem = {k: memory(n, k, label) for k in ("stats", "report")}
            base = t["sum"]
            lov = f"{t['lovely'] / base:6.1f}×" if lovely else "   n/a"
            print(
                f"{n:>12,} {label:<34} {base * 1e3:7.2f}ms {t['stats'] / base:6.2f}× {t['report'] / base:11.2f}× {lov}"
                f"   {mib(mem['stats']):>20} {mib(mem['report']):>11}",
                flush=True,
            )

    n = 10**7
    print(f"\nother data, {n:,} elements (stats as a ratio to x.sum() on the same tensor):")
    for label, make in list(CASES.items())[2:]:
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
        print(f"  {label:<38} stats {t['stats'] / t['sum']:5.2f}×{lov}, peak extra {mib(extra)}", flush=True)


def _with_nonfinite(x, every: int = 1000):
    """NaN, +inf and -inf in turn, one element in ``every``."""
    x[:: 3 * every] = float("nan")
    x[every :: 3 * every] = float("inf")
    x[2 * every :: 3 * every] = -float("inf")
    return x


if __name__ == "__main__":
    main()
