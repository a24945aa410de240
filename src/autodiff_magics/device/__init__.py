"""The devices torch can use here, the default device for new tensors, and moving variables.

The core of ``%device``: :func:`devices` reports the CPU (cores, threads torch uses, RAM), every
CUDA device (name, compute capability, free/total memory, memory torch holds), MPS and other
accelerators, torch's build, the default device and what ``auto`` would choose;
:func:`set_default_device` changes where new tensors go; :func:`move` moves named variables.

Every torch query goes through the torch module's attributes at call time (``torch.cuda.…``,
``torch.accelerator.…``), so the CUDA paths can be exercised with ``unittest.mock.patch`` on a
machine without a GPU. Nothing here prints or imports IPython. (The module is named ``device``,
not ``devices``: importing a submodule sets the package attribute of that name, which would hide
the public function ``autodiff_magics.devices``.)

Example::

    >>> import autodiff_magics as adm
    >>> r = adm.devices()
    >>> r.default, r.devices[0].name
    ('cpu', 'cpu')
"""

from __future__ import annotations

from .default import set_default_device
from .inventory import devices
from .moving import move
from .names import is_device_name, resolve
from .reports import DefaultDeviceReport, DeviceInfo, DeviceReport, MovedVariable, MoveReport

__all__ = [
    "DefaultDeviceReport",
    "DeviceInfo",
    "DeviceReport",
    "MoveReport",
    "MovedVariable",
    "devices",
    "is_device_name",
    "move",
    "resolve",
    "set_default_device",
]
