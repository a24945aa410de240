"""Finite differences: kept importable under this name; the code lives in :mod:`.differences`."""

from .differences import (
    BATCH_ELEMENTS,
    MULTIPLES,
    SAFETY,
    Differences,
    Directional,
    StepStudy,
    default_step,
    directional,
    noise,
    per_coordinate,
    random_directions,
    step_study,
)

__all__ = [
    "BATCH_ELEMENTS", "MULTIPLES", "SAFETY", "Differences", "Directional", "StepStudy", "default_step", "directional",
    "noise", "per_coordinate", "random_directions", "step_study",
]
