"""Error bounds per component that are made only when read."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np


class RelativeBound(Mapping):
    """``bound[n] = scale·|g[n]| + floor`` for each variable n of the gradients ``grads``, made
    when first read: a 10⁶-element gradient's would cost 8 MB of fresh pages, and the directional
    comparison needs only its sum, which :meth:`total` gives without making it."""

    def __init__(self, grads: Mapping[str, np.ndarray], scale: float, floor: float) -> None:
        self._grads, self.scale, self.floor = grads, scale, floor
        self._made: dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        made = self._made.get(name)
        if made is None:
            made = np.abs(np.asarray(self._grads[name], dtype=np.float64)) * self.scale
            made += self.floor
            self._made[name] = made
        return made

    def __iter__(self) -> Iterator[str]:
        return iter(self._grads)

    def __len__(self) -> int:
        return len(self._grads)

    def total(self, name: str, l1: float | None = None) -> float:
        """Σ bound[name]: scale·‖g‖₁ + floor·size, read from g in place (``l1``: ‖g‖₁ when the
        caller has it)."""
        g = self._grads[name]
        if l1 is None:
            import torch

            l1 = float(torch.linalg.vector_norm(torch.from_numpy(np.ascontiguousarray(g, dtype=np.float64).reshape(-1)), 1))
        return self.scale * l1 + self.floor * np.size(g)


def total(bound: Mapping[str, Any], name: str, l1: float | None = None) -> float:
    """Σ of one variable's bound, without making it when it is a :class:`RelativeBound` (whose
    sum ``l1`` = ‖g‖₁ gives, when the caller has it)."""
    if isinstance(bound, RelativeBound):
        return bound.total(name, l1)
    return float(np.sum(bound[name]))
