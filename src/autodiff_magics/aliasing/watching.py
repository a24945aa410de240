"""The cell form: :func:`watch` fingerprints a namespace before a cell, :meth:`Watch.changes`
says after it what changed, and through what."""

from __future__ import annotations

import sys
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from ..report import Report
from .attribution import attribute
from .cell_source import _cell_calls, _cell_names
from .fingerprints import _fingerprint
from .pairs import relate
from .regions import Region, _type_name, region

#: names IPython keeps in the namespace that are never the user's data
_SHELL_NAMES = frozenset({"In", "Out", "exit", "quit", "get_ipython", "_", "__", "___"})


@dataclass
class _Watched:
    names: list[str]
    ref: Any  # weakref to the object
    region: Region | None
    nbytes: int
    fingerprint: int | None
    version: int | None
    reason: str | None = None  # why it is not fingerprinted


class Watch:
    """Fingerprints of a namespace's tensors and arrays, taken before a cell runs."""

    def __init__(self, entries: dict[int, _Watched], budget: int, skipped: dict[str, str]) -> None:
        self._entries = entries
        self.budget = budget
        self._skipped = skipped

    @property
    def names(self) -> list[str]:
        return sorted(n for e in self._entries.values() for n in e.names)

    def changes(self, namespace: Mapping[str, Any], source: str = "", error: str | None = None) -> AliasCellReport:
        """Compare the namespace now with the fingerprints: what changed, and through what."""
        written, _, _ = _cell_names(source, namespace)
        silent, changed, rebound, unchanged, too_large, not_watched = [], [], [], [], [], []
        changed_regions: dict[str, Region] = {}
        for name, reason in sorted(self._skipped.items()):
            not_watched.append({"name": name, "reason": reason})
        for entry in self._entries.values():
            obj = entry.ref()
            alive = [n for n in entry.names if obj is not None and namespace.get(n, _MISSING) is obj]
            for n in entry.names:
                if n not in alive:
                    rebound.append(n)
            if not alive:
                continue
            if entry.reason is not None:
                not_watched.extend({"name": n, "reason": entry.reason} for n in alive)
                continue
            now_version = _version(obj)
            try:
                now_region = region(obj, alive[0])
            except InputError as e:
                not_watched.extend({"name": n, "reason": f"after the cell: {e}"} for n in alive)
                continue
            if entry.fingerprint is None:
                if entry.version is not None and now_version is not None and now_version != entry.version:
                    how = f"torch's version counter moved from {entry.version} to {now_version} (too large to fingerprint: {entry.nbytes:,} bytes)"
                else:
                    too_large.extend({"name": n, "nbytes": entry.nbytes} for n in alive)
                    continue
            else:
                if _fingerprint(obj) == entry.fingerprint:
                    unchanged.extend(alive)
                    continue
                how = "its contents changed"
            for n in alive:
                changed_regions[n] = now_region
                (changed if n in written else silent).append({"name": n, "how": how})
        regions = dict(changed_regions)
        for n, obj in namespace.items():
            if n in regions or not _watchable_name(n):
                continue
            try:
                regions[n] = region(obj, n)
            except InputError:
                continue
        calls = _cell_calls(source)
        objects = {n: namespace.get(n) for n in changed_regions}
        for item in silent:
            attribute(item, objects[item["name"]], namespace, regions, written, set(changed_regions), calls)
        before = {n for e in self._entries.values() for n in e.names} | set(self._skipped)
        new_sharing = []
        fresh = [n for n in regions if n not in before or n in rebound]
        for n in sorted(fresh):
            with_ = []
            for other, r in regions.items():
                if other != n and relate(regions[n], r).shares_memory:
                    with_.append(other)
            if with_:
                new_sharing.append({"name": n, "with": sorted(with_)})
        return AliasCellReport(
            silent=silent,
            changed=changed,
            rebound=sorted(rebound),
            new_sharing=new_sharing,
            unchanged=sorted(unchanged),
            too_large=sorted(too_large, key=lambda d: d["name"]),
            not_watched=not_watched,
            error=error,
            budget=self.budget,
        )


_MISSING = object()


def _watchable_name(name: str) -> bool:
    return not name.startswith("_") and name not in _SHELL_NAMES


def _version(obj: Any) -> int | None:
    try:
        return int(obj._version)
    except Exception:  # noqa: BLE001 - arrays and inference tensors have none
        return None


def watch(namespace: Mapping[str, Any], budget: int, names: Iterable[str] | None = None) -> Watch:
    """Fingerprint the tensors and arrays of ``namespace`` (all, or ``names``) up to ``budget``
    bytes each; larger ones keep only torch's version counter."""
    torch = sys.modules.get("torch")
    np = sys.modules.get("numpy")
    if names is not None:
        names = list(names)
        missing = [n for n in names if n not in namespace]
        if missing:
            raise InputError(f"no variable named {missing[0]!r} in your namespace")
        items = [(n, namespace[n]) for n in names]
    else:
        items = [(n, v) for n, v in namespace.items() if _watchable_name(n)]
    entries: dict[int, _Watched] = {}
    skipped: dict[str, str] = {}
    for name, obj in items:
        is_array = (torch is not None and isinstance(obj, torch.Tensor)) or (np is not None and isinstance(obj, np.ndarray))
        if not is_array:
            if names is not None:
                raise InputError(f"{name} is a {_type_name(obj)}: %%alias_check watches torch tensors and NumPy arrays")
            continue
        if id(obj) in entries:
            entries[id(obj)].names.append(name)
            continue
        try:
            ref = weakref.ref(obj)
        except TypeError:
            continue
        try:
            r = region(obj, name)
        except InputError as e:
            skipped[name] = str(e)
            continue
        version = _version(obj)
        reason = None
        fp = None
        if np is not None and isinstance(obj, np.ndarray) and obj.dtype.hasobject:
            reason = "it holds Python objects, whose changes a byte fingerprint cannot see"
        elif r.nbytes <= budget:
            fp = _fingerprint(obj)
        entries[id(obj)] = _Watched([name], ref, r, r.nbytes, fp, version, reason)
    return Watch(entries, budget, skipped)


@dataclass
class AliasCellReport(Report):
    """What a ``%%alias_check`` cell changed: silent changes first, with the memory they
    came through."""

    _views = "aliasing"

    silent: list[dict[str, Any]]
    changed: list[dict[str, Any]]
    rebound: list[str]
    new_sharing: list[dict[str, Any]]
    unchanged: list[str]
    too_large: list[dict[str, Any]]
    not_watched: list[dict[str, Any]]
    error: str | None
    budget: int

    def to_dict(self) -> dict[str, Any]:
        """Plain data; the contract is documented in the README."""
        return {
            "silent": [dict(d) for d in self.silent],
            "changed": [dict(d) for d in self.changed],
            "rebound": list(self.rebound),
            "new_sharing": [dict(d) for d in self.new_sharing],
            "unchanged": list(self.unchanged),
            "too_large": [dict(d) for d in self.too_large],
            "not_watched": [dict(d) for d in self.not_watched],
            "error": self.error,
            "budget": self.budget,
        }
