"""The check's first, visible run of the cell: f at the point, as one real number.

It is where a cell that needs more than the point is found out and run again as it needs:
float32 tensors of the user's mixed with the float64 point (promoted on the fly), NumPy code
that fails on tensors (run on NumPy copies); and where f is found to draw random numbers (f
differs when the generators start elsewhere). A pure cell's first run is also autograd's
forward (on leaves, under grad mode), so that the cell runs once for both.
"""

from __future__ import annotations

from ..cell import CellError
from ..errors import InputError
from .numpy_cells import is_numpy_on_tensor
from .values import scalar

__all__ = ["FirstValue"]

#: seeds under which f is evaluated again to see whether it draws random numbers
_RESEEDS = (0x5EED, 0x5EED + 1, 0x5EED + 2)


class FirstValue:
    """:class:`..evaluation.Evaluation`'s first run (a part of it, kept in its own module)."""

    def value(self) -> float:
        """f at the point (the first, visible run); refuses results that are not one real number."""
        import torch

        try:
            if self.hold_forward and self.pure:
                # the same operators on the same values with a graph: autograd's forward, run once
                leaves = {name: t.detach().requires_grad_(True) for name, t in self.points.items()}
                with torch.enable_grad():
                    out = self(dict(leaves))
                self.held_forward = (leaves, out)
            else:
                with torch.no_grad():
                    out = self(dict(self.points))
        except CellError as e:
            if _is_dtype_mismatch(e.original) and not self.promote and self.dt == torch.float64:
                self.promote = True
                if self._writes is not None:  # undo what the failed run wrote, then run again as the first
                    self._writes.restore_before()
                    self._writes = None
                self.count = 0
                self.notes.append(
                    "the cell mixes the float64 point with lower-precision tensors from your namespace (e.g. a float32 model): "
                    "checked with those promoted to float64 on the fly; your objects are unchanged"
                )
                return self.value()
            if not self.numpy_points and is_numpy_on_tensor(e.original, self.cell):
                self.numpy_points = True
                if self._writes is not None:
                    self._writes.restore_before()
                    self._writes = None
                self.count = 0
                try:
                    return self.value()
                except InputError as again:
                    self.numpy_points = False
                    raised = str(again).split(" raised ", 1)[-1]
                    raise InputError(f"{e}; run on NumPy arrays instead, it raised {raised}") from None
                finally:
                    if self.numpy_points:
                        self.notes.append(
                            f"the cell is NumPy code ({self.cell.describe(e.original).split(' raised ')[0]} fails on a torch tensor), "
                            "so its runs get NumPy copies of the points: SymPy and the differences check it; autograd cannot follow NumPy"
                        )
            raise InputError(str(e)) from None
        value = scalar(out, strict=True)
        self.f0 = value
        self._detect_randomness(value)
        return value

    def _detect_randomness(self, value: float) -> None:
        """f differs when the generators start elsewhere: f draws random numbers."""
        if not self.random_lines and not any(self._drawn.values()):
            return  # no generator moved during the first run: f draws nothing
        # a few draws can repeat under another seed (dropout on 4 elements: one mask in 16), so
        # up to three seeds are tried while f stays the same
        for seed in _RESEEDS:
            self._state.reseed = seed
            try:
                other = self.evaluate(dict(self.points))
            except (CellError, InputError):
                other = value
            finally:
                self._state.reseed = False
            if not (other == value or (other != other and value != value)):
                self.random = True
                return


def _is_dtype_mismatch(error: BaseException) -> bool:
    text = str(error)
    return isinstance(error, RuntimeError) and (
        "must have the same dtype" in text or "expected scalar type" in text.lower() or "dtype" in text and "same" in text
    )
