"""What a tensor is: shape in plain words, memory layout, autograd state and value statistics.

:func:`tensorinfo` takes torch tensors (Parameters, sparse, meta, CUDA ...), NumPy arrays, Python
numbers, nested lists and numeric SymPy matrices, and returns a :class:`TensorReport` for one
object or a :class:`TensorsReport` (side by side) for several. Reports hold plain data only.

Statistics are computed where the tensor lives (on the GPU for a CUDA tensor), in chunks, so no
full-size temporary is ever made: per chunk the fast path is ``aminmax``, ``sum`` and ``dot``;
the zero count (``sign`` then ``dot``) runs only when the chunk's range holds 0, the NaN/inf
counts only when its min or max is not finite, and a shifted second moment only when the
one-pass one would lose digits. Chunk results are combined in float64 on the host (Chan et al.).

    >>> import torch, autodiff_magics as adm
    >>> r = adm.tensorinfo(torch.ones(3, 4, 5), names=["a"])
    >>> r.shape_text, r.stats["mean"], r.stats["zeros"]
    ('3 matrices of 4 rows × 5 columns', 1.0, 0)
"""

from __future__ import annotations

from .chunks import CPU_CHUNK_BYTES, DEVICE_CHUNK, _blocks, _chunk_elements, _memory_order  # noqa: F401 - used by tests and benchmarks
from .report import TensorReport, TensorsReport
from .float_stats import _float_stats  # noqa: F401
from .summary import tensorinfo
from .values import _torch_view_of_ndarray  # noqa: F401
from .words import shape_words

__all__ = ["TensorReport", "TensorsReport", "shape_words", "tensorinfo"]
