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

The package's parts: :mod:`.walk` (the walk), :mod:`.flow` (the gradient of a backward pass),
:mod:`.naming` (names of leaves), :mod:`.saved` (reading saved values), :mod:`.kinds` (what a
node is), :mod:`.report` (the report and its dot source), :mod:`.freeing` (deep graphs).
"""

from __future__ import annotations

from .flow import FlowCapture, capture_flow
from .kinds import op_name
from .report import GraphNode, GraphReport
from .walk import grad_graph

__all__ = ["GraphNode", "GraphReport", "FlowCapture", "grad_graph", "capture_flow", "op_name"]
