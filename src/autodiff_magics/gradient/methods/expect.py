"""The user's own gradient (--expect), checked like a method."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ...errors import InputError
from ..report import MethodResult


def run(run, expect: Any = None, namespace: Mapping[str, Any] | None = None, **_: Any) -> MethodResult:
    import torch

    value = expect
    if isinstance(expect, str):
        scope = dict(namespace or {})
        from ...functions import NAMES

        scope.update(NAMES)
        scope.update({n: t.detach().clone() for n, t in run.points.items()})
        try:
            with torch.no_grad():
                value = eval(compile(expect, "<--expect>", "eval"), scope)
        except SyntaxError as e:
            raise InputError(f"--expect {expect!r} is not valid Python: {e.msg}") from None
        except Exception as e:
            raise InputError(f"could not evaluate --expect {expect!r}: {type(e).__name__}: {e}") from None
    names = list(run.points)
    if isinstance(value, Mapping):
        missing = [n for n in names if n not in value]
        if missing:
            raise InputError(f"--expect gives no gradient for {', '.join(missing)}")
        per_var = {n: value[n] for n in names}
    elif len(names) == 1:
        per_var = {names[0]: value}
    elif isinstance(value, (list, tuple)) and len(value) == len(names):
        per_var = dict(zip(names, value))
    else:
        raise InputError(f"--expect must give one gradient per variable ({', '.join(names)}): a dict by name or a list in that order")
    grads, error = {}, {}
    for n, v in per_var.items():
        shape = tuple(run.points[n].shape)
        eps = np.finfo(np.float64).eps
        if isinstance(v, torch.Tensor):
            eps = torch.finfo(v.dtype).eps if v.is_floating_point() else eps
            arr = v.detach().to("cpu", torch.float64).numpy()
        else:
            try:
                arr = np.asarray(v, dtype=np.float64)
            except (TypeError, ValueError):
                raise InputError(f"--expect for {n} is not numbers: {v!r}") from None
            if isinstance(v, np.ndarray) and v.dtype.kind == "f":
                eps = np.finfo(v.dtype).eps
        if arr.size == int(np.prod(shape)) and arr.shape != shape:
            arr = arr.reshape(shape)
        if arr.shape != shape:
            raise InputError(f"--expect for {n} has shape {arr.shape}, but {n} has shape {shape}")
        grads[n] = arr.copy()
        error[n] = 4 * eps * np.abs(arr)
    return MethodResult("expect", "ok", gradient=grads, error=error, details={"source": expect if isinstance(expect, str) else None})


