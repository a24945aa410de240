"""Max pooling: the values are the input elements at the indices the real run returned."""

from __future__ import annotations

import numpy as np

from . import Call, as_objects, register

#: operator -> number of pooled (spatial) dimensions
_SPATIAL = {
    "max_pool2d_with_indices": 2, "max_pool3d_with_indices": 3, "adaptive_max_pool2d": 2, "adaptive_max_pool3d": 3,
    "fractional_max_pool2d": 2, "fractional_max_pool3d": 3, "max_pool1d_with_indices": 1, "adaptive_max_pool1d": 1,
}


def _pooled(call: Call) -> tuple[np.ndarray | None, ...]:
    k = _SPATIAL[call.op.name().split("::")[-1]]
    x = as_objects(call["self"])
    indices = call.replay.current_outputs[1].value.numpy().astype(np.int64)
    lead = x.shape[:-k]
    flat = x.reshape(*lead, -1)
    picked = np.take_along_axis(flat, indices.reshape(*lead, -1), axis=-1).reshape(indices.shape)
    return (picked, None)


register(*_SPATIAL)(_pooled)
