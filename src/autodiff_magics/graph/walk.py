"""The walk: one iterative, depth-first pass over ``next_functions`` from the output(s) to the leaves."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from itertools import accumulate, islice
from operator import itemgetter
from typing import Any

from .. import settings
from ..errors import InputError
from .freeing import prepare_freeing
from .kinds import LEAF_INFO, Kinds
from .naming import Namer
from .report import Columns, GraphReport, collector_paused
from .saved import Reader, skipped_note

__all__ = ["grad_graph", "walk", "roots_of", "budget"]

#: one entry of ``annotations=``: what a node computed and its forward value, as text
Annotations = Mapping[Any, "tuple[str, str]"]


def grad_graph(
    tensor: Any,
    *,
    names: Mapping[str, Any] | None = None,
    namespace: Mapping[str, Any] | None = None,
    details: int | None = None,
    annotations: Annotations | None = None,
) -> GraphReport:
    """Walk ``tensor.grad_fn`` once, iteratively, into a :class:`GraphReport`.

    Leaves are named by finding their variable, by identity, first in ``names`` (e.g. a cell's
    variables), then in ``namespace`` (the user's namespace; also ``model.layer.weight`` for the
    parameters of modules and ``params[0]`` for tensors in lists, tuples and dicts there).
    ``details``: how many nodes (the first, depth-first) get their shape and saved values read;
    default the ``graph_details`` setting. ``tensor`` may be a tuple or list of outputs: one
    graph with a root per output (``roots``). ``annotations`` maps autograd nodes (the objects
    ``t.grad_fn`` and ``next_functions`` give) to ``(expression, value)`` texts, shown in every
    view (the symbolic engine makes them).

    >>> r = grad_graph(f, names={"x": x})        # doctest: +SKIP
    >>> [n.op for n in r.nodes][:3]               # doctest: +SKIP
    ['add', 'sub', 'mul']
    """
    namer = Namer(names, namespace)
    roots, name = roots_of(tensor, namer)
    return walk(roots, namer, tensor_name=name, details=budget(details), annotations=annotations)[0]


def roots_of(tensor: Any, namer: Namer, leaf_ok: bool = False) -> tuple[list[Any], str | None]:
    """The nodes to start from, one per output, and the name of the output(s)."""
    if isinstance(tensor, (tuple, list)):
        if not tensor:
            raise InputError("a grad_fn graph needs at least one tensor: the tuple/list of outputs is empty.")
        roots = []
        for item in tensor:
            fn = _root_of(item, namer, leaf_ok)
            if fn not in roots:
                roots.append(fn)
        names = [namer.direct(item) for item in tensor]
        name = ", ".join(n or "?" for n in names) if any(names) else None
        return roots, name
    return [_root_of(tensor, namer, leaf_ok)], namer.direct(tensor)


def budget(details: int | None) -> int:
    return max(0, settings.current().graph_details if details is None else int(details))


def _root_of(tensor: Any, namer: Namer, leaf_ok: bool = False) -> Any:
    """The node to start from; a leaf is one only for capture_flow (f(x) = x has a graph of one)."""
    torch = _torch()
    if torch is None or not isinstance(tensor, torch.Tensor):
        kind = type(tensor).__module__ + "." + type(tensor).__qualname__ if type(tensor).__module__ != "builtins" else type(tensor).__name__
        raise InputError(f"a grad_fn graph needs a torch.Tensor computed with autograd, not a {kind}.")
    fn = tensor.grad_fn
    if fn is not None:
        return fn
    what = namer.direct(tensor) or "this tensor"
    hidden = _hidden_by_functorch(torch, tensor)
    if hidden:
        raise InputError(
            f"{what} is a {hidden} tensor inside torch.func's {'vmap' if hidden == 'batched' else 'transforms'}, "
            "which hide the autograd graph of the tensors they wrap (grad_fn is None there even when "
            "gradients are tracked): inspect the graph outside the transform."
        )
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


def _hidden_by_functorch(torch: Any, tensor: Any) -> str | None:
    """``batched`` for a tensor inside vmap, ``wrapped`` inside grad/jvp, else None."""
    functorch = getattr(torch._C, "_functorch", None)
    try:
        if functorch is not None and functorch.is_batchedtensor(tensor):
            return "batched"
        if functorch is not None and functorch.is_gradtrackingtensor(tensor):
            return "wrapped"
    except Exception:  # older torch: no such check
        return None
    return None


def _torch():
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return None
    return torch


def walk(roots: list[Any], namer: Namer, *, tensor_name: str | None, details: int, keep: bool = False,
         annotations: Annotations | None = None) -> tuple[GraphReport, list[Any]]:
    """:func:`_walk_nodes` with the cyclic garbage collector paused, then the stack made ready.

    The walk allocates a few small objects per node; with the collector on, the full collections
    they trigger scan the whole heap (torch's included) and made large walks 3–10× slower.
    """
    report, fns = collector_paused(_walk_nodes, roots, namer, tensor_name=tensor_name, details=details, keep=True,
                                   annotations=annotations)
    note = prepare_freeing(report, fns)
    if note:
        report.notes.append(note)
    return report, (fns if keep else [])


_FIRST = itemgetter(0)
#: the level the walk gives the None of None edges: never "reached on a shorter path"
_NO_LEVEL = sys.maxsize


def _walk_nodes(roots: list[Any], namer: Namer, *, tensor_name: str | None, details: int, keep: bool,
                annotations: Annotations | None) -> tuple[GraphReport, list[Any]]:
    """Depth-first preorder over ``next_functions`` with an explicit stack; ids are visit order.

    A node's ``parent`` is the node whose subtree shows it in full: the first one, in this order,
    that reaches it (the same node a recursive preorder printout would put it under). Every node
    gets only what the loop below records (the cheap part); the first ``details`` get the rest
    afterwards. Returns the report and, with ``keep``, the node objects by id (``fns[0]`` is None).
    """
    torch = _torch()
    kinds = Kinds(torch.autograd.function.BackwardCFunction)
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
    stack: list[tuple[Any, int, int]] = [(root, 0, 1) for root in reversed(roots)]
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
        if info is LEAF_INFO:
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
    root_ids = [index[root] for root in roots]
    # the annotated nodes by id, looked up from the annotations' side (usually far fewer than the
    # nodes); read, like the other details, for the first ``details`` nodes only: the symbolic
    # engine prints each text when it is first read
    notes: dict[int, Any] = {}
    lazy = getattr(annotations, "lazy", None)  # texts printed when a view first shows the node
    for fn in list(annotations.keys()) if annotations else ():
        node_id = index.get(fn)
        if node_id and node_id <= detailed:
            notes[node_id] = lazy(fn) if lazy is not None else tuple(map(str, annotations[fn]))
    bounds = list(accumulate(counts, initial=0))
    del kids, counts, index
    levels[0] = 0
    depth = _longest_path(flat, bounds) if uneven else max(levels)
    variables: dict[int, str | None] = {}
    for node_id, fn in leaves:
        tensor = getattr(fn, "variable", None)
        variables[node_id] = None if tensor is None else namer.leaf(tensor)

    del leaves
    reader = Reader(torch)
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

    columns = Columns(infos, flat, bounds, parents, variables, rows)
    columns.annotations = notes
    report = GraphReport(depth=depth, _columns=columns, tensor=tensor_name, detailed=detailed, details_limit=details,
                         roots=root_ids)
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
        report.notes.append(skipped_note(reader.skipped, "saved tensor", "graph"))
    return report, (fns if keep else [])


def _longest_path(flat: list[int], bounds: list[int]) -> int:
    """Nodes on the longest path from a root to a leaf (a root alone: 1)."""
    return max(topological(flat, bounds)[1])


def topological(flat: list[int], bounds: list[int]) -> tuple[list[int], list[int]]:
    """Node ids with every node after all the nodes that use it (Kahn's order from the roots),
    and each node's longest-path level (roots 1); ``level[0]`` is 0."""
    count = len(bounds) - 1
    indegree = [0] * (count + 1)
    for child in flat:
        indegree[child] += 1
    level = [0] * (count + 1)
    ready = [i for i in range(count, 0, -1) if not indegree[i]]
    for i in ready:
        level[i] = 1
    order = []
    while ready:
        node_id = ready.pop()
        order.append(node_id)
        here = level[node_id] + 1
        for child in flat[bounds[node_id - 1]:bounds[node_id]]:
            if not child:
                continue
            if here > level[child]:
                level[child] = here
            indegree[child] -= 1
            if not indegree[child]:
                ready.append(child)
    return order, level
