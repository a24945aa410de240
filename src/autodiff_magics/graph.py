"""The grad_fn graph: one iterative walk of ``next_functions`` into a plain report of every node.

A tensor computed with autograd remembers how it was made: ``t.grad_fn`` is the backward node of
the last operation, and each node's ``next_functions`` lead to the nodes of its inputs, down to
the leaves (``AccumulateGrad``), where gradients of the variables accumulate. :func:`grad_graph`
walks that graph once, depth first with an explicit stack (no recursion, each node visited once
however many paths reach it), and records for every node what it computes, its inputs, where the
tree shows it and, for a leaf, the variable's name; for the first ``details`` nodes (the
``graph_details`` setting, 500 by default) also the shape of what it produced and what it saved
for the backward pass::

    >>> import torch, autodiff_magics as adm
    >>> x = torch.tensor([1., 2., 3.], dtype=torch.float64, requires_grad=True)
    >>> f = 3*x[0]*x[2] - 2*x[1]**2 + 5*x[2]**3
    >>> r = adm.grad_graph(f, names={"x": x})
    >>> r.count, r.leaves, r.depth
    (13, 1, 6)

:func:`capture_flow` does the same walk for ``%%gradient`` and also records the gradient that
flowed into and out of each detailed node while the magic differentiates (node hooks on the
magic's own graph, removed afterwards).

The walk changes nothing: no ``retain_grad``, no hooks left behind, no saved tensor copied (small
ones are read as values, larger ones summarised by their min and max). Saved tensors behind a
saved-tensor hook (checkpointing, offloading) are not unpacked, since unpacking would rerun or
move the user's computation.

Why a detail budget: reading one node's details (its input metadata, each saved value, with the
check for a saved-tensor hook before it) costs 5–10 µs, against under 1 µs per node for a bare
traversal of ``next_functions``; recorded for every node of a 10⁵-node graph they made the walk
10–30× that traversal. The views show the first nodes (depth-first) in full; the others keep their
structure and say what is missing.
"""

from __future__ import annotations

import gc
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import accumulate, islice
from operator import itemgetter
from typing import Any, ClassVar

from . import settings
from .errors import InputError
from .report import Report

__all__ = ["GraphNode", "GraphReport", "FlowCapture", "grad_graph", "capture_flow", "op_name"]

#: tensors with at most this many elements are shown as values
SMALL = 10
#: larger tensors get their min and max (one pass each) while the elements summarised so far, per
#: walk (and per captured backward pass), stay within this many; past it they are skipped, with a note
STATS_BUDGET = 1 << 24

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
_LEAF_INFO = ("AccumulateGrad", "leaf", "leaf")


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
        }


class _Columns:
    """What the walk recorded, one list per field (a GraphNode per node cost more than the walk).

    Plain data only: ids, strings, summaries; never a node or a tensor.
    """

    __slots__ = ("infos", "flat", "bounds", "parents", "variables", "details", "grads")

    def __init__(self, infos: list[tuple[str, str, str]], flat: list[int], bounds: list[int], parents: list[int],
                 variables: dict[int, str | None], details: list[tuple]) -> None:
        self.infos = infos  # (name, op, kind) per node, shared between nodes of one type
        self.flat = flat  # every node's children ids in a row, 0 for a None edge ...
        self.bounds = bounds  # ... node i's are flat[bounds[i - 1]:bounds[i]]
        self.parents = parents  # parents[i]: node i's tree parent, 0 for the root
        self.variables = variables  # leaf id -> variable name (or None), in id order
        self.details = details  # (shape, dtype, device, outputs, saved) of nodes 1…len(details)
        self.grads: dict[int, Any] = {}  # node id -> {"received": …, "passed": …} (flow only)


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
    _columns: _Columns = field(repr=False)
    tensor: str | None = None
    flow: bool = False
    notes: list[str] = field(default_factory=list)
    #: how many nodes (the first, in id order) have details
    detailed: int = 0
    #: the detail budget of the walk (``graph_details``, or ``details=``)
    details_limit: int = 0

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
        return node

    def children(self, node_id: int) -> list[int | None]:
        """Node ``node_id``'s inputs: ids in ``next_functions`` order, None for a None edge."""
        c = self._columns
        return [child or None for child in c.flat[c.bounds[node_id - 1]:c.bounds[node_id]]]

    def leaf_names(self) -> list[str | None]:
        """The leaves' variable names, in id order (None where no name was found)."""
        return list(self._columns.variables.values())

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready data; the contract is documented in the README."""
        return {
            "tensor": self.tensor,
            "root": self.root,
            "count": self.count,
            "depth": self.depth,
            "leaves": self.leaves,
            "flow": self.flow,
            "detailed": self.detailed,
            "details_limit": self.details_limit,
            "notes": list(self.notes),
            "nodes": [n.to_dict() for n in self.nodes],
        }

    def to_dot(self) -> str:
        """Graphviz source (inputs point to the operation that used them, as torchviz draws)."""
        lines = ["digraph grad_fn {", '  node [shape=box, fontname="Helvetica", fontsize=10];']
        for n in self.nodes:
            text = [f"#{n.id} {n.label()}", n.name]
            if n.shape is not None:
                text.append(_shape_text(n.shape) + (f" {n.dtype}" if n.dtype else ""))
            elif not n.detailed:
                text.append("details not recorded")
            style = ', style=filled, fillcolor="#dbeafe"' if n.kind == "leaf" else ""
            lines.append(f'  n{n.id} [label="{_dot_escape(chr(10).join(text))}"{style}];')
        c = self._columns
        for node_id in range(1, self.count + 1):
            for child in c.flat[c.bounds[node_id - 1]:c.bounds[node_id]]:
                if child:
                    lines.append(f"  n{child} -> n{node_id};")
        lines.append("}")
        return "\n".join(lines)


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


def _dot_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _shape_text(shape: Iterable[int]) -> str:
    shape = list(shape)
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


# -- the walk --------------------------------------------------------------------------------------


def grad_graph(
    tensor: Any,
    *,
    names: Mapping[str, Any] | None = None,
    namespace: Mapping[str, Any] | None = None,
    details: int | None = None,
) -> GraphReport:
    """Walk ``tensor.grad_fn`` once, iteratively, into a :class:`GraphReport`.

    Leaves are named by finding their variable, by identity, first in ``names`` (e.g. a cell's
    variables), then in ``namespace`` (the user's namespace; also ``model.layer.weight`` for the
    parameters of modules and ``params[0]`` for tensors in lists, tuples and dicts there).
    ``details``: how many nodes (the first, depth-first) get their shape and saved values read;
    default the ``graph_details`` setting.

    >>> r = grad_graph(f, names={"x": x})        # doctest: +SKIP
    >>> [n.op for n in r.nodes][:3]               # doctest: +SKIP
    ['add', 'sub', 'mul']
    """
    namer = _Namer(names, namespace)
    root = _root_of(tensor, namer)
    return _walk(root, namer, tensor_name=namer.direct(tensor), details=_budget(details))[0]


def capture_flow(output: Any, variables: Mapping[str, Any], *, details: int | None = None) -> FlowCapture:
    """Walk ``output.grad_fn`` now and get ready to record the gradient through each node.

    ``variables`` maps names to the leaves being differentiated (the magic's own tensors). Use::

        cap = capture_flow(out, {"x": x_leaf})
        with cap:
            grads = torch.autograd.grad(out, [x_leaf], allow_unused=True)
        report = cap.report()

    Inside ``with``, every operation node within the detail budget (``details``, default the
    ``graph_details`` setting) has a node hook and every such leaf in ``variables`` a tensor hook
    (``torch.autograd.grad`` with inputs does not run ``AccumulateGrad``'s node hooks, but it runs
    the tensor hooks of its inputs, with the summed gradient). All hooks are removed on exit, also
    on an error or ``KeyboardInterrupt``. Leaves not in ``variables`` are not hooked (they may be
    the user's tensors) and show no gradient.
    """
    namer = _Namer(variables, None)
    root = _root_of(output, namer, leaf_ok=True)
    report, fns = _walk(root, namer, tensor_name=namer.direct(output), details=_budget(details), keep=True)
    torch = sys.modules["torch"]
    wanted = {id(t): t for t in variables.values() if isinstance(t, torch.Tensor)}
    infos = report._columns.infos
    nodes: list[tuple[int, Any]] = []
    leaves: dict[int, Any] = {}
    for node_id in range(1, report.detailed + 1):
        fn = fns[node_id]
        if infos[node_id - 1] is _LEAF_INFO:
            variable = getattr(fn, "variable", None)
            if variable is not None and id(variable) in wanted:
                leaves[node_id] = wanted[id(variable)]
        else:
            nodes.append((node_id, fn))
    return FlowCapture(report, nodes, leaves)


class FlowCapture:
    """Hooks that record each node's gradient during one backward pass; see :func:`capture_flow`."""

    def __init__(self, report: GraphReport, nodes: list[tuple[int, Any]], leaves: Mapping[int, Any]) -> None:
        self._report = report
        self._nodes: list[tuple[int, Any]] | None = nodes
        self._leaves: dict[int, Any] | None = dict(leaves)
        self._handles: list[Any] = []
        self._flow: dict[int, dict[str, list[dict[str, Any] | None]]] = {}
        self._reader = _Reader(sys.modules["torch"])

    def __enter__(self) -> FlowCapture:
        if self._nodes is None:
            raise RuntimeError("a FlowCapture records one backward pass; make a new one with capture_flow()")
        try:
            for node_id, fn in self._nodes:
                self._handles.append(fn.register_hook(partial(self._on_node, node_id)))
            for node_id, tensor in (self._leaves or {}).items():
                self._handles.append(tensor.register_hook(partial(self._on_leaf, node_id)))
        except BaseException:
            self._release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._release()

    def _release(self) -> None:
        handles, self._handles = self._handles, []
        try:
            for handle in handles:
                handle.remove()
        finally:
            # the report needs no node: drop them so the graph and its saved tensors can go
            self._nodes = None
            self._leaves = None

    def _on_node(self, node_id: int, grad_inputs: tuple, grad_outputs: tuple) -> None:
        self._flow[node_id] = {
            "received": [_grad_summary(self._reader, g) for g in grad_outputs],
            "passed": [_grad_summary(self._reader, g) for g in grad_inputs],
        }

    def _on_leaf(self, node_id: int, grad: Any) -> None:
        # a variable's gradient is the answer: summarised whatever the budget (it arrives last)
        self._flow[node_id] = {"received": [_grad_summary(self._reader, grad, always=True)], "passed": []}

    def report(self) -> GraphReport:
        """The walked graph with each detailed node's ``grad`` filled in (None where nothing flowed)."""
        report = self._report
        report._columns.grads = dict(self._flow)
        if not report.flow and self._reader.skipped:
            report.notes.append(_skipped_note(self._reader.skipped, "gradient", "backward pass"))
        report.flow = True
        return report


def _budget(details: int | None) -> int:
    return max(0, settings.current().graph_details if details is None else int(details))


def _root_of(tensor: Any, namer: _Namer, leaf_ok: bool = False) -> Any:
    """The node to start from; a leaf is one only for capture_flow (f(x) = x has a graph of one)."""
    torch = _torch()
    if torch is None or not isinstance(tensor, torch.Tensor):
        kind = type(tensor).__module__ + "." + type(tensor).__qualname__ if type(tensor).__module__ != "builtins" else type(tensor).__name__
        raise InputError(f"a grad_fn graph needs a torch.Tensor computed with autograd, not a {kind}.")
    fn = tensor.grad_fn
    if fn is not None:
        return fn
    what = namer.direct(tensor) or "this tensor"
    if tensor.requires_grad and leaf_ok:
        return torch.autograd.graph.get_gradient_edge(tensor).node
    if tensor.requires_grad:
        raise InputError(
            f"{what} is a leaf tensor (created directly, with requires_grad=True), so it has no "
            "grad_fn and no graph behind it: inspect a result computed from it instead."
        )
    raise InputError(
        f"{what} was made without gradient tracking (requires_grad=False, or computed under "
        "torch.no_grad()), so it has no grad_fn and no graph."
    )


def _torch():
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return None
    return torch


def _walk(root: Any, namer: _Namer, *, tensor_name: str | None, details: int, keep: bool = False) -> tuple[GraphReport, list[Any]]:
    """:func:`_walk_nodes` with the cyclic garbage collector paused, then the stack made ready.

    The walk allocates a few small objects per node; with the collector on, the full collections
    they trigger scan the whole heap (torch's included) and made large walks 3–10× slower.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        report, fns = _walk_nodes(root, namer, tensor_name=tensor_name, details=details, keep=keep)
    finally:
        if was_enabled:
            gc.enable()
    note = _stack_for_freeing(report.depth)
    if note:
        report.notes.append(note)
    return report, fns


_FIRST = itemgetter(0)
#: the level the walk gives the None of None edges: never "reached on a shorter path"
_NO_LEVEL = sys.maxsize


def _walk_nodes(root: Any, namer: _Namer, *, tensor_name: str | None, details: int, keep: bool) -> tuple[GraphReport, list[Any]]:
    """Depth-first preorder over ``next_functions`` with an explicit stack; ids are visit order.

    A node's ``parent`` is the node whose subtree shows it in full: the first one, in this order,
    that reaches it (the same node a recursive preorder printout would put it under). Every node
    gets only what the loop below records (the cheap part); the first ``details`` get the rest
    afterwards. Returns the report and, with ``keep``, the node objects by id (``fns[0]`` is None).
    """
    torch = _torch()
    kinds = _Kinds(torch.autograd.function.BackwardCFunction)
    known, info_of = kinds.by_type.get, kinds.info
    index: dict[Any, int] = {None: 0}  # node -> id, in visit order (and keeps each node alive)
    # every node's inputs in a row (objects; ids once all are known) and how many each has:
    # keeping next_functions' tuples instead cost more (fresh memory for three tuples per node)
    kids: list[Any] = []
    counts: list[int] = []
    extend, count = kids.extend, counts.append
    infos: list[tuple[str, str, str]] = []
    parents = [0]
    # levels[i]: node i's level in the depth-first tree (root 1). They are the longest-path levels
    # unless an edge reaches a node already met at the same level or deeper ("uneven"); then the
    # depth is computed again from the edges
    levels = [_NO_LEVEL]
    leaves: list[tuple[int, Any]] = []
    uneven = False
    stack: list[tuple[Any, int, int]] = [(root, 0, 1)]
    pop, push = stack.pop, stack.append
    add_info, add_parent, add_level = infos.append, parents.append, levels.append
    while stack:
        fn, parent, level = pop()
        if fn in index:
            continue
        node_id = len(index)
        index[fn] = node_id
        nf = fn.next_functions
        extend(map(_FIRST, nf))
        count(len(nf))
        info = known(type(fn)) or info_of(fn)
        add_info(info)
        add_parent(parent)
        add_level(level)
        if info is _LEAF_INFO:
            leaves.append((node_id, fn))
        below = level + 1
        for child, _ in reversed(nf):
            if child not in index:
                push((child, node_id, below))
            elif levels[index[child]] <= level:
                uneven = True

    total = len(infos)
    detailed = min(details, total)
    fns = list(index) if keep else list(islice(index, detailed + 1))
    flat = list(map(index.__getitem__, kids))
    bounds = list(accumulate(counts, initial=0))
    del kids, counts, index
    levels[0] = 0
    depth = _longest_path(flat, bounds) if uneven else max(levels)
    variables: dict[int, str | None] = {}
    for node_id, fn in leaves:
        tensor = getattr(fn, "variable", None)
        variables[node_id] = None if tensor is None else namer.leaf(tensor)

    del leaves
    reader = _Reader(torch)
    rows = []
    for node_id in range(1, detailed + 1):
        fn = fns[node_id]
        kind = infos[node_id - 1][2]
        if kind == "leaf":
            saved = {}
        elif kind == "custom":
            saved = reader.custom_saved(fn)
        else:
            saved = reader.saved(fn)
        rows.append((*reader.metadata(fn), saved))

    columns = _Columns(infos, flat, bounds, parents, variables, rows)
    report = GraphReport(depth=depth, _columns=columns, tensor=tensor_name, detailed=detailed, details_limit=details)
    if detailed < total:
        report.notes.append(
            f"details (shape, saved values, gradient) recorded for the first {detailed:,} of {total:,} nodes "
            "(depth-first): raise %config AutodiffMagics.graph_details for more."
        )
    if reader.freed:
        report.notes.append(
            f"{reader.freed:,} saved value{'s were' if reader.freed != 1 else ' was'} freed: backward() or "
            "autograd.grad already ran through this graph (its structure is intact; retain_graph=True keeps them)."
        )
    if reader.hooked:
        report.notes.append(
            f"{reader.hooked:,} saved tensor{'s are' if reader.hooked != 1 else ' is'} kept by a saved-tensor hook "
            "(checkpointing, offloading) and not unpacked: that would rerun or move your computation."
        )
    if reader.skipped:
        report.notes.append(_skipped_note(reader.skipped, "saved tensor", "graph"))
    return report, (fns if keep else [])


def _skipped_note(skipped: int, what: str, per: str) -> str:
    return (
        f"min/max not computed for {skipped:,} large {what}{'s' if skipped != 1 else ''}: summaries read at "
        f"most {STATS_BUDGET:,} elements per {per} (shape and dtype are shown)."
    )


#: node type -> (name, op, kind) for torch's own node types (they live as long as torch);
#: custom Functions' types are cached per walk only, so that no user class is kept alive
_BUILTIN_KINDS: dict[type, tuple[str, str, str] | None] = {}
_BUILTIN_NAMES: dict[str, tuple[str, str, str]] = {}


class _Kinds:
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
                info = _LEAF_INFO if kind == "leaf" else (raw.removeprefix(_NAMESPACE_PREFIX), op, kind)
                self.by_name[raw] = info
        if ftype not in self.by_type:
            known = info if ftype.__name__ == raw.rsplit("::", 1)[-1] else None
            self.by_type[ftype] = known
            if info[2] != "custom":
                _BUILTIN_KINDS[ftype] = known
        return info


def _longest_path(flat: list[int], bounds: list[int]) -> int:
    """Nodes on the longest path from the root to a leaf (the root alone: 1), by Kahn's order."""
    count = len(bounds) - 1
    indegree = [0] * (count + 1)
    for child in flat:
        indegree[child] += 1
    level = [0] * (count + 1)
    level[1] = 1
    ready = [1]
    deepest = 1
    while ready:
        node_id = ready.pop()
        here = level[node_id]
        if here > deepest:
            deepest = here
        for child in flat[bounds[node_id - 1]:bounds[node_id]]:
            if not child:
                continue
            if here + 1 > level[child]:
                level[child] = here + 1
            indegree[child] -= 1
            if not indegree[child]:
                ready.append(child)
    return deepest


_FREED: dict[str, Any] = {"kind": "freed"}
_HOOKED: dict[str, Any] = {
    "kind": "hooked",
    "note": "kept by a saved-tensor hook (checkpointing, offloading); not unpacked",
}


class _Reader:
    """Reads nodes and summarises tensors, caching what repeats across nodes (names of saved
    attributes per node type, dtype and device texts, summaries of 0-d constants)."""

    def __init__(self, torch: Any) -> None:
        self.torch = torch
        self.tensor_type = torch.Tensor
        self.strided = torch.strided
        self.budget = STATS_BUDGET
        self.attrs: dict[type, tuple[tuple[str, str, str | None], ...]] = {}
        self.texts: dict[Any, str] = {}
        self.scalars: dict[tuple, dict[str, Any]] = {}
        self.freed = 0  # saved values found freed, and found behind a saved-tensor hook
        self.hooked = 0
        self.skipped = 0  # large tensors left without min/max: past the budget

    def text(self, obj: Any) -> str:
        """``float64`` for torch.float64, ``cpu`` for a device (cached: they repeat)."""
        text = self.texts.get(obj)
        if text is None:
            text = self.texts[obj] = str(obj).removeprefix("torch.")
        return text

    def metadata(self, fn: Any) -> tuple[list[int] | None, str | None, str | None, int]:
        """Shape, dtype and device of what the node's forward produced (its first output)."""
        try:
            metadata = fn._input_metadata
        except Exception:  # older torch, or a node type without it
            return None, None, None, 1
        if not metadata:
            return None, None, None, 0
        first = metadata[0]
        try:
            shape = first.shape
            shape = shape if type(shape) is list else list(shape)
        except Exception:  # nested tensors have no single shape
            shape = None
        texts = self.texts
        dtype, device = first.dtype, first.device
        return shape, texts.get(dtype) or self.text(dtype), texts.get(device) or self.text(device), len(metadata)

    def saved(self, fn: Any) -> dict[str, dict[str, Any]]:
        """Each ``_saved_*`` attribute, summarised; ``None`` ones (not needed) are left out."""
        ftype = type(fn)
        attrs = self.attrs.get(ftype)
        if attrs is None:
            attrs = self.attrs[ftype] = _saved_attributes(ftype)
        saved: dict[str, dict[str, Any]] = {}
        for shown, attr, raw in attrs:
            if raw is not None:
                try:
                    packed = getattr(fn, raw)
                except Exception:
                    packed = None
                if packed is not None and getattr(packed, "unpack_hook", None) is not None:
                    saved[shown] = _HOOKED
                    self.hooked += 1
                    continue
            try:
                value = getattr(fn, attr)
            except RuntimeError:  # "Trying to backward through the graph a second time ..."
                saved[shown] = _FREED
                self.freed += 1
                continue
            except Exception as e:
                saved[shown] = {"kind": "unreadable", "error": type(e).__name__}
                continue
            if value is None:  # not needed for this backward (e.g. the other factor is a constant)
                continue
            saved[shown] = self.summary(value)
        return saved

    def custom_saved(self, fn: Any) -> dict[str, dict[str, Any]]:
        """``ctx.save_for_backward`` tensors and plain values a custom Function kept on ``ctx``."""
        saved: dict[str, dict[str, Any]] = {}
        packed = getattr(fn, "_raw_saved_tensors", None)
        if packed is not None and _has_unpack_hook(packed):
            saved["saved_tensors"] = _HOOKED
            self.hooked += 1
        else:
            try:
                tensors = fn.saved_tensors
            except RuntimeError:
                saved["saved_tensors"] = _FREED
                self.freed += 1
            except Exception as e:
                saved["saved_tensors"] = {"kind": "unreadable", "error": type(e).__name__}
            else:
                for i, t in enumerate(tensors):
                    saved[f"saved_tensors[{i}]"] = {"kind": "none"} if t is None else self.tensor(t)
        for key, value in getattr(fn, "__dict__", {}).items():
            if not key.startswith("_") and isinstance(value, (bool, int, float, str)):
                saved[f"ctx.{key}"] = {"kind": "value", "value": value}
        return saved

    # -- summaries: plain, JSON-ready, never a whole copy of a large tensor ----------------------

    def summary(self, value: Any) -> dict[str, Any]:
        if isinstance(value, self.tensor_type):
            return self.tensor(value)
        if isinstance(value, (list, tuple)):
            if value and all(isinstance(v, self.tensor_type) for v in value):
                return {"kind": "tensors", "count": len(value), "items": [self.tensor(v) for v in value[:SMALL]]}
            out: dict[str, Any] = {"kind": "value", "value": [_plain(v) for v in value[: SMALL * 10]]}
            if len(value) > SMALL * 10:
                out["count"] = len(value)
            return out
        return {"kind": "value", "value": _plain(value)}

    def tensor(self, t: Any, always: bool = False) -> dict[str, Any]:
        """A tensor's summary; min/max within the budget, or ``always`` (variables' gradients)."""
        try:
            texts = self.texts
            dtype, device = t.dtype, t.device
            dtype, device = texts.get(dtype) or self.text(dtype), texts.get(device) or self.text(device)
            if t.layout is not self.strided:
                return {"kind": "tensor", "shape": list(t.shape), "dtype": dtype, "device": device,
                        "layout": self.text(t.layout)}
            if device == "meta":
                return {"kind": "tensor", "shape": list(t.shape), "dtype": dtype, "device": device}
            if not t.dim():  # constants of the formula (3 in 3*x) repeat: share one summary
                value = t.tolist()
                if type(value) is complex:
                    value = str(value)
                key = (dtype, device, value)
                found = self.scalars.get(key)
                if found is None:
                    found = self.scalars[key] = {"kind": "tensor", "shape": [], "dtype": dtype, "device": device, "values": value}
                return found
            out: dict[str, Any] = {"kind": "tensor", "shape": list(t.shape), "dtype": dtype, "device": device}
        except Exception as e:  # nested, meta-like or exotic tensors
            return {"kind": "unreadable", "error": type(e).__name__}
        try:
            n = t.numel()
            if n <= SMALL:  # tolist() gives plain bools, ints and floats, and complex numbers
                values = t.tolist()
                out["values"] = _plain(values) if t.dtype.is_complex else values
            elif always or n <= self.budget:
                if not always:
                    self.budget -= n
                out.update(_stats(t, self.torch))
            else:
                self.skipped += 1
        except Exception as e:  # tensor subclasses that cannot be read: the metadata still helps
            out["error"] = type(e).__name__
        return out


def _saved_attributes(ftype: type) -> tuple[tuple[str, str, str | None], ...]:
    """(shown name, attribute, raw attribute or None) of each ``_saved_*`` of a node type."""
    names = set(dir(ftype))
    out = []
    for attr in sorted(names):
        if attr.startswith("_saved_"):
            raw = "_raw" + attr
            out.append((attr[len("_saved_"):], attr, raw if raw in names else None))
    return tuple(out)


def _has_unpack_hook(packed: Any) -> bool:
    """Whether unpacking would run a saved-tensor hook (checkpointing would rerun the forward)."""
    items = packed if isinstance(packed, (list, tuple)) else (packed,)
    return any(getattr(item, "unpack_hook", None) is not None for item in items)


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, complex):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    try:  # SymInt, SymFloat, numpy scalars
        return int(value) if hasattr(value, "__index__") else float(value)
    except Exception:
        return str(value).removeprefix("torch.")[:80]


def _stats(t: Any, torch: Any) -> dict[str, Any]:
    """min and max in one pass (``aminmax``; no copy), moved to the host in one transfer."""
    with torch.no_grad():
        if t.dtype.is_complex:
            return {}
        if t.dtype == torch.bool:
            return {"true": int(t.sum().item())}
        low, high = torch.stack(torch.aminmax(t)).tolist()
        return {"min": low, "max": high}


def _grad_summary(reader: _Reader, g: Any, always: bool = False) -> dict[str, Any] | None:
    if g is None:
        return None
    try:
        return reader.tensor(g, always)
    except Exception as e:  # never break the user's backward pass for a summary
        return {"kind": "unreadable", "error": type(e).__name__}



#: stack bytes per level that freeing a graph needs once Python has seen its nodes (measured
#: about 200 with torch 2.13 on Linux; doubled for safety), and the depth from which we care
_STACK_PER_LEVEL = 512
_DEEP = 10_000
_STACK_CAP = 120 * 2**20  # Linux keeps at least 128 MiB free below the main stack


def _stack_for_freeing(depth: int) -> str | None:
    """Make room on the main thread's stack to free a deep graph later; say so, else None.

    Since torch keeps the Python object of every node that Python has looked at (2.13 does;
    a walk must look), freeing such a graph recurses once per level through those objects and
    a 50,000-deep chain overflows the default 8 MiB stack (a segfault when the user deletes
    the tensor). Raising the soft stack limit lets the main thread's stack grow as needed.
    """
    if depth < _DEEP:
        return None
    try:
        import resource
        import threading
    except ImportError:  # not on Linux/macOS: nothing we can do
        return f"graph is {depth:,} nodes deep: freeing it may overflow the stack (a torch limitation)."
    if threading.current_thread() is not threading.main_thread():
        return f"graph is {depth:,} nodes deep: freeing it outside the main thread may overflow the stack (a torch limitation)."
    need = 8 * 2**20 + depth * _STACK_PER_LEVEL
    soft, hard = resource.getrlimit(resource.RLIMIT_STACK)
    if soft == resource.RLIM_INFINITY or soft >= need:
        return None
    target = min(need, _STACK_CAP) if hard == resource.RLIM_INFINITY else min(need, _STACK_CAP, hard)
    if target <= soft:
        return f"graph is {depth:,} nodes deep: freeing it may overflow the stack (a torch limitation)."
    try:
        resource.setrlimit(resource.RLIMIT_STACK, (target, hard))
    except (ValueError, OSError):
        return f"graph is {depth:,} nodes deep: freeing it may overflow the stack (a torch limitation)."
    return (
        f"graph is {depth:,} nodes deep: the stack limit was raised from {soft / 2**20:.0f} to "
        f"{target / 2**20:.0f} MiB so that torch can free it later without crashing."
    )


# -- names of leaves -------------------------------------------------------------------------------


class _Namer:
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

    def _search_deep(self) -> dict[int, str]:
        torch = sys.modules["torch"]
        found: dict[int, str] = {}
        for mapping, explicit in self._sources:
            for key, value in list(mapping.items()):
                if not _usable(key, explicit):
                    continue
                if isinstance(value, torch.nn.Module):
                    try:
                        for pname, param in value.named_parameters():
                            found.setdefault(id(param), f"{key}.{pname}")
                    except Exception:
                        continue
                elif isinstance(value, (list, tuple)):
                    for i, item in enumerate(value[: self.CONTAINER_LIMIT]):
                        if isinstance(item, torch.Tensor):
                            found.setdefault(id(item), f"{key}[{i}]")
                elif isinstance(value, dict):
                    for i, (k, item) in enumerate(value.items()):
                        if i >= self.CONTAINER_LIMIT:
                            break
                        if isinstance(item, torch.Tensor) and isinstance(k, (str, int)):
                            found.setdefault(id(item), f"{key}[{k!r}]")
        return found


def _usable(key: Any, explicit: bool) -> bool:
    """Names from the namespace that a user would recognise (not ``_``, ``_3``, ``Out``)."""
    return isinstance(key, str) and (explicit or (not key.startswith("_") and key not in ("In", "Out")))
