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

import ast
import dataclasses
import itertools
import math
import sys
import types
import weakref
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from .errors import InputError
from .report import Report
from .views.common import receiver

__all__ = ["AliasReport", "AliasPair", "AliasCellReport", "Watch", "alias_check", "watch", "RELATIONS"]

#: the relations, from most to least entangled
RELATIONS = {
    "same_memory": "the same memory",
    "a_in_b": "a view inside the other",
    "b_in_a": "a view inside the other",
    "partial_overlap": "partial overlap",
    "overlap": "overlapping (amount not counted)",
    "may_share": "may share (undecided)",
    "disjoint_interleaved": "same storage, no shared element (interleaved)",
    "disjoint_separate": "same storage, separate regions",
    "independent": "independent",
}
#: runs of a layout enumerated one by one when no formula applies
RUN_BUDGET = 1 << 16
#: residues walked by the comb formula
PERIOD_BUDGET = 1 << 16
#: work NumPy's exact solver may spend on one pair
SOLVER_WORK = 1 << 16
#: names IPython keeps in the namespace that are never the user's data
_SHELL_NAMES = frozenset({"In", "Out", "exit", "quit", "get_ipython", "_", "__", "___"})


# -- memory regions -----------------------------------------------------------------------------


@dataclass
class Region:
    """Where one object's elements are: plain numbers, no reference to the object."""

    name: str
    type: str
    device: str
    shape: tuple[int, ...]
    strides: tuple[int, ...]  # bytes
    itemsize: int
    dtype: str
    address: int  # of element (0, ..., 0)
    alloc: tuple[int, int]  # [start, end) of the allocation it lives in
    owner: str  # words: what owns that allocation
    made_from: str | None = None  # how it came to share (e.g. "a NumPy view of a torch tensor's memory")
    numel: int = 0

    @property
    def nbytes(self) -> int:
        return self.numel * self.itemsize


def _type_name(obj: Any) -> str:
    t = type(obj)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def region(obj: Any, name: str) -> Region:
    """The memory region of a tensor or array; InputError (one sentence) for anything else."""
    torch = sys.modules.get("torch")
    np = sys.modules.get("numpy")
    if torch is not None and isinstance(obj, torch.Tensor):
        return _tensor_region(obj, name)
    if np is not None and isinstance(obj, np.ndarray):
        return _array_region(obj, name)
    if isinstance(obj, (bool, int, float, complex)) or (np is not None and isinstance(obj, np.generic)):
        raise InputError(f"{name} is a {_type_name(obj)}: numbers are values, not shared memory (only tensors and arrays can alias)")
    if isinstance(obj, (list, tuple)):
        raise InputError(
            f"{name} is a Python {type(obj).__name__}: it holds references to objects, not a block of memory; "
            f"compare the tensors or arrays inside it (np.asarray({name}) makes a copy)"
        )
    raise InputError(f"{name} is a {_type_name(obj)}: %alias_check compares torch tensors and NumPy arrays")


def _tensor_region(t, name: str) -> Region:
    if getattr(t, "is_nested", False):
        raise InputError(f"{name} is a nested tensor: compare its components, e.g. {name}[0]")
    layout = str(t.layout).replace("torch.", "")
    if layout != "strided":
        raise InputError(
            f"{name} is a {layout.replace('_', ' ')} tensor: its memory is separate index and value tensors; "
            f"compare {name}.values() (or {name}._values() for COO) instead"
        )
    if t.device.type == "meta":
        raise InputError(f"{name} is a meta tensor: it has a shape but no memory, so it shares nothing")
    try:
        storage = t.untyped_storage()
        sptr, snb = storage.data_ptr(), storage.nbytes()
    except Exception as e:  # noqa: BLE001 - wrapper tensors without storage
        raise InputError(f"{name} ({_type_name(t)}) has no storage torch lets us inspect: {type(e).__name__}") from None
    itemsize = t.element_size()
    shape = tuple(t.shape)
    strides = tuple(s * itemsize for s in t.stride())
    numel = t.numel()
    if numel and _bytes_needed(shape, strides, t.storage_offset() * itemsize, itemsize) > snb:
        raise InputError(
            f"the storage of {name} holds {snb:,} bytes but {name} needs "
            f"{_bytes_needed(shape, strides, t.storage_offset() * itemsize, itemsize):,}: it was resized or freed, "
            "so it has no memory to compare"
        )
    return Region(
        name=name,
        type=_type_name(t),
        device=str(t.device),
        shape=shape,
        strides=strides,
        itemsize=itemsize,
        dtype=str(t.dtype),
        address=sptr + t.storage_offset() * itemsize,
        alloc=(sptr, sptr + snb),
        owner="a torch storage",
        numel=numel,
    )


def _bytes_needed(shape: Sequence[int], strides: Sequence[int], offset: int, itemsize: int) -> int:
    if 0 in shape:
        return 0
    return offset + sum((d - 1) * s for d, s in zip(shape, strides) if s > 0) + itemsize


def _array_region(a, name: str) -> Region:
    import numpy as np

    address = int(a.__array_interface__["data"][0])
    shape = tuple(int(d) for d in a.shape)
    strides = tuple(int(s) for s in a.strides)
    itemsize = int(a.itemsize)
    lo, hi = _hull(address, shape, strides, itemsize)
    root = a
    while isinstance(root.base, np.ndarray):
        root = root.base
    owner = "a NumPy buffer"
    made_from = None
    alloc = (lo, hi)
    torch = sys.modules.get("torch")
    if root.base is None:
        r_addr = int(root.__array_interface__["data"][0])
        alloc = _hull(r_addr, tuple(root.shape), tuple(root.strides), int(root.itemsize))
    elif torch is not None and isinstance(root.base, torch.Tensor):
        storage = root.base.untyped_storage()
        alloc = (storage.data_ptr(), storage.data_ptr() + storage.nbytes())
        owner = "a torch storage"
        made_from = "a NumPy view of a torch tensor's memory (what Tensor.numpy() and np.asarray(tensor) make)"
    else:
        owner = f"a {_type_name(root.base)}"
        made_from = f"a NumPy view of memory owned by a {_type_name(root.base)}"
    alloc = (min(alloc[0], lo), max(alloc[1], hi))
    return Region(
        name=name,
        type=_type_name(a),
        device="cpu",
        shape=shape,
        strides=strides,
        itemsize=itemsize,
        dtype=_dtype_name(a.dtype),
        address=address,
        alloc=alloc,
        owner=owner,
        made_from=made_from,
        numel=int(a.size),
    )


@lru_cache(maxsize=128)
def _dtype_name(dtype) -> str:
    return str(dtype)  # NumPy spells a dtype's name slowly (~14 µs); a few dtypes recur


def _hull(address: int, shape: Sequence[int], strides: Sequence[int], itemsize: int) -> tuple[int, int]:
    """[lowest, highest + 1) byte address the elements touch (empty for no elements)."""
    if 0 in shape:
        return (address, address)
    lo = address + sum((d - 1) * s for d, s in zip(shape, strides) if s < 0)
    hi = address + sum((d - 1) * s for d, s in zip(shape, strides) if s > 0) + itemsize
    return lo, hi


# -- byte sets ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Layout:
    """The set of bytes ``base + run + Σ i_k·s_k`` (0 ≤ run < w, 0 ≤ i_k < n_k), strides
    ascending. ``nested`` when each stride clears everything inside it (no byte counted twice,
    and the exact counting formulas hold)."""

    base: int
    w: int
    dims: tuple[tuple[int, int], ...]
    nested: bool

    @property
    def extent(self) -> int:
        return self.w + sum((n - 1) * s for n, s in self.dims)

    @property
    def size(self) -> int:
        """Distinct bytes (exact when nested)."""
        return self.w * math.prod(n for n, _ in self.dims)

    @property
    def runs(self) -> int:
        return math.prod(n for n, _ in self.dims)

    def count_below(self, x: int) -> int:
        """Bytes of the set in [base, base + x), for a nested layout, in O(ndim)."""
        total = 0
        exts, sizes = _inner(self)
        for k in range(len(self.dims) - 1, -1, -1):
            if x <= 0:
                return total
            n, s = self.dims[k]
            inner_ext, inner_size = exts[k], sizes[k]
            full = 0 if x < inner_ext else min(n, (x - inner_ext) // s + 1)
            total += full * inner_size
            if full == n:
                return total
            x -= full * s
        return total + max(0, min(x, self.w))

    def count_in(self, lo: int, hi: int) -> int:
        """Bytes of the set in the absolute range [lo, hi)."""
        if hi <= lo:
            return 0
        return self.count_below(hi - self.base) - self.count_below(lo - self.base)


@lru_cache(maxsize=256)
def _inner(layout: _Layout) -> tuple[list[int], list[int]]:
    exts, sizes = [], []
    ext, size = layout.w, layout.w
    for n, s in layout.dims:
        exts.append(ext)
        sizes.append(size)
        ext += (n - 1) * s
        size *= n
    return exts, sizes


def _layout(r: Region) -> _Layout:
    base = r.address
    dims = []
    for n, s in zip(r.shape, r.strides):
        if n == 1 or s == 0:
            continue  # a broadcast dimension repeats the same bytes
        if s < 0:
            base += (n - 1) * s
            s = -s
        dims.append((n, s))
    dims.sort(key=lambda d: d[1])
    w = r.itemsize
    i = 0
    while i < len(dims) and dims[i][1] <= w:  # steps within the run so far: still one interval
        n, s = dims[i]
        w += (n - 1) * s
        i += 1
    merged: list[tuple[int, int]] = []
    for n, s in dims[i:]:
        if merged and s == merged[-1][0] * merged[-1][1]:
            merged[-1] = (merged[-1][0] * n, merged[-1][1])
        else:
            merged.append((n, s))
    ext, nested = w, True
    for n, s in merged:
        if s < ext:
            nested = False
            break
        ext += (n - 1) * s
    return _Layout(base, w, tuple(merged), nested)


def _shared_bytes(a: _Layout, b: _Layout) -> int | None:
    """Exact count of bytes in both sets, or None when no formula fits within the budgets."""
    if not (a.nested and b.nested):
        if a.nested and b.runs <= RUN_BUDGET:
            return _by_runs(b, a)
        if b.nested and a.runs <= RUN_BUDGET:
            return _by_runs(a, b)
        return None
    if not a.dims:
        return b.count_in(a.base, a.base + a.w)
    if not b.dims:
        return a.count_in(b.base, b.base + b.w)
    if [s for _, s in a.dims] == [s for _, s in b.dims]:
        return _equal_strides(a, b)
    small, big = (a, b) if a.runs <= b.runs else (b, a)
    if small.runs <= RUN_BUDGET:
        return _by_runs(small, big)
    if len(a.dims) == 1 and len(b.dims) == 1:
        return _combs(a, b)
    return None


def _by_runs(a: _Layout, b: _Layout) -> int:
    """Σ over a's contiguous runs of b's bytes in each (b nested), all runs at once in NumPy."""
    import numpy as np

    starts = np.zeros(1, dtype=np.int64)
    for n, s in a.dims:
        starts = (starts[:, None] + np.arange(n, dtype=np.int64)[None, :] * s).reshape(-1)
    starts += a.base - b.base
    return int(_count_below_many(b, starts + a.w).sum() - _count_below_many(b, starts).sum())


def _count_below_many(layout: _Layout, xs):
    """:meth:`_Layout.count_below` for an array of offsets (relative to the layout's base)."""
    import numpy as np

    x = xs.copy()
    total = np.zeros_like(x)
    done = np.zeros(x.shape, dtype=bool)
    exts, sizes = _inner(layout)
    for k in range(len(layout.dims) - 1, -1, -1):
        n, s = layout.dims[k]
        done |= x <= 0
        full = np.where(x < exts[k], 0, np.minimum(n, (x - exts[k]) // s + 1))
        full[done] = 0
        total += full * sizes[k]
        done |= full == n
        x = np.where(done, x, x - full * s)
    return total + np.where(done, 0, np.clip(x, 0, layout.w))


def _equal_strides(a: _Layout, b: _Layout) -> int:
    """Shared bytes of two nested layouts with the same strides (sizes and runs may differ)."""
    memo: dict[tuple[int, int], int] = {}

    def inter(k: int, off: int) -> int:
        # bytes of a's dims[:k] placed at ``off`` that lie in b's dims[:k] placed at 0
        key = (k, off)
        if key in memo:
            return memo[key]
        if k == 0:
            out = max(0, min(off + a.w, b.w) - max(off, 0))
        else:
            na, s = a.dims[k - 1]
            nb = b.dims[k - 1][0]
            q = off // s
            out = 0
            for d in (q, q + 1):  # b's block index minus a's: only these two can meet
                pairs = min(na, nb - d) - max(0, -d)
                if pairs > 0:
                    out += pairs * inter(k - 1, off - d * s)
        memo[key] = out
        return out

    return inter(len(a.dims), a.base - b.base)


def _combs(a: _Layout, b: _Layout) -> int | None:
    """Shared bytes of two combs ``base + i·period + [0, w)`` of different periods: a's runs
    that lie inside b's hull meet b as an endless comb, so their overlaps repeat with period
    lcm/p runs and are summed by residues; the (at most two) runs across the hull's edges are
    counted directly."""
    (na, p), (_, q) = a.dims[0], b.dims[0]
    period = q // math.gcd(p, q)
    if period > PERIOD_BUDGET:
        return None
    lo, hi = b.base, b.base + b.extent

    def endless(x: int) -> int:  # bytes of b's runs continued forever, in [lo, lo + x)
        return (x // q) * b.w + min(x % q, b.w) if x > 0 else 0

    touch_lo = max(0, -(-(lo - a.w + 1 - a.base) // p))  # first run ending after lo
    touch_hi = min(na - 1, (hi - 1 - a.base) // p)  # last run starting before hi
    if touch_hi < touch_lo:
        return 0
    first = max(touch_lo, -(-(lo - a.base) // p))  # runs wholly inside [lo, hi)
    last = min(touch_hi, (hi - a.w - a.base) // p)
    if last >= first:
        edges = itertools.chain(range(touch_lo, first), range(last + 1, touch_hi + 1))
    elif touch_hi - touch_lo < RUN_BUDGET:
        edges = range(touch_lo, touch_hi + 1)
    else:
        return None
    total = 0
    for i in edges:
        start = a.base + i * p
        total += b.count_in(start, start + a.w)
    if last >= first:
        count = last - first + 1
        g = []
        for t in range(min(period, count)):
            r = (a.base + (first + t) * p - lo) % q
            g.append(endless(r + a.w) - endless(r))
        full, rest = divmod(count, len(g))
        total += full * sum(g) + sum(g[:rest])
    return total


def _numpy_solver(ra: Region, rb: Region) -> bool | None:
    """NumPy's exact overlap test on stand-ins with the same addresses and strides (no data is
    read), with bounded work; None when it gives up."""
    import numpy as np

    try:
        too_hard = np.exceptions.TooHardError
    except AttributeError:  # NumPy < 1.25
        too_hard = np.TooHardError
    try:
        return bool(np.shares_memory(_standin(ra), _standin(rb), max_work=SOLVER_WORK))
    except too_hard:
        return None


class _Interface:
    def __init__(self, r: Region) -> None:
        self.__array_interface__ = {
            "shape": r.shape,
            "typestr": f"|V{r.itemsize}",
            "data": (r.address, True),
            "strides": r.strides,
            "version": 3,
        }


def _standin(r: Region):
    import numpy as np

    return np.asarray(_Interface(r))


# -- pairs --------------------------------------------------------------------------------------


@dataclass
class AliasPair:
    """How two objects' memories relate."""

    a: str
    b: str
    shares_memory: bool
    relation: str
    overlap_bytes: int | None
    overlap_range: tuple[int, int] | None  # [start, end) in bytes from the shared allocation's start
    summary: str
    meaning: str
    advice: str
    how: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "shares_memory": self.shares_memory,
            "relation": self.relation,
            "overlap_bytes": self.overlap_bytes,
            "overlap_range": list(self.overlap_range) if self.overlap_range else None,
            "summary": self.summary,
            "meaning": self.meaning,
            "advice": self.advice,
            "how": list(self.how),
        }


def _copy_advice(r: Region) -> str:
    return f"{receiver(r.name)}.{'copy' if r.type.startswith('numpy') else 'clone'}()"


def _advice(ra: Region, rb: Region) -> str:
    a_np, b_np = ra.type.startswith("numpy"), rb.type.startswith("numpy")
    if a_np != b_np:
        t, n = (rb, ra) if a_np else (ra, rb)
        return (
            f"for memory of its own, copy: {_copy_advice(n)} (NumPy) or {_copy_advice(t)} (torch); "
            f"when converting, torch.tensor({n.name}) and {receiver(t.name)}.clone().numpy() copy, "
            f"while torch.from_numpy, torch.as_tensor, .numpy() and np.asarray share"
        )
    return f"for memory of its own, copy: {_copy_advice(rb)} (or {_copy_advice(ra)})"


def relate(ra: Region, rb: Region) -> AliasPair:
    """The relation between two regions, with the words that explain it."""
    a, b = ra.name, rb.name
    pair = dict(a=a, b=b, overlap_range=None, how=[])

    def independent(summary: str, meaning: str) -> AliasPair:
        return AliasPair(shares_memory=False, relation="independent", overlap_bytes=0, summary=summary, meaning=meaning, advice="nothing to do: they are already independent", **pair)

    def disjoint(relation: str, summary: str, meaning: str) -> AliasPair:
        """One allocation, no shared byte: safe to write, though each keeps the other's memory alive."""
        advice = "nothing to do for writes; copy one to free the rest of the allocation"
        return AliasPair(shares_memory=False, relation=relation, overlap_bytes=0, summary=summary, meaning=meaning, advice=advice, **pair)

    if ra.device != rb.device:
        cpu_side = [r for r in (ra, rb) if r.device == "cpu"]
        if cpu_side and any(r.type.startswith("numpy") for r in cpu_side):
            why = f"{ra.name if ra.device != 'cpu' else rb.name} is on {ra.device if ra.device != 'cpu' else rb.device}: a GPU tensor never shares memory with a NumPy array, which lives in host memory"
        else:
            why = f"{a} is on {ra.device} and {b} on {rb.device}: memories of different devices never overlap"
        return independent("independent (different devices)", why + "; writing to one never changes the other.")
    if ra.numel == 0 or rb.numel == 0:
        empty = a if ra.numel == 0 else b
        return independent("independent (no elements)", f"{empty} has no elements, so it shares no memory.")
    if not (ra.alloc[0] < rb.alloc[1] and rb.alloc[0] < ra.alloc[1]):
        return independent("independent", f"{a} and {b} live in different allocations: writing to one never changes the other.")

    origin = min(ra.alloc[0], rb.alloc[0])
    la, lb = _layout(ra), _layout(rb)
    hull_lo, hull_hi = max(la.base, lb.base), min(la.base + la.extent, lb.base + lb.extent)
    storage_words = "the same storage" if ra.owner == rb.owner == "a torch storage" and ra.alloc == rb.alloc else "the same memory buffer"
    pair["how"] = [f"{r.name} is {r.made_from}" for r in (ra, rb) if r.made_from]
    if hull_lo >= hull_hi:
        return disjoint(
            "disjoint_separate",
            f"{storage_words}, separate regions",
            f"{a} and {b} are views of {storage_words} but cover separate bytes: writing to one never changes the other (both keep the whole allocation alive).",
        )
    pair["overlap_range"] = (hull_lo - origin, hull_hi - origin)
    if la == lb:
        same_dtype = ra.dtype.replace("torch.", "") == rb.dtype.replace("torch.", "") and ra.shape == rb.shape
        extra = "" if same_dtype else f" (seen as {ra.dtype} {tuple(ra.shape)} and {rb.dtype} {tuple(rb.shape)})"
        return AliasPair(
            shares_memory=True,
            relation="same_memory",
            overlap_bytes=la.size if la.nested else None,
            summary="the same memory" + extra,
            meaning=f"{a} and {b} are two views of exactly the same bytes{extra}: writing to either changes the other.",
            advice=_advice(ra, rb),
            **pair,
        )
    shared = _shared_bytes(la, lb)
    if shared is None:
        verdict = _numpy_solver(ra, rb)
        if verdict is False:
            shared = 0
        elif verdict is True:
            return AliasPair(
                shares_memory=True,
                relation="overlap",
                overlap_bytes=None,
                summary="shares memory (amount not counted)",
                meaning=f"{a} and {b} share some bytes (NumPy's exact solver found a common one; the layouts are too irregular to count them quickly): writing to the shared elements changes both.",
                advice=_advice(ra, rb),
                **pair,
            )
        else:
            return AliasPair(
                shares_memory=True,
                relation="may_share",
                overlap_bytes=None,
                summary="may share memory (undecided)",
                meaning=f"{a} and {b} live in {storage_words} and their byte ranges overlap, but whether they share an element could not be decided within {SOLVER_WORK:,} steps: treat them as sharing.",
                advice=_advice(ra, rb),
                **pair,
            )
    if shared == 0:
        return disjoint(
            "disjoint_interleaved",
            f"{storage_words}, no shared element (interleaved)",
            f"{a} and {b} are views of {storage_words} whose elements interleave without touching (like x[::2] and x[1::2]): writing to one never changes the other.",
        )
    size_a, size_b = la.size if la.nested else None, lb.size if lb.nested else None
    if shared == size_a and shared == size_b:
        relation, summary = "same_memory", "the same memory"
        meaning = f"{a} and {b} cover exactly the same bytes: writing to either changes the other."
    elif shared == size_a:
        relation, summary = "a_in_b", f"{a} is a view inside {b}"
        meaning = f"every byte of {a} is inside {b} ({shared:,} of {b}'s {size_b:,} bytes): writing to {a} changes {b}, and writing to that part of {b} changes {a}."
    elif shared == size_b:
        relation, summary = "b_in_a", f"{b} is a view inside {a}"
        meaning = f"every byte of {b} is inside {a} ({shared:,} of {a}'s {size_a:,} bytes): writing to {b} changes {a}, and writing to that part of {a} changes {b}."
    else:
        relation, summary = "partial_overlap", "partial overlap"
        meaning = f"{a} and {b} share {shared:,} bytes but each also has elements of its own: writing to the shared elements changes both."
    return AliasPair(shares_memory=True, relation=relation, overlap_bytes=shared, summary=summary, meaning=meaning, advice=_advice(ra, rb), **pair)


# -- the line form ------------------------------------------------------------------------------


@dataclass
class AliasReport(Report):
    """Every pair of the given objects: do they share memory, and how."""

    _views = "aliasing"

    objects: list[dict[str, Any]]
    pairs: list[AliasPair]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """``objects`` (name, type, device, shape, dtype, nbytes, owner) and ``pairs``."""
        return {"objects": [dict(o) for o in self.objects], "pairs": [p.to_dict() for p in self.pairs], "notes": list(self.notes)}

    def pair(self, a: str, b: str) -> AliasPair:
        """The pair of these two names, oriented as asked (``a_in_b`` means ``a`` inside ``b``)."""
        for p in self.pairs:
            if (p.a, p.b) == (a, b):
                return p
            if (p.a, p.b) == (b, a):
                flip = {"a_in_b": "b_in_a", "b_in_a": "a_in_b"}
                return dataclasses.replace(p, a=a, b=b, relation=flip.get(p.relation, p.relation))
        raise KeyError((a, b))


def _describe(r: Region) -> dict[str, Any]:
    return {
        "name": r.name,
        "type": r.type,
        "device": r.device,
        "shape": list(r.shape),
        "dtype": r.dtype,
        "nbytes": r.nbytes,
        "owner": r.owner,
        "made_from": r.made_from,
    }


def alias_check(*objs: Any, names: Sequence[str] | None = None) -> AliasReport:
    """Whether each pair of tensors/arrays shares memory, and how (no data is read).

    >>> import numpy as np, torch, autodiff_magics as adm
    >>> x = torch.rand(2, 3)
    >>> adm.alias_check(x, x.numpy(), x.clone().numpy(), names=["x", "y", "c"]).pair("x", "y").relation
    'same_memory'
    """
    if len(objs) < 2:
        raise InputError("alias_check compares two or more tensors or arrays: give at least two, e.g. alias_check(x, y)")
    names = list(names) if names is not None else [f"#{i + 1}" for i in range(len(objs))]
    if len(names) != len(objs):
        raise InputError(f"got {len(objs)} objects but {len(names)} names")
    regions = [region(o, n) for o, n in zip(objs, names)]
    pairs = [relate(regions[i], regions[j]) for i in range(len(regions)) for j in range(i + 1, len(regions))]
    notes = []
    same = [(names[i], names[j]) for i in range(len(objs)) for j in range(i + 1, len(objs)) if objs[i] is objs[j]]
    for a, b in same:
        notes.append(f"{a} and {b} are the same Python object.")
    if any(r.device != "cpu" for r in regions):
        notes.append("GPU tensors are compared by device address; a GPU tensor never shares memory with a NumPy array.")
    return AliasReport(objects=[_describe(r) for r in regions], pairs=pairs, notes=notes)


# -- the cell form: fingerprints before and after -----------------------------------------------


@dataclass
class _Watched:
    names: list[str]
    ref: Any  # weakref to the object
    region: Region | None
    nbytes: int
    fingerprint: int | None
    version: int | None
    reason: str | None = None  # why it is not fingerprinted


class Watch:
    """Fingerprints of a namespace's tensors and arrays, taken before a cell runs."""

    def __init__(self, entries: dict[int, _Watched], budget: int, skipped: dict[str, str]) -> None:
        self._entries = entries
        self.budget = budget
        self._skipped = skipped

    @property
    def names(self) -> list[str]:
        return sorted(n for e in self._entries.values() for n in e.names)

    def changes(self, namespace: Mapping[str, Any], source: str = "", error: str | None = None) -> AliasCellReport:
        """Compare the namespace now with the fingerprints: what changed, and through what."""
        written, _, passed = _cell_names(source, namespace)
        silent, changed, rebound, unchanged, too_large, not_watched = [], [], [], [], [], []
        changed_regions: dict[str, Region] = {}
        for name, reason in sorted(self._skipped.items()):
            not_watched.append({"name": name, "reason": reason})
        for entry in self._entries.values():
            obj = entry.ref()
            alive = [n for n in entry.names if obj is not None and namespace.get(n, _MISSING) is obj]
            for n in entry.names:
                if n not in alive:
                    rebound.append(n)
            if not alive:
                continue
            if entry.reason is not None:
                not_watched.extend({"name": n, "reason": entry.reason} for n in alive)
                continue
            now_version = _version(obj)
            try:
                now_region = region(obj, alive[0])
            except InputError as e:
                not_watched.extend({"name": n, "reason": f"after the cell: {e}"} for n in alive)
                continue
            if entry.fingerprint is None:
                if entry.version is not None and now_version is not None and now_version != entry.version:
                    what = "changed"
                    how = f"torch's version counter moved from {entry.version} to {now_version} (too large to fingerprint: {entry.nbytes:,} bytes)"
                else:
                    too_large.extend({"name": n, "nbytes": entry.nbytes} for n in alive)
                    continue
            else:
                if _fingerprint(obj) == entry.fingerprint:
                    unchanged.extend(alive)
                    continue
                what, how = "changed", "its contents changed"
            for n in alive:
                changed_regions[n] = now_region
                (changed if n in written else silent).append({"name": n, "how": how})
        regions = dict(changed_regions)
        for n, obj in namespace.items():
            if n in regions or not _watchable_name(n):
                continue
            try:
                regions[n] = region(obj, n)
            except InputError:
                continue
        for item in silent:
            n = item["name"]
            partners = []
            for other, r in regions.items():
                if other == n:
                    continue
                p = relate(regions[n], r)
                if p.shares_memory:
                    partners.append((other in written, other in changed_regions, other, p.summary))
            partners.sort(key=lambda t: (not t[0], not t[1], t[2]))
            item["through"] = [t[2] for t in partners if t[0]] or [t[2] for t in partners if t[1]]
            item["shares_with"] = [{"name": t[2], "relation": t[3]} for t in partners]
            item["passed"] = n in passed
        before = {n for e in self._entries.values() for n in e.names} | set(self._skipped)
        new_sharing = []
        fresh = [n for n in regions if n not in before or n in rebound]
        for n in sorted(fresh):
            with_ = []
            for other, r in regions.items():
                if other != n and relate(regions[n], r).shares_memory:
                    with_.append(other)
            if with_:
                new_sharing.append({"name": n, "with": sorted(with_)})
        return AliasCellReport(
            silent=silent,
            changed=changed,
            rebound=sorted(rebound),
            new_sharing=new_sharing,
            unchanged=sorted(unchanged),
            too_large=sorted(too_large, key=lambda d: d["name"]),
            not_watched=not_watched,
            error=error,
            budget=self.budget,
        )


_MISSING = object()


def _watchable_name(name: str) -> bool:
    return not name.startswith("_") and name not in _SHELL_NAMES


def _version(obj: Any) -> int | None:
    try:
        return int(obj._version)
    except Exception:  # noqa: BLE001 - arrays and inference tensors have none
        return None


def watch(namespace: Mapping[str, Any], budget: int, names: Iterable[str] | None = None) -> Watch:
    """Fingerprint the tensors and arrays of ``namespace`` (all, or ``names``) up to ``budget``
    bytes each; larger ones keep only torch's version counter."""
    torch = sys.modules.get("torch")
    np = sys.modules.get("numpy")
    if names is not None:
        names = list(names)
        missing = [n for n in names if n not in namespace]
        if missing:
            raise InputError(f"no variable named {missing[0]!r} in your namespace")
        items = [(n, namespace[n]) for n in names]
    else:
        items = [(n, v) for n, v in namespace.items() if _watchable_name(n)]
    entries: dict[int, _Watched] = {}
    skipped: dict[str, str] = {}
    for name, obj in items:
        is_array = (torch is not None and isinstance(obj, torch.Tensor)) or (np is not None and isinstance(obj, np.ndarray))
        if not is_array:
            if names is not None:
                raise InputError(f"{name} is a {_type_name(obj)}: %%alias_check watches torch tensors and NumPy arrays")
            continue
        if id(obj) in entries:
            entries[id(obj)].names.append(name)
            continue
        try:
            ref = weakref.ref(obj)
        except TypeError:
            continue
        try:
            r = region(obj, name)
        except InputError as e:
            skipped[name] = str(e)
            continue
        version = _version(obj)
        reason = None
        fp = None
        if np is not None and isinstance(obj, np.ndarray) and obj.dtype.hasobject:
            reason = "it holds Python objects, whose changes a byte fingerprint cannot see"
        elif r.nbytes <= budget:
            fp = _fingerprint(obj)
        entries[id(obj)] = _Watched([name], ref, r, r.nbytes, fp, version, reason)
    return Watch(entries, budget, skipped)


def _fingerprint(obj: Any) -> int:
    """A fingerprint of the object's elements (not of the bytes between them): CRC-32 of the
    bytes on the CPU, chunk by chunk; a weighted sum of the bytes on an accelerator."""
    import torch

    from .tensors import _blocks, _chunk_elements

    if isinstance(obj, torch.Tensor):
        t = obj.detach()
    else:
        import numpy as np

        if obj.dtype.kind not in "biufc" or obj.dtype.byteorder == ">":
            return zlib.crc32(np.ascontiguousarray(obj).view(np.uint8).reshape(-1).data)
        from .tensors import _torch_view_of_ndarray

        t = _torch_view_of_ndarray(obj)
    if t.dim() == 0:
        t = t.reshape(1)
    chunk = _chunk_elements(t)
    with torch.no_grad():
        if t.device.type == "cpu":
            crc = 0
            buf = None
            for c in _blocks(t, chunk):
                if not c.is_contiguous():
                    if buf is None or buf.numel() < c.numel():
                        buf = torch.empty(chunk, dtype=c.dtype)
                    flat = buf[: c.numel()]
                    flat.view(c.shape).copy_(c)
                    c = flat
                crc = zlib.crc32(c.reshape(-1).view(torch.uint8).numpy(), crc)
            return crc
        return _device_fingerprint(t, chunk)


def _device_fingerprint(t, chunk: int) -> int:
    import torch

    from .tensors import _blocks

    acc = 0
    weights = None
    for k, c in enumerate(_blocks(t, chunk)):
        b = c.contiguous().reshape(-1).view(torch.uint8).to(torch.int64)
        if weights is None or weights.numel() < b.numel():
            g = torch.Generator(device=t.device).manual_seed(12345)
            weights = torch.randint(1, 2**61, (max(b.numel(), 1),), generator=g, device=t.device, dtype=torch.int64) | 1
        h = int((b * weights[: b.numel()]).sum().item())
        acc = (acc * 1_000_003 + h + k) % (1 << 64)
    return acc


#: NumPy methods and functions that write into their receiver / first argument
_NUMPY_WRITERS = frozenset({"fill", "sort", "put", "resize", "partition", "itemset", "setfield", "copyto", "place", "putmask", "fill_diagonal", "shuffle"})


def _base_name(node: ast.AST) -> str | None:
    """The variable at the root of ``x``, ``x[0]``, ``x.data[1:]``, ``x.T.contiguous()``."""
    while True:
        if isinstance(node, ast.Name):
            return node.id
        if isinstance(node, (ast.Subscript, ast.Attribute, ast.Starred)):
            node = node.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            node = node.func.value
        else:
            return None


def _writes(call: ast.Call, modules: set[str]) -> list[ast.AST]:
    """Expressions a call writes into: the receiver of ``x.mul_()`` or ``a.fill()``, the first
    argument of ``nn.init.normal_(w)`` or ``np.copyto(a, b)`` (a function of a module), and
    any ``out=``."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    inplace = name.endswith("_") and not name.startswith("__") or name in _NUMPY_WRITERS
    out: list[ast.AST] = [kw.value for kw in call.keywords if kw.arg == "out"]
    if inplace:
        if isinstance(func, ast.Attribute) and _base_name(func.value) not in modules:
            out.append(func.value)  # a method: x.mul_(2), a.sort()
        elif call.args:
            out.append(call.args[0])  # a function: torch.nn.init.normal_(w), np.copyto(a, b)
    return out


def _cell_names(source: str, namespace: Mapping[str, Any] | None = None) -> tuple[set[str], set[str], set[str]]:
    """What the cell does with each name: (written into, rebound or deleted, passed to a call).

    Written: ``x[0] = 1``, ``x += 1``, ``x.mul_(2)``, ``a.fill(0)``, ``normal_(w)``, ``out=x``;
    rebound: ``x = ...``, ``del x``; passed: ``f(x)`` (a function may change what it gets).
    Names bound to modules (in ``namespace`` or imported by the cell) tell a function call
    (``np.copyto(a, b)``) from a method call (``x.copy_(y)``)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set(), set(), set()
    modules = {"np", "numpy", "torch", "F", "nn", "init", "math"}
    modules |= {k for k, v in (namespace or {}).items() if isinstance(v, types.ModuleType)}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules |= {(a.asname or a.name).split(".")[0] for a in node.names}
    written, rebound, passed = set(), set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            rebound.add(node.id)
        elif isinstance(node, (ast.Subscript, ast.Attribute)) and isinstance(node.ctx, (ast.Store, ast.Del)):
            if (base := _base_name(node.value)) is not None:
                written.add(base)
        elif isinstance(node, ast.AugAssign):
            if (base := _base_name(node.target)) is not None:
                written.add(base)  # x += 1 writes in place for tensors and arrays
        elif isinstance(node, ast.Call):
            for target in _writes(node, modules):
                if (base := _base_name(target)) is not None:
                    written.add(base)
            for arg in [*node.args, *(kw.value for kw in node.keywords)]:
                if (base := _base_name(arg)) is not None:
                    passed.add(base)
    return written, rebound, passed


@dataclass
class AliasCellReport(Report):
    """What a ``%%alias_check`` cell changed: silent changes first, with the memory they
    came through."""

    _views = "aliasing"

    silent: list[dict[str, Any]]
    changed: list[dict[str, Any]]
    rebound: list[str]
    new_sharing: list[dict[str, Any]]
    unchanged: list[str]
    too_large: list[dict[str, Any]]
    not_watched: list[dict[str, Any]]
    error: str | None
    budget: int

    def to_dict(self) -> dict[str, Any]:
        """Plain data; the contract is documented in the README."""
        return {
            "silent": [dict(d) for d in self.silent],
            "changed": [dict(d) for d in self.changed],
            "rebound": list(self.rebound),
            "new_sharing": [dict(d) for d in self.new_sharing],
            "unchanged": list(self.unchanged),
            "too_large": [dict(d) for d in self.too_large],
            "not_watched": [dict(d) for d in self.not_watched],
            "error": self.error,
            "budget": self.budget,
        }
