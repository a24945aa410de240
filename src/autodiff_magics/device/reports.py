"""The reports of ``%device``: every device, the default device, moved variables."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar


from ..report import Report


@dataclass
class DeviceInfo:
    """One device as plain data; ``None`` wherever the value is unknown here."""

    name: str  #: "cpu", "cuda:0", "mps"
    type: str  #: "cpu", "cuda", "mps", "xpu", …
    available: bool
    model: str | None = None  #: "NVIDIA H100 80GB HBM3", the CPU's model name
    memory_total: int | None = None  #: bytes (CPU: RAM, or the container's limit)
    memory_free: int | None = None  #: bytes free for everyone (CPU: available RAM)
    memory_allocated: int | None = None  #: bytes in tensors torch holds (accelerators)
    memory_reserved: int | None = None  #: bytes torch's caching allocator keeps (accelerators)
    memory_process: int | None = None  #: resident bytes of this Python process (CPU)
    capability: str | None = None  #: CUDA compute capability "9.0", ROCm gfx arch
    processors: int | None = None  #: usable CPU cores, or streaming multiprocessors
    threads: int | None = None  #: threads torch uses for CPU work
    details: list[str] = field(default_factory=list)  #: short plain phrases

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DeviceReport(Report):
    """What ``%device`` shows: every device, torch's build, the default and ``auto``'s choice."""

    _views: ClassVar[str] = "devices"

    default: str
    auto: str
    devices: list[DeviceInfo]
    torch: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "default": self.default,
            "auto": self.auto,
            "devices": [d.to_dict() for d in self.devices],
            "torch": dict(self.torch),
            "notes": list(self.notes),
        }

    def device(self, name: str) -> DeviceInfo | None:
        """The row named ``name`` (``"cuda:0"``), or None."""
        return next((d for d in self.devices if d.name == name), None)


@dataclass
class DefaultDeviceReport(Report):
    """What ``%device NAME`` did: the default device for new tensors, before and after."""

    _views: ClassVar[str] = "devices"

    requested: str
    previous: str
    default: str
    changed: bool
    device: DeviceInfo | None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "requested": self.requested,
            "previous": self.previous,
            "default": self.default,
            "changed": self.changed,
            "device": None if self.device is None else self.device.to_dict(),
            "notes": list(self.notes),
        }


@dataclass
class MovedVariable:
    """One variable of ``%device --move``."""

    name: str
    kind: str  #: "tensor", "leaf tensor", "Parameter", "module (Linear)"
    source: str  #: the device it was on ("cpu", "cuda:0", or "cpu, cuda:0" for a mixed module)
    shape: list[int] | None  #: tensors only
    dtype: str | None  #: tensors only ("float32")
    size: str  #: plain words: "(1000, 1000)", "2 parameters, 1 buffer"
    bytes: int | None  #: bytes copied (None when unknown, e.g. sparse)
    seconds: float | None  #: time of the copy, device synchronised (None when not copied)
    moved: bool  #: False when it was already there
    autograd: str  #: what happened to requires_grad / .grad / the graph, in plain words

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class MoveReport(Report):
    """What ``%device --move`` did: each variable, its size and the time it took."""

    _views: ClassVar[str] = "devices"

    device: str
    variables: list[MovedVariable]
    bytes: int
    seconds: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "variables": [v.to_dict() for v in self.variables],
            "bytes": self.bytes,
            "seconds": self.seconds,
            "notes": list(self.notes),
        }
