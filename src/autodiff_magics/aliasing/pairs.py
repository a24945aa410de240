"""How two regions relate (:class:`AliasPair`), with the words that explain it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..views.common import receiver
from .bytesets import _layout, byte_count
from . import counting
from .counting import _numpy_solver, _shared_bytes
from .regions import Region

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

    def uncounted(relation: str, summary: str, meaning: str) -> AliasPair:
        """Sharing (or possibly sharing) memory, the amount not counted."""
        return AliasPair(shares_memory=True, relation=relation, overlap_bytes=None, summary=summary, meaning=meaning, advice=_advice(ra, rb), **pair)

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
            overlap_bytes=byte_count(la),
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
            return uncounted(
                "overlap",
                "shares memory (amount not counted)",
                f"{a} and {b} share some bytes (NumPy's exact solver found a common one; the layouts are too irregular to count them quickly): writing to the shared elements changes both.",
            )
        else:
            return uncounted(
                "may_share",
                "may share memory (undecided)",
                f"{a} and {b} live in {storage_words} and their byte ranges overlap, but whether they share an element could not be decided within {counting.SOLVER_WORK:,} steps: treat them as sharing.",
            )
    if shared == 0:
        return disjoint(
            "disjoint_interleaved",
            f"{storage_words}, no shared element (interleaved)",
            f"{a} and {b} are views of {storage_words} whose elements interleave without touching (like x[::2] and x[1::2]): writing to one never changes the other.",
        )
    size_a, size_b = byte_count(la), byte_count(lb)  # known whenever shared is
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
