"""Whether tensors and arrays share memory, exactly and instantly, and what a cell changed.

:func:`alias_check` compares every pair of objects from their memory layout alone (address of
the first element, shape, strides in bytes, item size, and the allocation they live in: a torch
storage, or the buffer at the end of a NumPy ``base`` chain), never from their values, so the
answer costs microseconds whatever the size. Each layout is reduced to the set of bytes it
covers (dimensions sorted by stride, merged where they continue each other), and the shared
bytes are counted exactly for intervals, for equal strides (``x[::2]`` and ``x[1::2]``, columns
of a matrix) and for one-dimensional combs of different periods (``x[::4]`` inside
``x[::2]``); other layouts ask NumPy's exact solver with a bounded amount of work, and say
"may share" when that is not enough.

:func:`watch` fingerprints every tensor and array in a namespace (CRC-32 of their bytes on the
CPU, a weighted sum on accelerators, up to a size budget); :meth:`Watch.changes` compares after
a cell ran and names what changed although the cell never wrote to it by name, and through
which shared memory (the lesson's ``y = x.numpy()`` then ``x.mul_(2)``).

    >>> import torch, autodiff_magics as adm
    >>> x = torch.arange(6.)
    >>> r = adm.alias_check(x[::2], x[1::2], names=["x[::2]", "x[1::2]"])
    >>> r.pairs[0].relation, r.pairs[0].shares_memory
    ('disjoint_interleaved', False)
"""

from __future__ import annotations

from .cell_source import _cell_names  # noqa: F401 - used by tests
from .comparison import AliasReport, alias_check
from .counting import PERIOD_BUDGET, RUN_BUDGET, SOLVER_WORK
from .fingerprints import _device_fingerprint, _fingerprint  # noqa: F401
from .pairs import RELATIONS, AliasPair, relate
from .regions import Region, region
from .watching import AliasCellReport, Watch, watch

__all__ = ["AliasReport", "AliasPair", "AliasCellReport", "Watch", "alias_check", "watch", "RELATIONS", "Region", "region", "relate",
           "RUN_BUDGET", "PERIOD_BUDGET", "SOLVER_WORK", "_cell_names", "_fingerprint", "_device_fingerprint"]
