"""Shapes, dtypes, layouts and types in words."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = ["shape_words"]


def _n(count: int, word: str, plural: str | None = None) -> str:
    return f"{count:,} {word if count == 1 else (plural or word + 's')}"


def shape_words(shape: Sequence[int]) -> str:
    """A shape read aloud, as the lesson does.

    0-D scalar; 1-D vector; 2-D matrix (rows × columns); 3-D matrices; 4-D groups of matrices;
    5-D batches of groups of matrices; 6-D and up a grid of matrices, e.g. "2 × 3 × 4 × 5 grid
    of matrices of 6 × 7 (120 matrices)".

    >>> shape_words((2, 3, 4, 5))
    '2 groups of 3 matrices of 4 × 5'
    """
    shape = [int(d) for d in shape]
    nd = len(shape)
    if nd == 0:
        return "scalar (a single number)"
    if nd == 1:
        text = f"vector of {shape[0]:,}"
    elif nd == 2:
        text = f"matrix of {_n(shape[0], 'row')} × {_n(shape[1], 'column')}"
    elif nd == 3:
        text = f"{_n(shape[0], 'matrix', 'matrices')} of {_n(shape[1], 'row')} × {_n(shape[2], 'column')}"
    elif nd == 4:
        text = f"{_n(shape[0], 'group')} of {_n(shape[1], 'matrix', 'matrices')} of {shape[2]:,} × {shape[3]:,}"
    elif nd == 5:
        text = (
            f"{_n(shape[0], 'batch', 'batches')} of {_n(shape[1], 'group')} of "
            f"{_n(shape[2], 'matrix', 'matrices')} of {shape[3]:,} × {shape[4]:,}"
        )
    else:
        grid = " × ".join(f"{d:,}" for d in shape[:-2])
        count = math.prod(shape[:-2])
        text = f"{grid} grid of matrices of {shape[-2]:,} × {shape[-1]:,} ({_n(count, 'matrix', 'matrices')})"
    if 0 in shape:
        text += " (empty: no elements)"
    return text


_DTYPE_WORDS = {
    "float64": "64-bit floating point (double)",
    "float32": "32-bit floating point",
    "float16": "16-bit floating point (half)",
    "bfloat16": "16-bit brain floating point",
    "complex128": "complex: two 64-bit floats",
    "complex64": "complex: two 32-bit floats",
    "complex32": "complex: two 16-bit floats",
    "int64": "64-bit integer",
    "int32": "32-bit integer",
    "int16": "16-bit integer",
    "int8": "8-bit integer",
    "uint64": "64-bit unsigned integer",
    "uint32": "32-bit unsigned integer",
    "uint16": "16-bit unsigned integer",
    "uint8": "8-bit unsigned integer (byte)",
    "bool": "true/false",
    "float128": "extended-precision floating point",
    "longdouble": "extended-precision floating point",
}


def _dtype_words(short: str) -> str:
    if short.startswith("float8"):
        return f"8-bit floating point ({short[6:].lstrip('_')})"
    return _DTYPE_WORDS.get(short, short)


_LAYOUT_WORDS = {
    "strided": "strided (dense)",
    "sparse_coo": "sparse COO (indices + values)",
    "sparse_csr": "sparse CSR (compressed rows)",
    "sparse_csc": "sparse CSC (compressed columns)",
    "sparse_bsr": "sparse BSR (compressed row blocks)",
    "sparse_bsc": "sparse BSC (compressed column blocks)",
    "_mkldnn": "MKL-DNN (opaque)",
    "jagged": "nested (jagged)",
}


def _type_name(obj: Any) -> str:
    t = type(obj)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"
