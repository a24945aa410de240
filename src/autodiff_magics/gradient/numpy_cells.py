"""NumPy code in a cell: handing it NumPy copies of the points when it fails on tensors.

``np.sum(x)`` calls ``x.sum(axis=None, ...)``, which a torch tensor refuses; the evaluation then
runs the cell on fresh NumPy arrays (see ``Evaluation.value``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def as_arrays(variables: Mapping[str, Any]) -> dict[str, Any]:
    """The variables as fresh NumPy arrays (a copy each run: NumPy's in-place edits bump no
    tensor version, so they must never reach the point), except tensors that need a gradient."""
    import torch

    return {n: t.detach().cpu().numpy().copy() if isinstance(t, torch.Tensor) and not t.requires_grad else t
            for n, t in variables.items()}


def is_numpy_on_tensor(error: BaseException, cell: Any) -> bool:
    """Whether NumPy code may have failed for being handed a tensor: NumPy's reductions (np.sum,
    np.mean, np.max ...) call the tensor's own method with NumPy's keywords, which torch does not
    take (a TypeError). The run is then tried again on NumPy arrays; a real error stays an error."""
    source = getattr(cell, "source", "") or ""
    return isinstance(error, TypeError) and ("np." in source or "numpy" in source)
