"""The CPU as the operating system describes it: model, RAM (or the container's limit), CPU quota, resident memory."""

from __future__ import annotations

import os
import platform


from .names import _call


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
