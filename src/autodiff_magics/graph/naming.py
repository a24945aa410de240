"""Names of leaves: found by identity in the cell's variables and in the user's namespace."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

__all__ = ["Namer"]

class Namer:
    """Finds a tensor's name by identity: explicit names first, then the user's namespace."""

    #: most items looked at inside one list, tuple or dict of the namespace
    CONTAINER_LIMIT = 1000

    def __init__(self, names: Mapping[str, Any] | None, namespace: Mapping[str, Any] | None) -> None:
        self._sources = [(m, explicit) for m, explicit in ((names, True), (namespace, False)) if m]
        self._direct: dict[int, str] | None = None
        self._deep: dict[int, str] | None = None

    def direct(self, tensor: Any) -> str | None:
        """A name bound to exactly this object (``x``), or None."""
        if self._direct is None:
            torch = sys.modules.get("torch")
            found: dict[int, str] = {}
            for mapping, explicit in self._sources:
                for key, value in list(mapping.items()):
                    if torch is not None and isinstance(value, torch.Tensor) and _usable(key, explicit):
                        found.setdefault(id(value), key)
            self._direct = found
        return self._direct.get(id(tensor))

    def leaf(self, tensor: Any) -> str | None:
        """A name for a leaf: direct, else a module parameter or a container item."""
        name = self.direct(tensor)
        if name is not None:
            return name
        if self._deep is None:
            self._deep = self._search_deep()
        return self._deep.get(id(tensor))

    #: levels of containers and attributes looked into below a namespace name (``d['enc'].w`` is 2)
    SEARCH_DEPTH = 3
    #: most objects looked at in one search
    SEARCH_LIMIT = 100_000

    def _search_deep(self) -> dict[int, str]:
        """Breadth first from each name: items of lists, tuples and dicts, attributes of plain
        objects (``self.enc``), parameters of modules; the shortest name wins."""
        torch = sys.modules["torch"]
        tensor_type, module_type = torch.Tensor, torch.nn.Module
        found: dict[int, str] = {}
        seen: set[int] = set()
        todo: list[tuple[str, Any, int]] = []
        for mapping, explicit in self._sources:
            todo.extend((key, value, 0) for key, value in list(mapping.items()) if _usable(key, explicit))
        limit = self.CONTAINER_LIMIT
        looked = 0
        for path, value, level in _queue(todo):
            looked += 1
            if looked > self.SEARCH_LIMIT:
                break
            if id(value) in seen:
                continue
            seen.add(id(value))
            if isinstance(value, tensor_type):
                found.setdefault(id(value), path)
                continue
            if isinstance(value, module_type):
                try:
                    for pname, param in value.named_parameters():
                        found.setdefault(id(param), f"{path}.{pname}")
                    # parameters first; sub-modules' plain tensor attributes come with the rest
                except Exception:
                    pass
                continue
            if level >= self.SEARCH_DEPTH:
                continue
            below = level + 1
            if isinstance(value, (list, tuple)):
                todo.extend((f"{path}[{i}]", item, below) for i, item in enumerate(value[:limit]) if _searchable(item))
            elif isinstance(value, dict):
                for i, (k, item) in enumerate(value.items()):
                    if i >= limit:
                        break
                    if isinstance(k, (str, int)) and _searchable(item):
                        todo.append((f"{path}[{k!r}]", item, below))
            else:
                attrs = _plain_attributes(value)
                todo.extend((f"{path}.{k}", item, below) for k, item in attrs if _searchable(item))
        return found


def _queue(items: list) -> Any:
    """Iterate a list that grows while it is read (breadth-first order)."""
    i = 0
    while i < len(items):
        yield items[i]
        i += 1


_SKIP = (str, bytes, int, float, complex, bool, type(None), type, range)


def _searchable(value: Any) -> bool:
    return not isinstance(value, _SKIP) and not callable(value) or _is_module(value)


def _is_module(value: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.nn.Module)


def _plain_attributes(value: Any) -> list[tuple[str, Any]]:
    """Public instance attributes of a user's object (``self.enc``); none of modules, classes,
    functions or C objects (they have no ``__dict__``) — read with ``vars``, so no property runs."""
    if isinstance(value, type) or getattr(type(value), "__module__", "") in ("builtins",):
        return []
    try:
        attrs = vars(value)
    except TypeError:
        return []
    if not isinstance(attrs, dict):
        return []
    return [(k, v) for k, v in list(attrs.items())[: Namer.CONTAINER_LIMIT] if isinstance(k, str) and not k.startswith("_")]


def _usable(key: Any, explicit: bool) -> bool:
    """Names from the namespace that a user would recognise (not ``_``, ``_3``, ``Out``)."""
    return isinstance(key, str) and (explicit or (not key.startswith("_") and key not in ("In", "Out")))
