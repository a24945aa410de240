"""Changing the default device of new tensors."""

from __future__ import annotations


import torch

from ..errors import InputError
from .inventory import _info_of, _visible_devices_note
from . import names as naming
from .names import _default_name, _default_raw, _display, _first_line, resolve
from .reports import DefaultDeviceReport


def set_default_device(name: str) -> DefaultDeviceReport:
    """Make ``name`` (``cpu``, ``cuda``, ``cuda:1``, ``mps``, ``auto``…) the device of new tensors.

    Tensors that exist stay where they are. A device that does not exist raises InputError and
    nothing changes.

    Example::

        >>> r = set_default_device("cpu")
        >>> r.default
        'cpu'
    """
    previous_raw = _default_raw()
    previous = _default_name()
    device = resolve(name)
    naming._probe(device)
    try:
        # cpu is torch's own default: unsetting also drops the per-call cost of a default device
        torch.set_default_device(None if device.type == "cpu" else device)
        now = _default_name()
    except BaseException as e:  # Ctrl-C included: leave the default as it was
        torch.set_default_device(previous_raw)
        if isinstance(e, Exception):
            raise InputError(f"Could not make {_display(device)} the default device: {_first_line(e)}") from None
        raise
    requested = str(name).strip()
    notes = []
    if now != previous and device.type != "meta":
        notes.append(f"Tensors that already exist stay where they are: move them with %device --move NAMES {now}, or .to({now!r}).")
    if device.type not in ("cpu", "meta") and now != previous:
        notes.append(
            "Every torch call now goes through torch's default-device check (a few µs each), which "
            "shows on small operations; %device cpu removes it. torch.from_numpy still gives CPU tensors."
        )
    if device.type == "meta":
        notes.append("New tensors will have shapes and dtypes but no values until you move them (%device cpu to undo).")
    if requested.lower() == "auto":
        notes.insert(0, f"auto chose {now}, the best device here.")
    visible = _visible_devices_note()
    if visible:
        notes.append(visible)
    return DefaultDeviceReport(
        requested=requested,
        previous=previous,
        default=now,
        changed=now != previous,
        device=_info_of(now),
        notes=notes,
    )
