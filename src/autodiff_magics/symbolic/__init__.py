"""Symbolic differentiation at PyTorch's operator level: the exact formula of the code that ran.

f runs once on real tensors at the point under a ``TorchDispatchMode`` (:mod:`.recording`) that
writes down every ATen operator call; the record is replayed on arrays of SymPy symbols
(:mod:`.replay`) with one rule per core operator (:mod:`.rules`), and operators without a rule
go through PyTorch's own decompositions first. SymPy then differentiates f exactly
(:mod:`.result`). NumPy code that torch cannot run is traced by :mod:`.numpy_tracer` instead.

    >>> import numpy as np
    >>> from autodiff_magics.symbolic import trace_and_differentiate
    >>> r = trace_and_differentiate(lambda v: 3*v["x"][0]*v["x"][2] - 2*v["x"][1]**2 + 5*v["x"][2]**3,
    ...                             {"x": np.array([1.0, 2.0, 3.0])})
    >>> r.text(r.derivatives["x"][2]), r.gradient["x"][2]
    ('3*x₀ + 15*x₂**2', np.float64(138.0))
"""

from __future__ import annotations

from typing import Any

from .engine import trace_and_differentiate
from .exact import SymbolicUnsupported
from .numpy_tracer import SymbolicArray, apply_function
from .result import SymbolicResult, exact_point, find_kinks, make_symbols

__all__ = ["SymbolicArray", "SymbolicResult", "SymbolicUnsupported", "apply_function", "exact_point", "find_kinks",
           "make_symbols", "record_operators", "trace_and_differentiate"]


def record_operators(variables: Any = None, **kwargs: Any) -> Any:
    """A ``TorchDispatchMode`` recording the ATen calls of a real run (see :mod:`.recording`)."""
    from .recording import record_operators as record

    return record(variables, **kwargs)
