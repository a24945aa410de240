"""The reports of ``%tensorinfo``: one object (:class:`TensorReport`) or several side by side."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..report import Report

__all__ = ["TensorReport", "TensorsReport"]


@dataclass
class TensorReport(Report):
    """One object, summarised: shape, layout, autograd state and statistics (plain data)."""

    _views = "tensors"

    name: str
    kind: str  # tensor | parameter | ndarray | number | list | sympy
    type: str  # the Python type, e.g. torch.Tensor, numpy.ndarray
    shape: list[int] | None
    shape_text: str
    ndim: int | None
    numel: int | None
    dtype: str
    dtype_text: str
    device: str
    layout: str
    itemsize: int | None = None
    nbytes: int | None = None
    storage_nbytes: int | None = None
    strides: list[int] | None = None
    strides_bytes: list[int] | None = None
    contiguous: bool | None = None
    memory_format: str | None = None  # contiguous, channels_last, channels_last_3d, dense but permuted (…), …
    storage_offset: int | None = None
    is_view: bool | None = None
    view_of: str | None = None
    version: int | None = None
    requires_grad: bool | None = None
    is_leaf: bool | None = None
    retains_grad: bool | None = None
    grad_fn: str | None = None
    grad: TensorReport | None = None
    has_values: bool = True
    item: Any = None
    stats: dict[str, Any] | None = None
    histogram: dict[str, Any] | None = None
    heatmap: dict[str, Any] | None = None
    preview: str | None = None
    notes: list[str] = field(default_factory=list)
    graph: Any = None  # a GraphReport for a non-leaf tensor, when the graph module is there

    def to_dict(self) -> dict[str, Any]:
        """The public contract (see the README): plain JSON-ready data."""
        out = {
            k: getattr(self, k)
            for k in (
                "name", "kind", "type", "shape", "shape_text", "ndim", "numel", "dtype", "dtype_text",
                "device", "layout", "itemsize", "nbytes", "storage_nbytes", "strides", "strides_bytes",
                "contiguous", "memory_format", "storage_offset", "is_view", "view_of", "version", "requires_grad",
                "is_leaf", "retains_grad", "grad_fn", "has_values", "histogram", "heatmap", "preview",
            )
        }
        out["item"] = _jsonable(self.item)
        out["stats"] = None if self.stats is None else {k: _jsonable(v) for k, v in self.stats.items()}
        out["grad"] = None if self.grad is None else self.grad.to_dict()
        out["notes"] = list(self.notes)
        out["graph"] = None if self.graph is None else self.graph.to_dict()
        return out


@dataclass
class TensorsReport(Report):
    """Several objects side by side (what ``%tensorinfo a b`` returns)."""

    _views = "tensors"

    items: list[TensorReport]

    def to_dict(self) -> dict[str, Any]:
        """``{"items": [one TensorReport.to_dict() per object]}``."""
        return {"items": [r.to_dict() for r in self.items]}

    def __getitem__(self, i: int) -> TensorReport:
        return self.items[i]

    def __len__(self) -> int:
        return len(self.items)


def _jsonable(v: Any) -> Any:
    if isinstance(v, complex):
        return {"real": v.real, "imag": v.imag}
    return v
