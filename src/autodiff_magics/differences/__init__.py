"""Finite differences with an error bound for every number they produce.

- :mod:`.coordinates`: central (Richardson-extrapolated, 8 evaluations per coordinate) and
  forward (the plain one-sided scheme) differences for every coordinate, with kinks found;
- :mod:`.directional`: the same central scheme along a few random ±1 directions, for big inputs;
- :mod:`.noise`: f's own noise at a point, measured (cancellation included) rather than ε·|f|;
- :mod:`.extrapolation`: Richardson's extrapolation, its bounds, the default steps;
- :mod:`.batch`: the shifted points in one checked ``torch.func.vmap`` batch, or one by one;
- :mod:`.study`: the error against the step over 14 decades.
"""

from .batch import BATCH_ELEMENTS
from .coordinates import Differences, per_coordinate
from .directional import Directional, directional, random_directions
from .extrapolation import MULTIPLES, SAFETY, default_step
from .noise import noise
from .study import StepStudy, step_study

__all__ = [
    "BATCH_ELEMENTS", "MULTIPLES", "SAFETY", "Differences", "Directional", "StepStudy", "default_step", "directional",
    "noise", "per_coordinate", "random_directions", "step_study",
]
