"""Replays remembered by what was recorded: a cell run again on the same point replays the same
record, so its SymPy work (the replay and the exact differentiation, most of the symbolic row's
time) is taken from the last few replays instead of done again.

A record's *signature* is everything the replay reads: each operator, its arguments (tensors by
storage, offset, shape, strides, dtype and the exact bytes of their values), the outputs'
layouts and values, the variables and which tensor is f. Equal signatures replay to equal
results, so a remembered result is exact, not an approximation; any difference in an operator,
a constant, a value or the point is another signature. What belongs to one run only (the
autograd nodes the graph annotations are keyed by) is never remembered: a hit rebuilds them
from the new run's record.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

__all__ = ["signature", "remembered", "remember", "clear", "MEMO_SIZE", "pure_key", "remembered_pure", "remember_pure", "knows_pure"]

#: replays remembered (least recently used forgotten first)
MEMO_SIZE = 16

_memo: OrderedDict[Hashable, tuple[Any, list[tuple[int, int, Any]]]] = OrderedDict()


class _Unhashable(Exception):
    pass


def signature(record: Any) -> Hashable | None:
    """A hashable key of everything a replay of ``record`` reads, or None when some argument has
    no exact key (the replay is then simply done)."""
    try:
        events = tuple(
            (event.op, tuple((k, _key(v)) for k, v in event.args.items()), tuple(_key(o) for o in event.outputs))
            for event in record.events
        )
        variables = tuple((name, _key(ref)) for name, ref in record.variables.items())
        return events, variables, _key(record.output)
    except _Unhashable:
        return None


def remembered(key: Hashable | None, record: Any, symbols: Any) -> Any:
    """The remembered result for ``key`` with annotations for this run's nodes, or None."""
    if key is None:
        return None
    hit = _memo.get(key)
    if hit is None:
        return None
    _memo.move_to_end(key)
    result, places = hit
    from .engine import ANNOTATION_LIMIT, Annotations

    out = copy.copy(result)
    out.notes = list(result.notes)
    out.gradient = {n: g.copy() for n, g in result.gradient.items()}
    entries = {}
    for e, o, values in places:
        event = record.events[e]
        node = event.grad_fns[o] if o < len(event.grad_fns) else None
        if node is not None and len(entries) < ANNOTATION_LIMIT:
            entries[node] = (values, event.outputs[o].value)
    out.annotations = Annotations(entries, symbols, printed=result.__dict__.get("_printed"))
    return out


def remember(key: Hashable | None, result: Any, record: Any, replay_outputs: Any) -> None:
    """Keep ``result`` under ``key``, with where its annotations came from in the record
    (event index, output index, symbolic values), not the run's autograd nodes."""
    if key is None:
        return
    index = {id(event): i for i, event in enumerate(record.events)}
    places = []
    for event, written in replay_outputs:
        for o, values in enumerate(written):
            if values is not None and id(event) in index:
                places.append((index[id(event)], o, values))
    result.__dict__.setdefault("_texts", {})  # texts printed for the caller or any later hit are printed once
    printed = getattr(result.annotations, "printed", None)
    kept = copy.copy(result)
    kept.annotations = {}
    kept._printed = printed if printed is not None else {}
    kept.gradient = {n: g.copy() for n, g in result.gradient.items()}
    kept.notes = list(result.notes)
    _memo[key] = (kept, places)
    while len(_memo) > MEMO_SIZE:
        _memo.popitem(last=False)


def clear() -> None:
    _memo.clear()
    _pure.clear()


# -- pure cells: remembered by source and point, so that a re-run needs no record at all ----------
#
# A pure cell (see ..purity) is straight-line code over its variables: the same source at the same
# point, shapes and dtypes runs the same operators with the same values, so its replay is the same;
# what belongs to the run, the autograd nodes its annotations are keyed by, is found again in the
# new run's graph: its operation nodes in depth-first order from f's node, checked against the
# node types the first run had.

#: the largest point (elements) and forward values kept for annotations (elements) of a pure cell
PURE_POINT_ELEMENTS = 4096
PURE_VALUE_ELEMENTS = 65536

_pure: OrderedDict[Hashable, tuple[Any, tuple[str, ...], list[tuple[int, Any, Any]]]] = OrderedDict()


def pure_key(source: str, points: Any) -> Hashable | None:
    """The key of a pure cell's replay at these points (tensors by name), or None when too big."""
    from ..purity import point_key

    return point_key(source, points, PURE_POINT_ELEMENTS)


def knows_pure(key: Hashable | None) -> bool:
    return key is not None and key in _pure


def remember_pure(key: Hashable | None, result: Any, output: Any) -> None:
    """Keep a pure cell's ``result`` (its annotations by the rank of their nodes in ``output``'s graph)."""
    if key is None:
        return
    nodes, kinds = _operation_nodes(output)
    entries = getattr(result.annotations, "_entries", None)
    if nodes is None or entries is None:
        return
    rank = {node: i for i, node in enumerate(nodes)}
    places = [(rank[node], values, real) for node, (values, real) in entries.items() if node in rank]
    if sum(0 if real is None else real.numel() for _, _, real in places) > PURE_VALUE_ELEMENTS:
        return
    kept = copy.copy(result)
    kept.annotations = {}
    kept.__dict__.setdefault("_printed", getattr(result.annotations, "printed", {}))
    kept.gradient = {n: g.copy() for n, g in result.gradient.items()}
    kept.notes = list(result.notes)
    _pure[key] = (kept, kinds, places)
    while len(_pure) > MEMO_SIZE:
        _pure.popitem(last=False)


def remembered_pure(key: Hashable | None, output: Any, symbols: Any) -> Any:
    """The remembered result of a pure cell with annotations on ``output``'s nodes, or None
    (not remembered, or the graph is not the one remembered)."""
    hit = _pure.get(key) if key is not None else None
    if hit is None:
        return None
    result, kinds, places = hit
    nodes, found = _operation_nodes(output)
    if nodes is None or found != kinds:
        del _pure[key]  # the next run records again
        return None
    _pure.move_to_end(key)
    from .engine import Annotations

    out = copy.copy(result)
    out.notes = list(result.notes)
    out.gradient = {n: g.copy() for n, g in result.gradient.items()}
    out.annotations = Annotations({nodes[r]: (values, real) for r, values, real in places}, symbols, printed=result.__dict__.get("_printed"))
    return out


def _operation_nodes(output: Any, limit: int = 100_000) -> tuple[list[Any] | None, tuple[type, ...]]:
    """The operation nodes of ``output``'s graph (no leaf's AccumulateGrad) in depth-first order
    from f's node, which is the same for the same operators, and their types."""
    root = getattr(output, "grad_fn", None)
    if root is None:
        return None, ()
    seen = {root}
    stack = [root]
    nodes, kinds = [], []
    while stack:
        node = stack.pop()
        kind = type(node)
        if kind.__name__ != "AccumulateGrad":
            nodes.append(node)
            kinds.append(kind)
        for child, _ in node.next_functions:
            if child is not None and child not in seen:
                seen.add(child)
                stack.append(child)
        if len(seen) > limit:
            return None, ()
    return nodes, tuple(kinds)


def _key(value: Any) -> Hashable:
    from .recording import TensorRef

    if isinstance(value, TensorRef):
        return (value.storage, value.offset, value.shape, value.stride, value.dtype, _bytes(value.value))
    if isinstance(value, (list, tuple)):
        return tuple(_key(v) for v in value)
    if isinstance(value, float):
        return (float, value.hex())  # -0.0 and 0.0 are different constants, NaN equals itself
    if value is None or isinstance(value, (bool, int, str)):
        return value
    try:
        hash(value)
    except TypeError:
        raise _Unhashable from None
    return (type(value), value)


def _bytes(t: Any) -> Hashable:
    if t is None:
        return None
    try:
        return t.numpy().tobytes()
    except (TypeError, RuntimeError):  # bfloat16 and friends, another device: their raw bytes
        import torch

        return t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
