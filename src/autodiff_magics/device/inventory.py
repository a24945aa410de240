"""The report of every device: the CPU, CUDA, MPS and other accelerators, torch's build, notes."""

from __future__ import annotations

import importlib.util
import os
import platform
import warnings
from collections.abc import Sequence
from typing import Any

import torch

from .names import _auto_name, _call, _compiled_accelerator, _cuda_available, _cuda_initialized, _default_name, _first_line
from .reports import DeviceInfo, DeviceReport
from .system import _cgroup_cpu_quota, _cpu_model, _process_rss, _ram


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

def _info_of(name: str) -> DeviceInfo | None:
    if name == "cpu":
        return _cpu_info()
    if name == "meta":
        return DeviceInfo(name="meta", type="meta", available=True, details=["shapes and dtypes only, no values"])
    return next((d for d in _cuda_infos() + _mps_infos() + _other_accelerator_infos() if d.name == name), None)
