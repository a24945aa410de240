"""What a default device costs: torch.set_default_device puts a mode in front of every torch call.

    .venv/bin/python bench/default_device_cost.py

Times small operations with no default device set (torch's own state) and with the default set
explicitly to the CPU (what ``%device cpu`` would do if it did not unset it), in one run, and
prints the ratios. This is why ``%device cpu`` unsets the default instead of setting it to cpu.
"""

from __future__ import annotations

import timeit

import torch


def measure(stmt: str, setup: str, number: int = 20000, repeat: int = 7) -> float:
    return min(timeit.repeat(stmt, setup=setup, number=number, repeat=repeat, globals={"torch": torch})) / number


def main() -> None:
    setup = "a = torch.ones(3); b = torch.ones(3)"
    cases = {"a + b": "a + b", "torch.ones(3)": "torch.ones(3)", "a.sum()": "a.sum()"}
    print(f"torch {torch.__version__}; seconds per call, best of 7 × 20,000")
    print(f"{'operation':<16}{'no default':>14}{'default=cpu':>14}{'ratio':>8}")
    try:
        for name, stmt in cases.items():
            torch.set_default_device(None)
            bare = measure(stmt, setup)
            torch.set_default_device("cpu")
            with_default = measure(stmt, setup)
            torch.set_default_device(None)
            print(f"{name:<16}{bare * 1e6:>11.2f} µs{with_default * 1e6:>11.2f} µs{with_default / bare:>7.2f}×")
    finally:
        torch.set_default_device(None)


if __name__ == "__main__":
    main()
