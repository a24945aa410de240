"""Operators that only move elements: copies of views, indexing, scatter, padding, concatenation.

One rule serves them all: the operator runs again on its real arguments, each floating input
replaced by *tags* (distinct exact integers, one per element); every output element that is a
tag is that input element's expression, every other one is a constant the operator made (a pad
value, a fill, a zero). The operator's own code decides where each element goes, so every
argument (index tensors, masks, pads, dims, ``accumulate=False``) is honoured by construction.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from . import Call, as_objects, register, single_thread
from ..exact import SymbolicUnsupported

#: where each floating input's tags start (exact integers in the dtype)
_TAG_BASE = {torch.float64: 2.0**40, torch.float32: 2.0**19}

MOVEMENT = (
    "index.Tensor", "index_select", "gather", "take", "take_along_dim", "masked_select", "embedding", "_unsafe_index",
    "_unsafe_masked_index", "scatter.src", "scatter.value", "masked_scatter", "masked_fill", "index_fill", "index_copy",
    "where.self", "cat", "stack", "repeat", "roll", "flip", "tril", "triu", "constant_pad_nd", "reflection_pad1d",
    "reflection_pad2d", "reflection_pad3d", "replication_pad1d", "replication_pad2d", "replication_pad3d", "diag_embed",
    "diag", "diagonal_scatter", "select_scatter", "slice_scatter", "as_strided_scatter", "unfold_copy", "copy",
    "alias_copy", "view_copy", "permute_copy", "t_copy", "transpose_copy", "expand_copy", "squeeze_copy", "unsqueeze_copy",
    "diagonal_copy", "select_copy", "slice_copy", "unbind_copy", "split_copy", "split_with_sizes_copy", "as_strided_copy",
    "detach_copy", "_unsafe_view", "pixel_shuffle", "pixel_unshuffle", "channel_shuffle", "im2col", "max_unpool2d",
    "max_unpool3d", "upsample_nearest1d", "upsample_nearest2d", "upsample_nearest3d", "_upsample_nearest_exact1d",
    "_upsample_nearest_exact2d", "_upsample_nearest_exact3d", "block_diag", "narrow_copy", "fill", "zero", "zeros_like",
    "ones_like", "full_like", "empty_like", "new_zeros", "new_ones", "new_full", "new_empty", "new_empty_strided",
    "repeat_interleave.self_Tensor", "movedim", "_reshape_copy", "reshape", "view", "expand", "permute", "unsqueeze",
    "squeeze", "transpose", "t", "select", "slice", "diagonal", "unfold", "split", "split_with_sizes", "unbind", "chunk",
    "narrow", "as_strided", "_reshape_alias",
)


def move(call: Call) -> tuple[np.ndarray | None, ...]:
    """The outputs of a movement operator, element by element, from its tagged inputs."""
    from ..recording import TensorRef

    tables: list[tuple[float, np.ndarray]] = []
    base_index = 0

    def tagged(v: Any) -> Any:
        nonlocal base_index
        if isinstance(v, TensorRef):
            if not v.floating:
                return v.value.clone()
            if v.dtype not in _TAG_BASE:
                raise SymbolicUnsupported(f"{call.op} moves {v.dtype} elements, which cannot be followed exactly")
            objects = call.replay.read(v)
            base_index += 1
            start = _TAG_BASE[v.dtype] * base_index if v.dtype == torch.float64 else _TAG_BASE[v.dtype] + base_index * 4096
            if v.dtype == torch.float32 and objects.size >= 4096:
                raise SymbolicUnsupported(f"{call.op} moves too many float32 elements to follow exactly")
            tables.append((start, objects.reshape(-1)))
            return (torch.arange(objects.size, dtype=torch.float64) + start).to(v.dtype).reshape(v.shape)
        if isinstance(v, list):
            return [tagged(x) for x in v]
        return v

    positional: list[Any] = []
    keywords: dict[str, Any] = {}
    for arg in call.op._schema.arguments:
        value = tagged(call.args[arg.name])
        if arg.kwarg_only:
            keywords[arg.name] = value
        else:
            positional.append(value)
    with single_thread():
        out = call.op(*positional, **keywords)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return tuple(_untag(o, tables) if isinstance(o, torch.Tensor) and o.is_floating_point() else None for o in outs)


def _untag(out: torch.Tensor, tables: list[tuple[float, np.ndarray]]) -> np.ndarray:
    values = out.detach().to(torch.float64).reshape(-1).numpy()
    result = as_objects(out.detach()).reshape(-1).copy()
    for start, objects in tables:
        k = values - start
        hit = (k >= 0) & (k < objects.size) & (k == np.floor(k))
        if hit.any():
            result[hit] = objects[k[hit].astype(np.int64)]
    return result.reshape(tuple(out.shape))


register(*MOVEMENT)(move)


@register("index_put", "_index_put_impl")
def _index_put(call: Call) -> Any:
    if call["accumulate"]:
        from .linear import affine

        return affine(call)  # sums of moved elements: affine
    return move(call)
