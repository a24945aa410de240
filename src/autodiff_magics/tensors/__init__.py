"""What a tensor is: shape in plain words, memory layout, autograd state and value statistics.

:func:`tensorinfo` takes torch tensors (Parameters, sparse, meta, CUDA ...), NumPy arrays, Python
numbers, nested lists and numeric SymPy matrices, and returns a :class:`TensorReport` for one
object or a :class:`TensorsReport` (side by side) for several. Reports hold plain data only.

Statistics are computed where the tensor lives (on the GPU for a CUDA tensor), in chunks, so no
full-size temporary is ever made. On the CPU a compiled kernel (``_fused.c``, built at install
when a C compiler is there) reads each float once for all of them: NaN/±inf/zero counts, min,
max, sum and sum of squares; without it, and on accelerators, each chunk takes a few NumPy/torch
passes from cache (``float_stats``). A shifted second moment is taken only when the one-pass one
would lose digits. Chunk results are combined in float64 on the host (Chan et al.).

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
