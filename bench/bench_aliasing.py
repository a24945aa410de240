"""%alias_check on 10^8-element arrays against np.may_share_memory (bounds only) and
np.shares_memory (exact, unbounded).

Run:  .venv/bin/python bench/bench_aliasing.py

All figures are measured in this run: the minimum of several calls, in microseconds, and the
ratio to np.may_share_memory on the same pair. ``alias_check`` builds the full report (regions,
exact relation, shared bytes and the words); it reads no element, so its time does not depend
on the size. The last lines time the %%alias_check fingerprint (CRC-32 of the bytes) of the
largest object the default budget watches.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from autodiff_magics.aliasing import _fingerprint, alias_check


def best(fn, repeats: int = 50) -> float:
    times = []
    for _ in range(repeats):
        s = time.perf_counter()
        fn()
        times.append(time.perf_counter() - s)
    return min(times)


def main() -> None:
    n = 10**8
    z = np.empty(n, dtype=np.float32)  # 400 MB, never written: only layouts are compared
    x = torch.from_numpy(z)
    m = z.reshape(10_000, 10_000)
    other = np.empty(n, dtype=np.float32)
    cases = {
        "z vs z (same memory)": (z, z),
        "z[::2] vs z[1::2] (interleaved)": (z[::2], z[1::2]),
        "z[::4] vs z[::2] (inside)": (z[::4], z[::2]),
        "z[::3] vs z[1::2] (partial, every 6th)": (z[::3], z[1::2]),
        "m[:, :5000] vs m[:, 4000:] (columns)": (m[:, :5000], m[:, 4000:]),
        "m[::2] vs m[:, ::2] (rows vs columns)": (m[::2], m[:, ::2]),
        "z vs other (independent)": (z, other),
        "torch x vs x.numpy()": (x, x.numpy()),
    }
    print(f"numpy {np.__version__}, torch {torch.__version__}; arrays of {n:,} float32 elements (400 MB)")
    print(f"{'pair':<42} {'relation':<22} {'alias_check':>12} {'may_share':>10} {'ratio':>7} {'shares_memory':>14}  answers (may / exact)")
    for label, (a, b) in cases.items():
        na, nb = (a.numpy() if isinstance(a, torch.Tensor) else a), (b.numpy() if isinstance(b, torch.Tensor) else b)
        report = alias_check(a, b, names=["a", "b"])
        t_ours = best(lambda: alias_check(a, b, names=["a", "b"]))
        t_may = best(lambda: np.may_share_memory(na, nb), 200)
        t_exact = best(lambda: np.shares_memory(na, nb), 3)
        print(
            f"{label:<42} {report.pairs[0].relation:<22} {t_ours * 1e6:9.0f} µs {t_may * 1e6:7.1f} µs"
            f" {t_ours / t_may:6.0f}× {t_exact * 1e6:11.0f} µs  {np.may_share_memory(na, nb)!s:>5} / {np.shares_memory(na, nb)!s:<5}"
        )
    del other

    k = 1 << 26  # 256 MiB of float32: the default fingerprint budget
    big = z[:k]
    t_fp = best(lambda: _fingerprint(big), 3)
    print(f"\n%%alias_check fingerprint (CRC-32) of {k:,} float32 = 256 MiB: {t_fp * 1e3:.0f} ms "
          f"({k * 4 / t_fp / 2**30:.1f} GiB/s), taken once before and once after the cell")
    strided = z[: 2 * k : 2]
    t_fp2 = best(lambda: _fingerprint(strided), 3)
    print(f"the same count of elements, every other one (non-contiguous, copied chunk by chunk): {t_fp2 * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
