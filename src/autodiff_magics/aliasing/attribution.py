"""Who changed a silently changed variable, said only when the cell shows it: a variable it
wrote to by name that shares the memory, a function it was passed to, or an optimizer or module
whose method the cell called and which holds it (or memory it shares)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from .pairs import relate
from .regions import Region, region

#: parameters and buffers of one optimizer or module looked through
HOLDER_BUDGET = 1 << 14


def attribute(
    item: dict[str, Any],
    obj: Any,
    namespace: Mapping[str, Any],
    regions: Mapping[str, Region],
    written: set[str],
    changed: set[str],
    calls: tuple[dict[str, list[str]], dict[str, list[str]]],
) -> None:
    """Fill ``through``, ``shares_with``, ``passed`` and ``by`` of one silent change."""
    n = item["name"]
    passed_to, methods = calls
    partners = []
    for other, r in regions.items():
        if other != n:
            p = relate(regions[n], r)
            if p.shares_memory:
                partners.append((other not in written, other not in changed, other, p.summary))
    partners.sort()
    item["through"] = [t[2] for t in partners if not t[0]]
    item["shares_with"] = [{"name": t[2], "relation": t[3], "changed": t[2] in changed} for t in partners]
    item["passed"] = n in passed_to
    item["by"] = None
    if item["through"]:
        return
    if n in passed_to:
        item["by"] = f"the cell passed it to {_either(passed_to[n])}, which wrote into it"
        return
    for _, _, other, summary in partners:
        if other in passed_to:
            item["by"] = f"through {other}, {summary}, which the cell passed to {_either(passed_to[other])}"
            return
    for holder_name, texts in methods.items():
        if holder_name == n:
            continue
        found = _held_by(obj, namespace.get(holder_name), holder_name, namespace)
        if found is not None:
            item["by"] = f"{_either(texts)} changed it: {found}"
            return


def _either(texts: list[str]) -> str:
    return texts[0] if len(texts) == 1 else "one of " + ", ".join(texts[:3]) + (" …" if len(texts) > 3 else "")


def _held_by(obj: Any, holder: Any, holder_name: str, namespace: Mapping[str, Any]) -> str | None:
    """Words saying how an optimizer's or module's tensors include ``obj`` or its memory."""
    torch = sys.modules.get("torch")
    if torch is None or not isinstance(obj, torch.Tensor):
        return None
    if isinstance(holder, torch.optim.Optimizer):
        what = f"the optimizer {holder_name}"
        tensors = ((None, p) for g in holder.param_groups for p in g["params"])
    elif isinstance(holder, torch.nn.Module):
        what = f"the module {holder_name}"
        tensors = ((f"{holder_name}.{k}", p) for k, p in (*holder.named_parameters(), *holder.named_buffers()))
    else:
        return None
    try:
        ptr = obj.untyped_storage().data_ptr()
        mine = region(obj, "it")
    except Exception:  # noqa: BLE001 - a tensor without storage: nothing to match
        return None
    for k, (label, p) in enumerate(tensors):
        if k >= HOLDER_BUDGET:
            return None
        if p is obj:
            return f"it is {'a parameter' if label is None else label} of {what}"
        try:
            if p.device != obj.device or p.untyped_storage().data_ptr() != ptr:
                continue
            if not relate(mine, region(p, "p")).shares_memory:
                continue
        except Exception:  # noqa: BLE001 - a parameter without storage
            continue
        label = label or _name_of(p, namespace) or "one of its parameters"
        return f"it shares memory with {label}, which {what} holds"
    return None


def _name_of(obj: Any, namespace: Mapping[str, Any]) -> str | None:
    return next((k for k, v in namespace.items() if v is obj and not k.startswith("_")), None)
