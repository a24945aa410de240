"""Graphs the graph tests build: a long chain and the ``y = y*y + y`` diamond."""

from __future__ import annotations

import torch


def chain(n: int):
    """A leaf x and y = x·1.0001ⁿ: a chain of n multiplications."""
    x = torch.randn(4, requires_grad=True)
    y = x
    for _ in range(n):
        y = y * 1.0001
    return x, y


def diamond(k: int):
    """A leaf x and k rounds of y = y*y + y: 2k+1 nodes, about 2ᵏ paths."""
    x = torch.randn(4, dtype=torch.float64, requires_grad=True)
    y = x
    for _ in range(k):
        y = y * y + y
    return x, y
