"""Moving named tensors and modules to a device, all or nothing."""

from __future__ import annotations

import time
from collections.abc import MutableMapping, Sequence
from typing import Any

import torch

from ..errors import InputError
from . import names as naming
from .names import _call, _display, _first_line, resolve
from .reports import MoveReport, MovedVariable


def move(namespace: MutableMapping[str, Any], names: Sequence[str], device: str) -> MoveReport:
    """Move the named tensors and modules of ``namespace`` to ``device`` and rebind them.

    A leaf that requires grad stays a leaf that requires grad, and its ``.grad`` moves along; a
    tensor inside a graph stays in it (gradients flow back through the copy); a module moves in
    place (between CPU and CUDA its parameters stay the same objects, and modules move first, so
    a name for one of their parameters follows it). All or nothing: on any error nothing moves.

    Example::

        >>> ns = {"x": torch.ones(3)}
        >>> move(ns, ["x"], "cpu").variables[0].moved
        False
    """
    target = resolve(device)
    if target.type == "meta":
        raise InputError("Moving to meta would throw the values away (meta tensors hold no data): choose cpu or an accelerator.")
    return _move(namespace, names, target)


def _move(namespace: MutableMapping[str, Any], names: Sequence[str], target: torch.device) -> MoveReport:
    names = list(dict.fromkeys(str(n) for n in names))
    if not names:
        raise InputError("Name at least one variable to move, e.g. %device --move x y cuda.")
    for n in names:
        if n not in namespace:
            raise InputError(f"There is no variable named {n!r} in your namespace; nothing was moved.")
    for n in names:
        value = namespace[n]
        if not isinstance(value, (torch.Tensor, torch.nn.Module)):
            kind = type(value).__name__
            article = "an" if kind[:1].lower() in "aeiou" else "a"
            raise InputError(f"{n!r} is {article} {kind}, not a tensor or a torch module; nothing was moved.")
    naming._probe(target)
    target_name = _display(target)

    originals = {n: namespace[n] for n in names}
    new_values: dict[str, Any] = {}
    rows: list[MovedVariable] = []
    done: dict[int, tuple[str, Any]] = {}  # id of an original -> (first name, its moved value)
    undo: list[list[_Slot]] = []
    current = names[0]
    # modules first: a parameter they move in place is then already there for any other name
    order = sorted(names, key=lambda n: not isinstance(namespace[n], torch.nn.Module))
    try:
        for current in order:
            value = namespace[current]
            if id(value) in done:
                first, moved_value = done[id(value)]
                new_values[current] = moved_value
                rows.append(_same_object_row(current, first, value, target_name))
                continue
            if isinstance(value, torch.nn.Module):
                row = _move_module(current, value, target, target_name, undo)
                moved_value = value
            else:
                moved_value, row = _move_tensor(current, value, target, target_name)
            done[id(value)] = (current, moved_value)
            new_values[current] = moved_value
            rows.append(row)
    except BaseException as e:  # Ctrl-C included: put modules back, leave the namespace alone
        _undo_modules(undo)
        if isinstance(e, InputError):
            raise
        if isinstance(e, Exception):
            raise InputError(f"Could not move {current!r} to {target_name}: {_first_line(e).rstrip('.')}; nothing was moved.") from None
        raise
    namespace.update(new_values)  # one step: the namespace changes only when everything moved
    rows.sort(key=lambda r: names.index(r.name))

    notes = _move_notes(rows, originals, target_name)
    copied = [r for r in rows if r.moved]
    return MoveReport(
        device=target_name,
        variables=rows,
        bytes=sum(r.bytes or 0 for r in copied),
        seconds=sum(r.seconds or 0.0 for r in copied),
        notes=notes,
    )


def _same_device(a: torch.device, b: torch.device) -> bool:
    return _display(a) == _display(b)


def _nbytes(t: torch.Tensor) -> int | None:
    if t.layout != torch.strided:
        return None
    return t.numel() * t.element_size()


def _synchronize(*devices_: torch.device) -> None:
    """Wait for copies on accelerators, so that the time measured is the copy's."""
    for d in devices_:
        if d.type in ("cpu", "meta"):
            continue
        if d.type == "cuda":
            torch.cuda.synchronize(d)
        elif d.type == "mps":
            torch.mps.synchronize()
        else:
            module = getattr(torch, d.type, None)
            if module is not None and hasattr(module, "synchronize"):
                module.synchronize()


def _tensor_kind(t: torch.Tensor) -> str:
    if isinstance(t, torch.nn.Parameter):
        return "Parameter"
    if t.requires_grad and t.is_leaf:
        return "leaf tensor"
    return "tensor"


def _move_tensor(name: str, t: torch.Tensor, target: torch.device, target_name: str) -> tuple[torch.Tensor, MovedVariable]:
    source = t.device
    row = MovedVariable(
        name=name,
        kind=_tensor_kind(t),
        source=_display(source),
        shape=list(t.shape),
        dtype=str(t.dtype).removeprefix("torch."),
        size=_shape_words(t.shape),
        bytes=_nbytes(t),
        seconds=None,
        moved=False,
        autograd=_autograd_unchanged(t),
    )
    if _same_device(source, target):
        return t, row
    if source.type == "meta":
        raise InputError(f"{name!r} is a meta tensor: it holds no values to move; nothing was moved.")
    _synchronize(source, target)
    start = time.perf_counter()
    if t.requires_grad and t.is_leaf:
        with torch.no_grad():
            data = t.detach().to(target)
            grad = None if t.grad is None else t.grad.detach().to(target)
        new = torch.nn.Parameter(data, requires_grad=True) if isinstance(t, torch.nn.Parameter) else data.requires_grad_(True)
        if grad is not None:
            new.grad = grad
        row.autograd = "still a leaf that requires grad; " + (".grad moved along" if grad is not None else "it had no .grad yet")
    else:
        new = t.to(target)  # differentiable: a tensor inside a graph stays connected to it
        if t.requires_grad:
            row.autograd = "still in its graph: gradients flow back through the copy"
    _synchronize(source, target)
    row.seconds = time.perf_counter() - start
    row.moved = True
    return new, row


def _autograd_unchanged(t: torch.Tensor) -> str:
    if not t.requires_grad:
        return "—"
    if t.is_leaf:
        return "leaf that requires grad, unchanged"
    return "in a graph, unchanged"


def _shape_words(shape: Sequence[int]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


#: one slot of a module: (its store, key, the tensor there before, that tensor's device)
_Slot = tuple[dict, str, torch.Tensor, torch.device]


def _slots(module: torch.nn.Module) -> list[_Slot]:
    """Every parameter and buffer slot of a module and its submodules, as it is now."""
    slots = []
    for sub in module.modules():
        for store in (sub._parameters, sub._buffers):
            for key, t in store.items():
                if t is not None:
                    slots.append((store, key, t, t.device))
    return slots


def _move_module(name: str, module: torch.nn.Module, target: torch.device, target_name: str, undo: list[list[_Slot]]) -> MovedVariable:
    slots = _slots(module)
    tensors = [t for _, _, t, _ in slots]
    n_params = sum(1 for _ in module.parameters())
    n_buffers = sum(1 for _ in module.buffers())
    sources = list(dict.fromkeys(_display(t.device) for t in tensors)) or [target_name]
    has_grad = any(p.grad is not None for p in module.parameters())
    row = MovedVariable(
        name=name,
        kind=f"module ({type(module).__name__})",
        source=", ".join(sources),
        shape=None,
        dtype=None,
        size=f"{n_params} parameter{'s' if n_params != 1 else ''}" + (f", {n_buffers} buffer{'s' if n_buffers != 1 else ''}" if n_buffers else ""),
        bytes=sum(_nbytes(t) or 0 for t in dict.fromkeys(tensors)),
        seconds=None,
        moved=False,
        autograd="—",
    )
    if all(_same_device(t.device, target) for t in tensors):
        return row
    if any(t.device.type == "meta" for t in tensors):
        raise InputError(f"{name!r} has meta parameters: they hold no values to move; nothing was moved.")
    undo.append(slots)
    devices_involved = {t.device for t in tensors} | {target}
    _synchronize(*devices_involved)
    start = time.perf_counter()
    module.to(target)
    _synchronize(*devices_involved)
    row.seconds = time.perf_counter() - start
    row.moved = True
    # torch changes CUDA/CPU parameters in place, but gives new ones for some devices (meta, XLA)
    same = all(store.get(key) is t for store, key, t, _ in slots)
    row.autograd = (
        "moved in place: the same parameter objects, so an optimizer still holds them"
        if same
        else "the module now holds new parameter objects: make optimizers after moving"
    ) + ("; .grad moved along" if has_grad else "")
    return row


def _undo_modules(undo: list[list[_Slot]]) -> None:
    """Put every parameter and buffer of partly moved modules back as it was."""
    with torch.no_grad():
        for slots in reversed(undo):
            for store, key, original, where in reversed(slots):
                if store.get(key) is not original:
                    store[key] = original
                if original.device != where:
                    original.data = original.data.to(where)
                grad = original.grad if isinstance(original, torch.nn.Parameter) or original.requires_grad else None
                if grad is not None and grad.device != where:
                    original.grad = grad.to(where)


def _same_object_row(name: str, first: str, value: Any, target_name: str) -> MovedVariable:
    if isinstance(value, torch.nn.Module):
        size, shape, dtype, nbytes = "same module", None, None, None
    else:
        size, shape, dtype, nbytes = _shape_words(value.shape), list(value.shape), str(value.dtype).removeprefix("torch."), _nbytes(value)
    return MovedVariable(
        name=name,
        kind=f"same object as {first}",
        source=_display(value.device) if isinstance(value, torch.Tensor) else "—",
        shape=shape,
        dtype=dtype,
        size=size,
        bytes=nbytes,
        seconds=None,
        moved=False,
        autograd=f"moved once, with {first}; both names still name one object",
    )


def _move_notes(rows: list[MovedVariable], originals: dict[str, Any], target: str) -> list[str]:
    moved = [r for r in rows if r.moved]
    notes: list[str] = []
    rebound = [r.name for r in moved if not r.kind.startswith("module")]
    if len(rebound) == 1:
        notes.append(
            f"{rebound[0]} now names a new tensor on {target}: anything else holding the old one (another name, "
            "a list, an optimizer) still sees it where it was, and its memory is freed only when nothing holds it."
        )
    elif rebound:
        notes.append(
            f"{_join_names(rebound)} now name new tensors on {target}: anything else holding the old ones (another "
            "name, a list, an optimizer) still sees them where they were, and their memory is freed only when nothing holds them."
        )
    shared: dict[tuple[str, int], list[str]] = {}
    for r in moved:
        value = originals.get(r.name)
        if isinstance(value, torch.Tensor) and value.layout == torch.strided:
            pointer = _call(lambda: value.untyped_storage().data_ptr(), 0)
            if pointer:
                shared.setdefault((str(value.device), pointer), []).append(r.name)
    for group in shared.values():
        if len(group) > 1:
            notes.append(
                f"{_join_names(group)} shared memory before the move; now they are separate copies on {target}, "
                "so a change to one no longer shows in the other."
            )
    return notes


def _join_names(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
