"""The line form: :func:`alias_check` over every pair of the given objects."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError
from ..report import Report
from .pairs import AliasPair, relate
from .regions import Region, region


@dataclass
class AliasReport(Report):
    """Every pair of the given objects: do they share memory, and how."""

    _views = "aliasing"

    objects: list[dict[str, Any]]
    pairs: list[AliasPair]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """``objects`` (name, type, device, shape, dtype, nbytes, owner) and ``pairs``."""
        return {"objects": [dict(o) for o in self.objects], "pairs": [p.to_dict() for p in self.pairs], "notes": list(self.notes)}

    def pair(self, a: str, b: str) -> AliasPair:
        """The pair of these two names, oriented as asked (``a_in_b`` means ``a`` inside ``b``)."""
        for p in self.pairs:
            if (p.a, p.b) == (a, b):
                return p
            if (p.a, p.b) == (b, a):
                flip = {"a_in_b": "b_in_a", "b_in_a": "a_in_b"}
                return dataclasses.replace(p, a=a, b=b, relation=flip.get(p.relation, p.relation))
        raise KeyError((a, b))


def _describe(r: Region) -> dict[str, Any]:
    return {
        "name": r.name,
        "type": r.type,
        "device": r.device,
        "shape": list(r.shape),
        "dtype": r.dtype,
        "nbytes": r.nbytes,
        "owner": r.owner,
        "made_from": r.made_from,
    }


def alias_check(*objs: Any, names: Sequence[str] | None = None) -> AliasReport:
    """Whether each pair of tensors/arrays shares memory, and how (no data is read).

    >>> import numpy as np, torch, autodiff_magics as adm
    >>> x = torch.rand(2, 3)
    >>> adm.alias_check(x, x.numpy(), x.clone().numpy(), names=["x", "y", "c"]).pair("x", "y").relation
    'same_memory'
    """
    if len(objs) < 2:
        raise InputError("alias_check compares two or more tensors or arrays: give at least two, e.g. alias_check(x, y)")
    names = list(names) if names is not None else [f"#{i + 1}" for i in range(len(objs))]
    if len(names) != len(objs):
        raise InputError(f"got {len(objs)} objects but {len(names)} names")
    regions = [region(o, n) for o, n in zip(objs, names)]
    pairs = [relate(regions[i], regions[j]) for i in range(len(regions)) for j in range(i + 1, len(regions))]
    notes = []
    same = [(names[i], names[j]) for i in range(len(objs)) for j in range(i + 1, len(objs)) if objs[i] is objs[j]]
    for a, b in same:
        notes.append(f"{a} and {b} are the same Python object.")
    if any(r.device != "cpu" for r in regions):
        notes.append("GPU tensors are compared by device address; a GPU tensor never shares memory with a NumPy array.")
    return AliasReport(objects=[_describe(r) for r in regions], pairs=pairs, notes=notes)
