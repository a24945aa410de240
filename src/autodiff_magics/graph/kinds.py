"""What a backward node is: the forward operation it undoes and its kind (operation, leaf, engine, custom)."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["op_name", "LEAF_INFO", "Kinds"]

_NAMESPACE_PREFIX = "torch::autograd::"
#: C++ engine nodes that are not an operation of the user's, in plain words
_ENGINE_NODES = {
    "CopySlices": "in-place write into a view",
    "GraphRoot": "graph root",
    "Error": "not differentiable",
    "DelayedError": "not differentiable",
    "NotImplemented": "derivative not implemented",
    "UndefinedGradBackward": "undefined gradient",
    "Identity": "identity",
}
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_BACKWARD_SUFFIX = re.compile(r"Backward\d*$")
#: (name, op, kind) of every leaf: one object, so the walk tells leaves apart with ``is``
LEAF_INFO = ("AccumulateGrad", "leaf", "leaf")


def op_name(name: str) -> tuple[str, str]:
    """The forward operation a backward node undoes, and the node's kind.

    ``MulBackward0`` gives ``("mul", "operation")``; ``AddmmBackward0`` ``("addmm",
    "operation")``; ``torch::autograd::AccumulateGrad`` ``("leaf", "leaf")``;
    ``torch::autograd::CopySlices`` ``("in-place write into a view", "engine")``.
    Custom ``autograd.Function`` nodes are recognised by type, not by name (see
    :func:`grad_graph`).
    """
    short = name.rsplit("::", 1)[-1]
    if short == "AccumulateGrad":
        return "leaf", "leaf"
    if short in _ENGINE_NODES:
        return _ENGINE_NODES[short], "engine"
    base = _BACKWARD_SUFFIX.sub("", short).lstrip("_") or short
    return _CAMEL.sub("_", base).lower(), "operation" if base != short else "engine"



#: node type -> (name, op, kind) for torch's own node types (they live as long as torch);
#: custom Functions' types are cached per walk only, so that no user class is kept alive
_BUILTIN_KINDS: dict[type, tuple[str, str, str] | None] = {}
_BUILTIN_NAMES: dict[str, tuple[str, str, str]] = {}


class Kinds:
    """(name, op, kind) of nodes, cached by node type: one dict lookup per node in the walk."""

    def __init__(self, custom_type: type) -> None:
        self.custom_type = custom_type
        #: node type -> its info; None for the generic type torch gives C++ nodes it has no
        #: class for (their names differ node by node: looked up by name each time)
        self.by_type: dict[type, tuple[str, str, str] | None] = dict(_BUILTIN_KINDS)
        self.by_name = _BUILTIN_NAMES

    def info(self, fn: Any) -> tuple[str, str, str]:
        ftype = type(fn)
        raw = fn.name()
        if issubclass(ftype, self.custom_type):
            base = ftype.__name__
            info = (raw.removeprefix(_NAMESPACE_PREFIX), _BACKWARD_SUFFIX.sub("", base) or base, "custom")
        else:
            info = self.by_name.get(raw)  # type: ignore[assignment]
            if info is None:
                op, kind = op_name(raw)
                info = LEAF_INFO if kind == "leaf" else (raw.removeprefix(_NAMESPACE_PREFIX), op, kind)
                self.by_name[raw] = info
        if ftype not in self.by_type:
            known = info if ftype.__name__ == raw.rsplit("::", 1)[-1] else None
            self.by_type[ftype] = known
            if info[2] != "custom":
                _BUILTIN_KINDS[ftype] = known
        return info
