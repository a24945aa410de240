"""PyTorch's own OpInfo corpus as small scalar functions, for tests that check a gradient method.

``op_db`` (``torch.testing._internal.common_methods_invocations``, which needs the ``expecttest``
package) describes ~700 operators with sample inputs. :func:`cases` keeps the OpInfos that support
autograd and float64 on the CPU and, for each, up to ``samples`` sample inputs whose
differentiable float64 tensors hold at most ``max_numel`` elements together (large samples of
elementwise ops are cropped to fit). Each sample becomes a :class:`Case`:

* ``name``: the op's name, with its variant (``"norm.inf"``); an op yields up to ``samples`` cases
  under the same name;
* ``function``: ``f(*leaves) -> 0-d tensor``, the sum over the op's differentiable floating
  outputs of ``(output * W).sum()``, with fixed weights ``W`` (multiples of 1/8 in ±[1/8, 12/8],
  seeded per op and sample, so runs are reproducible); everything that is not a differentiable
  tensor (ints, keyword arguments, index tensors, masks) is closed over;
* ``leaves``: the differentiable inputs, as fresh float64 tensors that do not require grad (set
  ``requires_grad_()`` on copies of them as the method under test needs).

    >>> from tests.opinfo_corpus import cases
    >>> name, f, leaves = next(cases(["sin"]))
    >>> name, f(*leaves).shape
    ('sin', torch.Size([]))
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

import torch

__all__ = ["Case", "cases", "op_names"]


class Case(NamedTuple):
    """One sample of one op: ``f(*leaves)`` is a 0-d float64 tensor."""

    name: str
    function: Callable[..., torch.Tensor]
    leaves: tuple[torch.Tensor, ...]


def _op_db() -> list[Any]:
    from torch.testing._internal.common_methods_invocations import op_db

    return op_db


def _name(op: Any) -> str:
    return op.name + (f".{op.variant_test_name}" if op.variant_test_name else "")


def _eligible(op: Any) -> bool:
    return bool(op.supports_autograd) and torch.float64 in op.supported_dtypes("cpu")


def op_names() -> list[str]:
    """The names of the OpInfos that support autograd and float64 on the CPU (before sampling)."""
    return [_name(op) for op in _op_db() if _eligible(op)]


def cases(names: Iterable[str] | None = None, *, samples: int = 2, max_numel: int = 64, scan: int = 200) -> Iterator[Case]:
    """The corpus, op by op (only the ops in ``names``, by name or name.variant, when given)."""
    wanted = set(names) if names is not None else None
    for index, op in enumerate(_op_db()):
        if not _eligible(op) or (wanted is not None and _name(op) not in wanted and op.name not in wanted):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield from _cases_of(op, index, samples, max_numel, scan)


# -- one op -----------------------------------------------------------------------------------------


class _Slot:
    __slots__ = ("k",)

    def __init__(self, k: int) -> None:
        self.k = k


def _template(obj: Any, leaves: list[torch.Tensor], ids: dict[int, int]) -> Any:
    """obj with every differentiable tensor replaced by a _Slot (the same tensor -> the same slot)."""
    if isinstance(obj, torch.Tensor):
        if obj.requires_grad and obj.is_floating_point():
            if id(obj) not in ids:
                ids[id(obj)] = len(leaves)
                leaves.append(obj)
            return _Slot(ids[id(obj)])
        return obj
    if isinstance(obj, list):
        return [_template(o, leaves, ids) for o in obj]
    if isinstance(obj, tuple) and not hasattr(obj, "_fields"):
        return tuple(_template(o, leaves, ids) for o in obj)
    if isinstance(obj, dict):
        return {k: _template(v, leaves, ids) for k, v in obj.items()}
    return obj


def _fill(obj: Any, values: tuple[torch.Tensor, ...]) -> Any:
    if isinstance(obj, _Slot):
        return values[obj.k]
    if isinstance(obj, list):
        return [_fill(o, values) for o in obj]
    if isinstance(obj, tuple):
        return tuple(_fill(o, values) for o in obj)
    if isinstance(obj, dict):
        return {k: _fill(v, values) for k, v in obj.items()}
    return obj


def _tensors(obj: Any) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [t for o in obj for t in _tensors(o)]
    if isinstance(obj, dict):
        return [t for o in obj.values() for t in _tensors(o)]
    return []


def _flatten(out: Any) -> list[Any]:
    if isinstance(out, (list, tuple)):
        return [item for o in out for item in _flatten(o)]
    return [out]


def _elementwise(op: Any) -> bool:
    from torch.testing._internal.opinfo.core import BinaryUfuncInfo, UnaryUfuncInfo

    return isinstance(op, (UnaryUfuncInfo, BinaryUfuncInfo))


def _crop(sample: Any, max_numel: int) -> Any | None:
    """The sample with every tensor cut to its first k entries along each dimension (the largest k
    that fits max_numel): broadcasting survives, since every dimension is cut alike."""
    import types

    def cut(obj: Any, k: int, memo: dict[int, torch.Tensor]) -> Any:
        if isinstance(obj, torch.Tensor):
            if id(obj) not in memo:
                small = obj.detach()[tuple(slice(0, k) for _ in range(obj.ndim))].clone()
                memo[id(obj)] = small.requires_grad_(obj.requires_grad)
            return memo[id(obj)]
        if isinstance(obj, list):
            return [cut(o, k, memo) for o in obj]
        if isinstance(obj, tuple):
            return tuple(cut(o, k, memo) for o in obj)
        if isinstance(obj, dict):
            return {kk: cut(v, k, memo) for kk, v in obj.items()}
        return obj

    everything = (sample.input, tuple(sample.args), dict(sample.kwargs))
    for k in range(8, 0, -1):
        inp, args, kwargs = cut(everything, k, {})
        grads = {id(t): t for t in _tensors((inp, args, kwargs)) if t.requires_grad and t.is_floating_point()}
        if sum(t.numel() for t in grads.values()) <= max_numel:
            return types.SimpleNamespace(input=inp, args=args, kwargs=kwargs, output_process_fn_grad=sample.output_process_fn_grad)
    return None


def _raw(op: Any, sample: Any, structure: Any) -> Callable[..., Any]:
    def raw(*values: torch.Tensor) -> Any:
        inp, args, kwargs = _fill(structure, values)
        return sample.output_process_fn_grad(op.gradcheck_wrapper(op.op, inp, *args, **kwargs))

    return raw


def _scalar(raw: Callable[..., Any], positions: list[int], weights: list[torch.Tensor], name: str) -> Callable[..., torch.Tensor]:
    def f(*values: torch.Tensor) -> torch.Tensor:
        flat = _flatten(raw(*values))
        total = None
        for pos, w in zip(positions, weights):
            term = (flat[pos] * w).sum()
            total = term if total is None else total + term
        return total

    f.__name__ = f.__qualname__ = name.replace(".", "_")
    return f


def _usable(op: Any, sample: Any, max_numel: int) -> tuple[Any, Any, list[torch.Tensor]] | None:
    """(sample, structure, leaves) when the sample fits the corpus, else None."""
    leaves: list[torch.Tensor] = []
    structure = _template((sample.input, tuple(sample.args), dict(sample.kwargs)), leaves, {})
    everything = _tensors((sample.input, sample.args, sample.kwargs))
    if any(t.is_complex() or t.layout != torch.strided for t in everything) or not leaves or any(t.numel() == 0 for t in leaves):
        return None
    if sum(t.numel() for t in leaves) > max_numel:
        if not _elementwise(op):
            return None
        sample = _crop(sample, max_numel)
        if sample is None:
            return None
        return _usable(op, sample, max_numel)
    if not all(bool(torch.isfinite(t).all()) for t in leaves):
        return None
    return sample, structure, leaves


def _cases_of(op: Any, index: int, samples: int, max_numel: int, scan: int) -> Iterator[Case]:
    name = _name(op)
    try:
        iterator = iter(op.sample_inputs("cpu", torch.float64, requires_grad=True))
    except Exception:
        return
    found = 0
    for k in range(scan):
        if found >= samples:
            return
        try:
            sample = next(iterator)
        except Exception:  # StopIteration, or a sample generator that raises
            return
        usable = _usable(op, sample, max_numel)
        if usable is None:
            continue
        sample, structure, leaves = usable
        raw = _raw(op, sample, structure)
        try:  # which outputs are differentiable floating tensors?
            with torch.enable_grad():
                flat = _flatten(raw(*[t.detach().clone().requires_grad_(True) for t in leaves]))
        except Exception:
            continue
        if any(isinstance(o, torch.Tensor) and o.is_complex() for o in flat):
            continue
        positions = [i for i, o in enumerate(flat) if isinstance(o, torch.Tensor) and o.is_floating_point() and o.requires_grad]
        if not positions:
            continue
        gen = torch.Generator().manual_seed(1234 + 7919 * index + k)
        weights = []
        for pos in positions:
            shape = tuple(flat[pos].shape)
            magnitude = torch.randint(1, 13, shape, generator=gen, dtype=torch.int64).to(torch.float64) / 8
            sign = torch.randint(0, 2, shape, generator=gen, dtype=torch.int64).to(torch.float64) * 2 - 1
            weights.append(magnitude * sign)
        found += 1
        yield Case(name, _scalar(raw, positions, weights, name), tuple(t.detach().clone() for t in leaves))
