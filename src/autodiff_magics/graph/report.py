"""The report of a walk: every node as plain data, stored by column, built into nodes on access."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..report import Report

__all__ = ["GraphNode", "GraphReport", "Columns", "collector_paused"]


@dataclass(slots=True)
class GraphNode:
    """One backward node, as plain data (see :meth:`GraphReport.to_dict` for the fields).

    ``detailed`` is False for nodes past the detail budget: they have no ``shape``, ``dtype``,
    ``device``, ``outputs`` or ``saved``, and no ``grad`` in a flow.
    """

    id: int
    name: str
    op: str
    kind: str
    children: list[int | None]
    parent: int | None
    variable: str | None = None
    saved: dict[str, dict[str, Any]] = field(default_factory=dict)
    grad: dict[str, list[dict[str, Any] | None]] | None = None
    shape: list[int] | None = None
    dtype: str | None = None
    device: str | None = None
    outputs: int | None = 1
    detailed: bool = True
    #: what the node computed and its forward value, as text (``x₂**3``, ``27``), when the run
    #: was traced symbolically (``annotations=``); None otherwise
    expression: str | None = None
    value: str | None = None

    def label(self) -> str:
        """How views name the node: ``mul``, ``x (leaf)``, ``MyFn (custom Function)``."""
        if self.kind == "leaf":
            return f"{self.variable} (leaf)" if self.variable else "leaf (unnamed)"
        if self.kind == "custom":
            return f"{self.op} (custom Function)"
        return self.op

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "op": self.op,
            "kind": self.kind,
            "children": list(self.children),
            "parent": self.parent,
            "variable": self.variable,
            "saved": {k: _copy(v) for k, v in self.saved.items()},
            "grad": _copy(self.grad),
            "shape": None if self.shape is None else list(self.shape),
            "dtype": self.dtype,
            "device": self.device,
            "outputs": self.outputs,
            "detailed": self.detailed,
            "expression": self.expression,
            "value": self.value,
        }


class Columns:
    """What the walk recorded, one list per field (a GraphNode per node cost more than the walk).

    Plain data only: ids, strings, summaries; never a node or a tensor.
    """

    __slots__ = ("infos", "flat", "bounds", "parents", "variables", "details", "grads", "annotations")

    def __init__(self, infos: list[tuple[str, str, str]], flat: list[int], bounds: list[int], parents: list[int],
                 variables: dict[int, str | None], details: list[tuple]) -> None:
        self.infos = infos  # (name, op, kind) per node, shared between nodes of one type
        self.flat = flat  # every node's children ids in a row, 0 for a None edge ...
        self.bounds = bounds  # ... node i's are flat[bounds[i - 1]:bounds[i]]
        self.parents = parents  # parents[i]: node i's tree parent, 0 for the root
        self.variables = variables  # leaf id -> variable name (or None), in id order
        self.details = details  # (shape, dtype, device, outputs, saved) of nodes 1…len(details)
        self.grads: dict[int, Any] = {}  # node id -> {"received": …, "passed": …} (flow only)
        self.annotations: dict[int, Any] = {}  # node id -> (expression, value), or a callable printing them


@dataclass
class GraphReport(Report):
    """The grad_fn graph of one tensor: every backward node once, in depth-first order.

    ``node(i)`` gives node ``i`` (ids start at 1; the root is node 1); ``nodes`` is a sequence of
    all of them, built as they are read. Nodes ``1 … detailed`` have details (shape, saved values,
    the flowed gradient); the others only their structure. ``to_text()``, ``to_html()`` and
    ``to_widget()`` show it as a tree; ``to_dot()`` gives graphviz source.
    """

    _views: ClassVar[str] = "graph"

    depth: int
    _columns: Columns = field(repr=False)
    tensor: str | None = None
    flow: bool = False
    notes: list[str] = field(default_factory=list)
    #: how many nodes (the first, in id order) have details
    detailed: int = 0
    #: the detail budget of the walk (``graph_details``, or ``details=``)
    details_limit: int = 0
    #: the node id of each output (``grad_graph((a, b))`` has two); ``root`` is the first
    roots: list[int] = field(default_factory=lambda: [1])

    @property
    def root(self) -> int:
        """Id of the output's own node (always 1: ids are depth-first visit order)."""
        return 1

    @property
    def count(self) -> int:
        """Distinct backward nodes (operations and leaves; the tensors themselves are not nodes)."""
        return len(self._columns.infos)

    @property
    def leaves(self) -> int:
        """Leaf nodes (``AccumulateGrad``): one per variable that requires grad."""
        return len(self._columns.variables)

    @property
    def operations(self) -> int:
        return self.count - self.leaves

    @property
    def nodes(self) -> Sequence[GraphNode]:
        """Every node, in id order (a read-only sequence; each node is built when read)."""
        return _Nodes(self)

    def node(self, node_id: int) -> GraphNode:
        """The node with this id (ids start at 1), as plain data."""
        c = self._columns
        if not 1 <= node_id <= len(c.infos):
            raise IndexError(f"no node #{node_id}: ids run from 1 to {len(c.infos)}")
        name, op, kind = c.infos[node_id - 1]
        children = [child or None for child in c.flat[c.bounds[node_id - 1]:c.bounds[node_id]]]
        node = GraphNode(node_id, name, op, kind, children, c.parents[node_id] or None, c.variables.get(node_id))
        if node_id <= self.detailed:
            node.shape, node.dtype, node.device, node.outputs, node.saved = c.details[node_id - 1]
            node.grad = c.grads.get(node_id)
        else:
            node.outputs = None
            node.detailed = False
        note = c.annotations.get(node_id)
        if callable(note):  # printed on first read, then kept as text
            note = c.annotations[node_id] = tuple(map(str, note()))
        if note is not None:
            node.expression, node.value = note
        return node

    def children(self, node_id: int) -> list[int | None]:
        """Node ``node_id``'s inputs: ids in ``next_functions`` order, None for a None edge."""
        c = self._columns
        return [child or None for child in c.flat[c.bounds[node_id - 1]:c.bounds[node_id]]]

    def custom_functions(self) -> list[str]:
        """The custom ``autograd.Function`` classes in the graph, by name (read without building nodes)."""
        return sorted({op for _, op, kind in set(self._columns.infos) if kind == "custom"})

    def node_types(self) -> set[str]:
        """The backward node classes in the graph (``MulBackward0``, ...), read without building nodes."""
        return {name for name, _, _ in set(self._columns.infos)}

    def leaf_names(self) -> list[str | None]:
        """The leaves' variable names, in id order (None where no name was found)."""
        return list(self._columns.variables.values())

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready data; the keys are documented in docs/graph.md."""
        return {
            "tensor": self.tensor,
            "root": self.root,
            "roots": list(self.roots),
            "count": self.count,
            "depth": self.depth,
            "leaves": self.leaves,
            "flow": self.flow,
            "detailed": self.detailed,
            "details_limit": self.details_limit,
            "notes": list(self.notes),
            # a million new lists and dicts triggered full collections that tripled the time
            "nodes": collector_paused(self._node_dicts),
        }

    def _node_dicts(self) -> list[dict[str, Any]]:
        """Every node's dict, read straight from the columns: building GraphNodes first cost 3×.

        Nodes past the detail budget are most of a big graph: their dicts are the instance dicts
        of one small class, which CPython stores with the keys shared between all of them (a
        third of the memory of a dict literal with the same keys)."""
        c = self._columns
        flat, bounds, parents, infos = c.flat, c.bounds, c.parents, c.infos
        variables, annotations = c.variables, c.annotations
        detailed = self.detailed
        out: list[dict[str, Any]] = [GraphNode.to_dict(self.node(i)) for i in range(1, detailed + 1)]
        append = out.append
        new = _Plain.__new__
        for i in range(detailed + 1, len(infos) + 1):
            name, op, kind = infos[i - 1]
            d = new(_Plain)
            d.id, d.name, d.op, d.kind = i, name, op, kind
            d.children = [child or None for child in flat[bounds[i - 1]:bounds[i]]]
            d.parent = parents[i] or None
            d.variable = variables.get(i) if kind == "leaf" else None
            d.saved, d.grad, d.shape, d.dtype, d.device, d.outputs, d.detailed = {}, None, None, None, None, None, False
            d.expression, d.value = annotations.get(i, _NO_NOTE)
            append(d.__dict__)
        return out

    def to_dot(self) -> str:
        """Graphviz source: inputs point to the operation that used them (as torchviz draws), each
        box with its op, grad_fn class, expression and value, saved values and gradient received,
        each edge with the gradient passed along it."""
        from ..views.graph_dot import to_dot

        return to_dot(self)


_NO_NOTE = (None, None)


def collector_paused(build: Any, *args: Any, **kwargs: Any) -> Any:
    """``build(*args, **kwargs)`` with Python's cyclic garbage collector paused (restored after,
    also on an error): building millions of small objects otherwise triggers full collections
    that scan the whole heap, torch's included."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return build(*args, **kwargs)
    finally:
        if was_enabled:
            gc.enable()


class _Plain:
    """Holder whose instance dict is a node's dict in :meth:`GraphReport.to_dict` (shared keys)."""


class _Nodes(Sequence):
    """``GraphReport.nodes``: node ``i + 1`` at index ``i``, built on access."""

    __slots__ = ("_report",)

    def __init__(self, report: GraphReport) -> None:
        self._report = report

    def __len__(self) -> int:
        return self._report.count

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self._report.node(i + 1) for i in range(*index.indices(len(self)))]
        count = len(self)
        if index < 0:
            index += count
        if not 0 <= index < count:
            raise IndexError("node index out of range")
        return self._report.node(index + 1)

    def __iter__(self) -> Iterator[GraphNode]:
        node = self._report.node
        for node_id in range(1, len(self) + 1):
            yield node(node_id)


def _copy(value: Any) -> Any:
    """A fresh copy of plain data (summaries are shared between nodes to save memory)."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value
