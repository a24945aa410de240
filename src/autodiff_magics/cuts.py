"""Spotting where a cell cuts autograd's graph: ``.item()``, ``.detach()``, ``.numpy()``, ``float()``,
``torch.tensor(x)``.

``torch.func.grad(lambda x: x * x.item())(2.)`` returns 2, silently; the true derivative is 4.
While the autograd method runs the cell, a torch function mode watches for the calls that turn a
tensor that requires grad into a constant, and remembers the cell line of each. The mode is
entered only around that one run and always left (it is a ``with`` block).
"""

from __future__ import annotations

from typing import Any

from torch.overrides import TorchFunctionMode

from .cell import cell_line

__all__ = ["CutSpy"]

_CUTTING = {"item": ".item()", "tolist": ".tolist()", "numpy": ".numpy()", "detach": ".detach()",
            "__float__": "float()", "__int__": "int()", "__index__": "int()",
            "tensor": "torch.tensor()"}  # torch.tensor(x) copies x's values into a new leaf


def _needs_grad(a: Any) -> bool:
    """A tensor that requires grad, or a list/tuple holding one (torch.tensor([x0, x1]))."""
    if isinstance(a, (list, tuple)):
        return any(_needs_grad(b) for b in a)
    return bool(getattr(a, "requires_grad", False))


class CutSpy(TorchFunctionMode):
    """Records calls that cut the graph, as 'x.item() on line 2'."""

    def __init__(self, cell: Any) -> None:
        super().__init__()
        self.filename = getattr(cell, "filename", None)
        self.lines = getattr(cell, "lines", [])
        self.cuts: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        label = _CUTTING.get(name)
        if name == "__get__" and getattr(getattr(func, "__self__", None), "__name__", "") == "data":
            label = ".data"
        if label is not None and args and (_needs_grad(args[0]) if name == "tensor" else getattr(args[0], "requires_grad", False)):
            line = self._cell_line()
            text = f"{label} on line {line}" if line else label
            if text not in self.cuts:
                self.cuts.append(text)
        return func(*args, **(kwargs or {}))

    def _cell_line(self) -> int | None:
        return cell_line(self.filename, 3)
