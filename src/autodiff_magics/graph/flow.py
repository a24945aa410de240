"""The gradient of one backward pass through each node: hooks on the magic's own graph, removed after."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from functools import partial
from typing import Any

from .kinds import LEAF_INFO
from .naming import Namer
from .report import GraphReport
from .saved import SMALL, Reader, grad_summary, skipped_note
from .walk import Annotations, budget, roots_of, walk

__all__ = ["capture_flow", "FlowCapture"]


def capture_flow(output: Any, variables: Mapping[str, Any], *, details: int | None = None,
                 annotations: Annotations | None = None, namespace: Mapping[str, Any] | None = None) -> FlowCapture:
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
    the user's tensors) and show no gradient; they are named from ``namespace`` when found there
    (``model.0.bias`` reached by the cell). ``annotations``: as for :func:`grad_graph`.
    """
    namer = Namer(variables, namespace)
    roots, name = roots_of(output, namer, leaf_ok=True)
    report, fns = walk(roots, namer, tensor_name=name, details=budget(details), keep=True, annotations=annotations)
    torch = sys.modules["torch"]
    wanted = {id(t): t for t in variables.values() if isinstance(t, torch.Tensor)}
    infos = report._columns.infos
    nodes: list[tuple[int, Any]] = []
    leaves: dict[int, Any] = {}
    for node_id in range(1, report.detailed + 1):
        fn = fns[node_id]
        if infos[node_id - 1] is LEAF_INFO:
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
        self._reader = Reader(sys.modules["torch"])
        self._small: dict[int, tuple[Any, Any]] = {}  # id -> (small gradient, its summary), during the pass

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
            self._reader.recent = []  # nor the gradients the reader kept to recognise
            self._small = {}

    def _on_node(self, node_id: int, grad_inputs: tuple, grad_outputs: tuple) -> None:
        summary = self._summary
        self._flow[node_id] = {"received": [summary(g) for g in grad_outputs], "passed": [summary(g) for g in grad_inputs]}

    def _summary(self, g: Any) -> dict[str, Any] | None:
        """:func:`grad_summary`, once per small gradient tensor: what a node passes on is, as an
        object, what the next one receives (a small tensor is held, so that its id stays its own)."""
        if g is None:
            return None
        try:
            small = g.numel() <= SMALL
        except Exception:  # noqa: BLE001 - summarised (or found unreadable) as before
            small = False
        if not small:
            return grad_summary(self._reader, g)
        held = self._small.get(id(g))
        if held is not None and held[0] is g:
            return held[1]
        found = grad_summary(self._reader, g)
        self._small[id(g)] = (g, found)
        return found

    def _on_leaf(self, node_id: int, grad: Any) -> None:
        # a variable's gradient is the answer: summarised whatever the budget (it arrives last)
        self._flow[node_id] = {"received": [grad_summary(self._reader, grad, always=True)], "passed": []}

    def report(self) -> GraphReport:
        """The walked graph with each detailed node's ``grad`` filled in (None where nothing flowed)."""
        report = self._report
        report._columns.grads = dict(self._flow)
        if not report.flow and self._reader.skipped:
            report.notes.append(skipped_note(self._reader.skipped, "gradient", "backward pass"))
        report.flow = True
        return report

