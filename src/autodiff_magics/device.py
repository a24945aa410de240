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

import importlib.util
import os
import platform
import time
import warnings
from collections.abc import MutableMapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import torch

from .errors import InputError
from .report import Report

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


# -- reports ---------------------------------------------------------------------------------------


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


# -- the report of every device ----------------------------------------------------------------------


def devices() -> DeviceReport:
    """Report every device torch can use here, torch's build, the default device and ``auto``.

    Reading a GPU's properties starts CUDA in this process (as any CUDA call does); the report
    says so when it did.

    Example::

        >>> r = devices()
        >>> r.to_dict()["devices"][0]["type"]
        'cpu'
    """
    cuda_was_started = _cuda_initialized()
    infos = [_cpu_info()]
    infos += _cuda_infos()
    infos += _mps_infos()
    infos += _other_accelerator_infos()
    build = _torch_build()
    notes = _notes(infos, build, cuda_was_started)
    return DeviceReport(default=_default_name(), auto=_auto_name(), devices=infos, torch=build, notes=notes)


def _cpu_info() -> DeviceInfo:
    logical = os.cpu_count() or 1
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else logical
    quota = _cgroup_cpu_quota()
    threads = torch.get_num_threads()
    details = [f"{usable} core{'s' if usable != 1 else ''}" + (f" of {logical}" if usable < logical else "")]
    if quota is not None and quota < usable:
        details.append(f"the container allows {quota:g} cores' worth of time")
    details.append(f"torch uses {threads} thread{'s' if threads != 1 else ''}")
    capability = _call(lambda: torch.backends.cpu.get_cpu_capability())
    if capability:
        details.append(f"vector unit {capability}")
    total, free, limited = _ram()
    if limited:
        details.append("RAM limited by the container")
    return DeviceInfo(
        name="cpu",
        type="cpu",
        available=True,
        model=_cpu_model(),
        memory_total=total,
        memory_free=free,
        memory_process=_process_rss(),
        processors=usable,
        threads=threads,
        details=details,
    )


def _cuda_infos() -> list[DeviceInfo]:
    if not _cuda_available():
        if torch.version.cuda or torch.version.hip:
            return [DeviceInfo(name="cuda", type="cuda", available=False, details=["no GPU visible to torch"])]
        return []
    infos = []
    for i in range(torch.cuda.device_count()):
        info = DeviceInfo(name=f"cuda:{i}", type="cuda", available=True)
        try:
            props = torch.cuda.get_device_properties(i)
        except Exception as e:  # a broken driver: say so on the row, keep the report
            info.details.append(f"could not read its properties: {_first_line(e)}")
            infos.append(info)
            continue
        info.model = str(props.name)
        info.memory_total = int(props.total_memory)
        arch = getattr(props, "gcnArchName", None) if torch.version.hip else None
        info.capability = str(arch) if arch else f"{props.major}.{props.minor}"
        info.processors = _call(lambda: int(props.multi_processor_count))
        info.memory_free = _cuda_free(i, info.memory_total)
        info.memory_allocated = _call(lambda: int(torch.cuda.memory_allocated(i)))
        info.memory_reserved = _call(lambda: int(torch.cuda.memory_reserved(i)))
        if info.processors is not None:
            info.details.append(f"{info.processors} {'compute units' if torch.version.hip else 'SMs'}")
        infos.append(info)
    return infos


def _cuda_free(index: int, total: int | None) -> int | None:
    """Free memory of a GPU: NVML's count when pynvml is installed (it opens no CUDA context on
    the GPU), else cudaMemGetInfo (which does, as any use of that GPU would)."""
    if _nvml_installed() and total is not None:
        used = _call(lambda: int(torch.cuda.device_memory_used(index)))
        if used is not None:
            return max(0, total - used)
    info = _call(lambda: torch.cuda.mem_get_info(index))
    return None if info is None else int(info[0])


def _nvml_installed() -> bool:
    return importlib.util.find_spec("pynvml") is not None


def _mps_infos() -> list[DeviceInfo]:
    backend = getattr(torch.backends, "mps", None)
    if backend is None or not backend.is_built():
        return []
    if not backend.is_available():
        return [DeviceInfo(name="mps", type="mps", available=False, details=["built, but this Mac cannot use it (needs macOS 12.3+ on Apple silicon)"])]
    total = _call(lambda: int(torch.mps.recommended_max_memory()))
    reserved = _call(lambda: int(torch.mps.driver_allocated_memory()))
    return [
        DeviceInfo(
            name="mps",
            type="mps",
            available=True,
            model=platform.processor() or "Apple GPU",
            memory_total=total,
            memory_free=None if total is None or reserved is None else max(0, total - reserved),
            memory_allocated=_call(lambda: int(torch.mps.current_allocated_memory())),
            memory_reserved=reserved,
            details=["shares the system's RAM; total is Metal's recommended working-set limit"],
        )
    ]


def _other_accelerator_infos() -> list[DeviceInfo]:
    """XPU, HPU and other backends, through torch.accelerator's one API."""
    acc = _compiled_accelerator()
    if acc is None or acc.type in ("cuda", "mps"):
        return []
    module = _call(lambda: torch.get_device_module(acc.type))
    if module is None or not _call(lambda: bool(module.is_available())):
        return [DeviceInfo(name=acc.type, type=acc.type, available=False, details=["built in, but no device is visible"])]
    infos = []
    for i in range(_call(lambda: int(module.device_count())) or 0):
        info = DeviceInfo(name=f"{acc.type}:{i}", type=acc.type, available=True)
        props = _call(lambda: module.get_device_properties(i))
        if props is not None:
            info.model = getattr(props, "name", None)
            total = getattr(props, "total_memory", None)
            info.memory_total = None if total is None else int(total)
        memory = _call(lambda: torch.accelerator.get_memory_info(i))
        if memory is not None:
            info.memory_free, info.memory_total = int(memory[0]), int(memory[1])
        info.memory_allocated = _call(lambda: int(torch.accelerator.memory_allocated(i)))
        info.memory_reserved = _call(lambda: int(torch.accelerator.memory_reserved(i)))
        infos.append(info)
    return infos


def _torch_build() -> dict[str, Any]:
    cudnn = _call(lambda: torch.backends.cudnn.version()) if (torch.version.cuda or torch.version.hip) else None
    acc = _compiled_accelerator()
    return {
        "version": str(torch.__version__),
        "cuda": torch.version.cuda,
        "hip": torch.version.hip,
        "cudnn": _cudnn_text(cudnn),
        "mps": bool(_call(lambda: torch.backends.mps.is_built())),
        "accelerator": None if acc is None else acc.type,
        "cuda_archs": list(_call(lambda: torch.cuda.get_arch_list()) or []) if torch.version.cuda else [],
        "cpu_capability": _call(lambda: torch.backends.cpu.get_cpu_capability()),
    }


def _cudnn_text(version: Any) -> str | None:
    if not isinstance(version, int) or version <= 0:
        return None
    # 8.9.2 is 8902; from 9 on, 9.1.0 is 90100
    if version >= 90000:
        return f"{version // 10000}.{version // 100 % 100}.{version % 100}"
    return f"{version // 1000}.{version // 100 % 10}.{version % 100}"


def _notes(infos: list[DeviceInfo], build: dict[str, Any], cuda_was_started: bool) -> list[str]:
    notes = []
    accelerators = [d for d in infos if d.type != "cpu" and d.available]
    if not accelerators:
        if build["cuda"] or build["hip"]:
            notes.append(
                f"No CUDA or MPS device is present: torch {build['version']} was built with "
                f"{'ROCm ' + build['hip'] if build['hip'] else 'CUDA ' + build['cuda']} but sees no GPU "
                "(no driver, or CUDA_VISIBLE_DEVICES hides them)."
            )
        elif build["mps"]:
            notes.append("No CUDA or MPS device is present: MPS is built in but not available on this machine.")
        else:
            notes.append(f"No CUDA or MPS device is present: this torch ({build['version']}) was built for the CPU only.")
    if not cuda_was_started and _cuda_initialized():
        notes.append(
            "Reading the GPUs started CUDA in this process, as any CUDA call does: "
            "CUDA_VISIBLE_DEVICES can no longer change which GPUs it sees."
        )
    visible = _visible_devices_note()
    if visible:
        notes.append(visible)
    notes += _arch_notes(infos, build)
    cpu = infos[0]
    if cpu.threads and cpu.processors and cpu.threads > cpu.processors:
        notes.append(
            f"torch uses {cpu.threads} threads on {cpu.processors} usable cores, so they compete; "
            f"torch.set_num_threads({cpu.processors}) avoids that."
        )
    return notes


def _arch_notes(infos: list[DeviceInfo], build: dict[str, Any]) -> list[str]:
    """A GPU newer or older than the kernels torch ships fails with 'no kernel image'."""
    archs = build.get("cuda_archs") or []
    if not archs or build.get("hip"):
        return []
    notes = []
    for d in infos:
        if d.type != "cuda" or not d.capability or "." not in d.capability:
            continue
        major, minor = (int(p) for p in d.capability.split(".")[:2])
        if not _arch_runs(archs, major, minor):
            notes.append(
                f"{d.name} has compute capability {d.capability}, but this torch ships kernels for "
                f"{', '.join(archs)}: expect 'no kernel image is available' errors there."
            )
    return notes


def _arch_runs(archs: Sequence[str], major: int, minor: int) -> bool:
    for arch in archs:
        kind, _, digits = arch.partition("_")
        digits = "".join(ch for ch in digits if ch.isdigit())
        if len(digits) < 2:
            continue
        a_major, a_minor = int(digits[:-1]), int(digits[-1])
        if kind == "sm" and a_major == major and a_minor <= minor:
            return True  # binary compatible within a major version
        if kind == "compute" and (a_major, a_minor) <= (major, minor):
            return True  # PTX is compiled for newer GPUs on the fly
    return False


def _visible_devices_note() -> str | None:
    """CUDA_VISIBLE_DEVICES changed after CUDA started: torch still uses the GPUs it saw then."""
    if not _cuda_initialized():
        return None
    value = os.environ.get("CUDA_VISIBLE_DEVICES")
    seen = _call(lambda: int(torch.cuda.device_count()))
    if seen is None:
        return None
    wanted = _count_wanted_by_environment()
    if wanted is None or wanted == seen:
        return None
    shown = "unset" if value is None else f"{value!r}"
    return (
        f"CUDA_VISIBLE_DEVICES is now {shown} ({wanted} GPU{'s' if wanted != 1 else ''}), but CUDA started "
        f"earlier in this process with {seen}: the change cannot take effect until the kernel restarts."
    )


def _count_wanted_by_environment() -> int | None:
    """How many GPUs CUDA_VISIBLE_DEVICES asks for now; None when that cannot be told."""
    nvml = getattr(torch.cuda, "_device_count_nvml", None)
    if nvml is not None and not torch.version.hip:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            count = _call(nvml)
        if isinstance(count, int) and count >= 0:
            return count
    value = os.environ.get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return None
    parse = getattr(torch.cuda, "_parse_visible_devices", None)
    listed = _call(parse) if parse is not None else None
    if listed is None:
        return None
    seen = _call(lambda: int(torch.cuda.device_count())) or 0
    # without NVML the number of physical GPUs is unknown: only "fewer than torch sees" is certain
    return len(listed) if len(listed) < seen else None


# -- the CPU, read from the operating system -----------------------------------------------------------


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def _cpu_model() -> str | None:
    text = _read("/proc/cpuinfo")
    if text:
        for line in text.splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                return value.strip()
    return platform.processor() or platform.machine() or None


def _meminfo() -> dict[str, int]:
    text = _read("/proc/meminfo") or ""
    values = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            values[key.strip()] = int(parts[0]) * (1024 if parts[1:2] == ["kB"] else 1)
    return values


def _ram() -> tuple[int | None, int | None, bool]:
    """(total, available, limited by a cgroup): /proc/meminfo, else sysconf; a container's
    memory limit, when lower, is what this process can really use."""
    info = _meminfo()
    total = info.get("MemTotal")
    free = info.get("MemAvailable", info.get("MemFree"))
    if total is None:
        total = _call(lambda: os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
        free = _call(lambda: os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))
    limit, used = _cgroup_memory()
    if limit is not None and total is not None and limit < total:
        room = None if used is None else max(0, limit - used)
        return limit, room if free is None or room is None else min(free, room), True
    return total, free, False


def _cgroup_memory() -> tuple[int | None, int | None]:
    for limit_path, usage_path in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        limit = (_read(limit_path) or "").strip()
        if limit.isdigit():
            usage = (_read(usage_path) or "").strip()
            return int(limit), int(usage) if usage.isdigit() else None
    return None, None


def _cgroup_cpu_quota() -> float | None:
    text = (_read("/sys/fs/cgroup/cpu.max") or "").split()
    if len(text) == 2 and text[0].isdigit() and text[1].isdigit() and int(text[1]) > 0:
        return int(text[0]) / int(text[1])
    return None


def _process_rss() -> int | None:
    for line in (_read("/proc/self/status") or "").splitlines():
        if line.startswith("VmRSS:"):
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                return int(parts[1]) * 1024
    return None


# -- names, availability, the default and auto ---------------------------------------------------------


def _call(fn, default: Any = None) -> Any:
    """``fn()``, or ``default`` when the backend cannot answer (missing API, broken driver)."""
    try:
        return fn()
    except Exception:
        return default


def _first_line(error: BaseException) -> str:
    """The gist of an error: its first line, cut at a sentence end when torch runs on."""
    lines = str(error).strip().splitlines()
    text = lines[0] if lines else type(error).__name__
    if len(text) > 200:
        end = text.find(". ", 20)
        text = text[: end + 1] if 0 < end < 200 else text[:200] + " …"
    return text


def _cuda_available() -> bool:
    return bool(_call(lambda: torch.cuda.is_available(), False))


def _cuda_initialized() -> bool:
    return bool(_call(lambda: torch.cuda.is_initialized(), False))


def _mps_available() -> bool:
    return bool(_call(lambda: torch.backends.mps.is_available(), False))


def _compiled_accelerator() -> torch.device | None:
    """The accelerator this torch was built for (None for a CPU-only build)."""
    accelerator = getattr(torch, "accelerator", None)
    if accelerator is None:
        return None
    return _call(lambda: accelerator.current_accelerator())


def _count(device_type: str) -> int:
    """How many devices of this type torch can use now (0 when none or unavailable)."""
    if device_type == "cuda":
        return int(_call(lambda: torch.cuda.device_count(), 0)) if _cuda_available() else 0
    if device_type == "mps":
        return 1 if _mps_available() else 0
    module = getattr(torch, device_type, None)
    if module is None or not hasattr(module, "device_count"):
        return 0
    if not _call(lambda: bool(module.is_available()), False):
        return 0
    return int(_call(lambda: module.device_count(), 0))


def _names_here() -> list[str]:
    """Every device name torch can use now, cheaply (no properties read)."""
    names = ["cpu"]
    names += [f"cuda:{i}" for i in range(_count("cuda"))]
    if _mps_available():
        names.append("mps")
    acc = _compiled_accelerator()
    if acc is not None and acc.type not in ("cuda", "mps"):
        names += [f"{acc.type}:{i}" for i in range(_count(acc.type))]
    return names


def _current_index(device_type: str) -> int:
    """The current device index of a type; 0 unless its backend has started and says otherwise."""
    if device_type == "cuda":
        return int(_call(lambda: torch.cuda.current_device(), 0)) if _cuda_initialized() else 0
    if device_type == "mps":
        return 0
    return int(_call(lambda: torch.accelerator.current_device_index(), 0))


def _auto_name() -> str:
    """The best device here: the accelerator torch was built for when it is available, else
    CUDA or MPS when present (whatever the build says), else the CPU."""
    acc = _compiled_accelerator()
    if acc is not None and _count(acc.type) > 0:
        return "mps" if acc.type == "mps" else f"{acc.type}:{_current_index(acc.type)}"
    if _count("cuda") > 0:
        return f"cuda:{_current_index('cuda')}"
    if _mps_available():
        return "mps"
    return "cpu"


def _default_raw() -> torch.device | None:
    """The device torch.set_default_device was given (None: never set, or unset)."""
    context = getattr(getattr(torch, "_GLOBAL_DEVICE_CONTEXT", None), "device_context", None)
    return None if context is None else getattr(context, "device", None)


def _default_name() -> str:
    raw = _default_raw()
    if raw is None:
        return "cpu"
    return _display(raw)


def _display(device: torch.device) -> str:
    """A device's name with its index where the type has several devices: 'cuda' -> 'cuda:0'."""
    if device.type in ("cpu", "meta", "mps"):
        return device.type
    index = device.index if device.index is not None else _current_index(device.type)
    return f"{device.type}:{index}"


def is_device_name(text: str) -> bool:
    """Whether ``text`` is spelled like a device (``auto``, ``cpu``, ``cuda:1``…), present or not."""
    if text.strip().lower() == "auto":
        return True
    try:
        torch.device(text.strip().lower())
    except (RuntimeError, ValueError, TypeError):
        return False
    return True


def resolve(name: str) -> torch.device:
    """The torch.device that ``name`` (``cpu``, ``cuda``, ``cuda:1``, ``mps``, ``meta``, ``auto``)
    means here; a device that does not exist raises InputError listing those that do.

    Example::

        >>> resolve("auto")
        device(type='cpu')
    """
    text = str(name).strip().lower()
    if text == "auto":
        text = _auto_name()
    here = _names_here()
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError, TypeError):
        raise InputError(
            f"{text!r} is not a device name: use cpu, cuda, cuda:1, mps or auto (devices here: {', '.join(here)})."
        ) from None
    if device.type in ("cpu", "meta"):
        if device.index not in (None, 0):
            raise InputError(f"There is only one {device.type} device: use {device.type!r} (devices here: {', '.join(here)}).")
        return torch.device(device.type)
    count = _count(device.type)
    if count == 0:
        raise InputError(f"There is no {_kind_words(device.type)} device here{_why_none(device.type)}; devices here: {', '.join(here)}.")
    if device.index is not None and device.index >= count:
        raise InputError(f"There is no device {text!r} here; devices here: {', '.join(here)}.")
    return device


def _kind_words(device_type: str) -> str:
    return {"cuda": "CUDA", "mps": "MPS", "xpu": "XPU", "hpu": "HPU"}.get(device_type, repr(device_type))


def _why_none(device_type: str) -> str:
    if device_type == "cuda":
        if not (torch.version.cuda or torch.version.hip):
            return f" (this torch, {torch.__version__}, was built without CUDA)"
        return " (torch sees no GPU: no driver, or CUDA_VISIBLE_DEVICES hides them)"
    if device_type == "mps" and not _call(lambda: torch.backends.mps.is_built(), False):
        return " (this torch was built without MPS, which needs a Mac)"
    return ""


def _probe(device: torch.device) -> None:
    """Allocate nothing on ``device``: a device torch cannot use fails here, before any change."""
    if device.type in ("cpu", "meta"):
        return
    try:
        torch.empty(0, device=device)
    except Exception as e:
        raise InputError(f"{_display(device)} is present but torch cannot use it: {_first_line(e)}") from None


def _info_of(name: str) -> DeviceInfo | None:
    if name == "cpu":
        return _cpu_info()
    if name == "meta":
        return DeviceInfo(name="meta", type="meta", available=True, details=["shapes and dtypes only, no values"])
    return next((d for d in _cuda_infos() + _mps_infos() + _other_accelerator_infos() if d.name == name), None)


# -- the default device ----------------------------------------------------------------------------------


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
    _probe(device)
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


# -- moving variables ----------------------------------------------------------------------------------


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
    _probe(target)
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
