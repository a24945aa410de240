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

__all__ = ["signature", "remembered", "remember", "clear", "MEMO_SIZE"]

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
