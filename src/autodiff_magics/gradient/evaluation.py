"""The one place that runs the user's cell: every method asks an :class:`Evaluation` for f.

It owns everything that makes running the cell dozens of times safe and honest:

- **copies of the point**: a cell that edits a variable in place (``x *= 2``) changes only the
  evaluation it runs in; the method's points and the user's tensors stay as they were;
- **common random numbers**: torch's (CPU, and CUDA once initialised), NumPy's global and
  Python's ``random`` states are saved before the check, every evaluation starts from them, and
  they are restored after it (errors and Ctrl-C included), so a stochastic f is one deterministic
  function for every method, and the user's generators are not consumed;
- **side effects once**: the first evaluation runs as a normal cell would (its prints show);
  the others are silent, tensors they write in place (``buf.add_``, BatchNorm's running stats,
  ``num_batches_tracked``) are set back before each run and left as one run leaves them, and
  Python objects they change (a list they append to) are restored or named;
- **substitution**: a variable that is the user's own tensor (``--wrt W`` where ``W`` is also a
  model's parameter, or ``--wrt model``) is swapped for the evaluation's copy wherever the cell
  reaches it, by a torch function mode keyed by the tensor object; float32 tensors the cell
  reaches are promoted on the fly when the check runs in float64;
- **global modes**: default dtype and device, grad, inference and anomaly modes are what the
  check needs inside and what the user had outside, and torch's mode stacks are as they were.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from ..arrays import all_finite, largest_abs
from ..cell import CellFunction
from .first_value import FirstValue
from .global_state import GlobalState, restore_uninterrupted
from .numpy_cells import as_arrays
from .side_effects import NamespaceWatch, WriteWatch
from .substitution import Substitution
from .values import scalar

__all__ = ["Evaluation", "scalar"]

#: what a cell's source mentions when it may draw from Python's or NumPy's generators
_RANDOM_WORDS = ("rand", "random", "normal", "shuffle", "choice", "sample", "dropout", "bernoulli", "multinomial", "uniform", "permutation")


class Evaluation(FirstValue):
    """Runs the cell for every method with the point copied, RNG common and side effects once."""

    def __init__(
        self,
        cell: CellFunction,
        dt: Any,
        eps: float,
        notes: list[str],
        *,
        namespace: Mapping[str, Any] | None = None,
        silence: Callable[[], Any] | None = None,
        forward_contexts: Sequence[Callable[[], Any]] = (),
    ) -> None:
        self.cell = cell
        self.dt = dt
        self.eps = eps
        self.notes = notes
        self.notes_after: list[str] = []
        self.points: dict[str, Any] = {}
        self.numel = 0
        self.namespace = namespace
        self._silence = silence
        #: context managers (factories) the autograd forward also runs inside (e.g. an operator recorder)
        self.forward_contexts = list(forward_contexts)
        #: user tensor object -> variable name, swapped wherever the cell reaches the tensor
        self._originals: dict[int, tuple[Any, str]] = {}
        self.promote = False
        #: the cell is NumPy code that fails on tensors (np.sum(x), np.mean(x)): its plain runs get
        #: NumPy copies of the points (autograd's run keeps its tensors, and says it cannot follow)
        self.numpy_points = False
        #: the cell reaches nothing but its variables (see :mod:`..purity`): its runs need no
        #: generator reset, write watch, silencing or cut watcher (set with the points)
        self.pure = False
        #: run the first evaluation of a pure cell on leaves under grad mode, and keep it as
        #: autograd's forward: (leaves, output) in ``held_forward`` (see :meth:`value`)
        self.hold_forward = False
        self.held_forward: tuple[dict[str, Any], Any] | None = None
        self.count = 0
        #: evaluations a vmap batch saved (its rows less the one run it counts as), for the progress line
        self.saved = 0
        self.f0: float | None = None
        self.random_lines: list[str] = []
        self.random = False
        self.writes_variables: set[str] = set()
        self._writes: WriteWatch | None = None
        self._objects: NamespaceWatch | None = None
        # filled by the methods
        self.graph = None
        self.symbolic_summary = None
        self.symbolic_result = None
        self.symbolic_kinks: list[str] = []
        self.symbolic_other_path: str | None = None
        self.cancellation: str | None = None
        self.fd_kinks: list[tuple[str, tuple[int, ...], float, float]] = []
        self.measured_noise: float | None = None  # f's noise at the point, as the central row measured it
        self.planned: list[str] = []  # the methods that will run, in order
        #: per scheme, the differences' plan (steps and shifted points), made once per check
        self.difference_plans: dict[str, Any] = {}
        #: f at the forward row's shifted points, evaluated in the central row's batch
        self.shared_shifts: dict[tuple[str, int, float], float] | None = None
        self.cuts: list[str] = []
        self.custom_functions: list[str] = []
        self.directions: list[dict[str, Any]] = []
        self.user_modes: list[str] = []  # global modes the user had on that the check turned off
        self.progress: Callable[[int], None] | None = None
        self._facts: dict[tuple[str, int], tuple[Any, Any]] = {}
        #: which generators the first run moved (torch, numpy, python)
        self._drawn: dict[str, bool] = {}  # hears the running count of evaluations

    # -- facts about the check's big arrays (gradients, points), each read once per check ---------

    def finite(self, a: Any) -> bool:
        """:func:`..arrays.all_finite`, remembered for this check (its arrays are never written)."""
        return self._fact("finite", a, all_finite)

    def largest(self, a: Any) -> float:
        """:func:`..arrays.largest_abs`, remembered for this check."""
        return self._fact("largest", a, largest_abs)

    def know(self, what: str, a: Any, value: Any) -> None:
        """A fact a method found on its way (autograd's max|g|), so that no one reads ``a`` again."""
        self._facts[(what, id(a))] = (a, value)

    def _fact(self, what: str, a: Any, compute: Callable[[Any], Any]) -> Any:
        facts = self._facts
        held = facts.get((what, id(a)))
        if held is not None and held[0] is a:
            return held[1]
        value = compute(a)
        facts[(what, id(a))] = (a, value)  # the array is held, so its id is not reused meanwhile
        return value

    # -- the cell's interface, so that the symbolic engine can run the cell through us ---------

    @property
    def source(self) -> str:
        return self.cell.source

    @property
    def filename(self) -> str | None:
        return getattr(self.cell, "filename", None)

    @property
    def lines(self) -> list[str]:
        return self.cell.lines

    def describe(self, error: BaseException) -> str:
        return self.cell.describe(error)

    # -- setting up ------------------------------------------------------------------------------

    def set_points(self, points: dict[str, Any], originals: Mapping[str, Any], remake: Callable[[str], Any] | None = None) -> None:
        """The check's own tensors, and for each the user's tensor object it stands for.
        ``remake(name)`` makes a variable's point again: with it, the first run reads the points
        themselves instead of copies of them (a 10⁶-parameter model: 8 MB less), and a point the
        cell edits in place there is made again afterwards."""
        import torch

        self.points = points
        self._remake = remake
        self.numel = sum(int(t.numel()) for t in points.values())
        self.pure = self.cell.pure_over(points)
        state = getattr(self, "_state", None)
        if not self.pure and state is not None and not state.generators:
            state.save_generators()  # nothing has run yet: these are the generators the user had
        if self.pure:
            self.cell.narrow()  # each run copies the names it reads, not your whole namespace
        if self.pure and state is not None:
            state.pause_collector()  # a pure cell makes no reference cycles: nothing waits on the collector
        for name, original in originals.items():
            if isinstance(original, torch.Tensor):
                self._originals[id(original)] = (original, name)
                if original.is_floating_point() and original.dtype != self.dt and torch.finfo(original.dtype).eps > self.eps:
                    self.promote = True

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Global state as the check needs it inside, as the user had it after, whatever happens.

        The cell runs dozens of times: its warnings are collected and reported once each, as
        notes, instead of printed on every run (library deprecation chatter is dropped)."""
        # the generators are saved with the points, unless the cell cannot reach them
        state = GlobalState.save(generators=False)
        self._state = state
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                state.enter(self.dt, self.user_modes)
                yield
            finally:
                restore_uninterrupted(lambda: self._finish(state))
        seen: list[str] = []
        for w in caught:
            if issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning, FutureWarning)):
                continue
            text = f"the cell warned: {w.category.__name__}: {str(w.message).splitlines()[0]}"
            if text not in seen:
                seen.append(text)
        self.notes_after.extend(seen[:3])

    def _finish(self, state: GlobalState) -> None:
        if self._writes is not None:
            self._writes.leave_as_after_first()
        if self._objects is not None:
            self.notes_after.extend(self._objects.settle(self.count))
            self._objects = None
        state.restore()

    # -- running the cell ------------------------------------------------------------------------

    def __call__(self, variables: Mapping[str, Any], contexts: Sequence[Any] = ()) -> Any:
        """The cell's value at these variables, isolated; raises :class:`CellError` as the cell."""
        first = self.count == 0
        try:
            with self._isolated(first, contexts):
                # the copies are made inside the contexts, so that a recorder sees them made
                variables = self._own_copies(variables, first)
                with self._substituted(variables):
                    try:
                        return self.cell(as_arrays(variables) if self.numpy_points else variables)
                    finally:
                        if first:
                            self._after_first(variables)
        finally:
            if first:
                self._remake_written()

    def _remake_written(self) -> None:
        """The points the first run wrote in place, made again from your objects: outside every
        context of the run, since inside it the substitution would hand back the written point."""
        for name in self.writes_variables:
            passed = self._passed.get(name)
            if passed is not None and passed[0] is self.points.get(name):
                self.points[name] = self._remake(name)

    @contextmanager
    def _isolated(self, first: bool, contexts: Sequence[Any] = ()) -> Iterator[None]:
        """One run of the cell: the same random draws, the user's tensors as before the first
        run, silent unless it is the first."""
        self.count += 1
        if self.progress is not None:
            self.progress(self.count)
        if self.pure:  # nothing to reset, watch or silence: only the caller's contexts
            if not contexts:
                yield
                return
            with contextlib.ExitStack() as stack:
                for c in contexts:
                    stack.enter_context(c)
                yield
            return
        state = getattr(self, "_state", None)
        if state is not None:
            state.common_random_numbers(numpy=first or self._drawn.get("numpy", True) or self.cell.callable is not None)
        if not first and self._writes is not None:
            self._writes.restore_before()
        with contextlib.ExitStack() as stack:
            if not first:
                stack.enter_context(self._silenced())
            elif self.namespace is not None:
                self._objects = NamespaceWatch(self.namespace)
            if first:
                # random draws are looked for when the cell could reach one: a module, or a source
                # that names a generator (torch.randn, dropout, ...); else only the user's tensors
                watch_random = self.cell.callable is not None or self._mentions_draws() or _has_modules(self.namespace)
                self._writes = stack.enter_context(WriteWatch(self.namespace, self.filename, watch_random))
            for c in contexts:
                stack.enter_context(c)
            yield

    def _substituted(self, variables: Mapping[str, Any]) -> Any:
        """The user's tensors swapped for these variables wherever the cell reaches them."""
        if (self._originals or self.promote) and not self.pure:
            return Substitution(self._originals, variables, self.dt if self.promote else None, self._promotable())
        return contextlib.nullcontext()

    def _promotable(self) -> dict[int, list[Any]] | None:
        """The user's lower-precision tensors that need no gradient (data: a model's inputs and
        targets), by id, to have their promoted copies kept between evaluations (None: not promoting)."""
        if not self.promote:
            return None
        kept = getattr(self, "_promoted", None)
        if kept is None:
            import torch

            from .side_effects import namespace_tensors

            kept = self._promoted = {}
            for t in namespace_tensors(self.namespace):
                try:
                    if (t.is_floating_point() and not t.requires_grad and t.dtype.itemsize < self.dt.itemsize
                            and t.layout == torch.strided and not t.is_meta and not t.is_inference()):
                        kept[id(t)] = [t, -1, None, -1, None]  # a slot: filled by its first promotion
                except Exception:  # noqa: BLE001 - tensor subclasses: promoted each time
                    continue
        return kept

    def _mentions_draws(self) -> bool:
        draws = getattr(self, "_mentions_random", None)
        if draws is None:
            draws = self._mentions_random = self.cell.callable is None and any(w in self.cell.source.lower() for w in _RANDOM_WORDS)
        return draws

    def _own_copies(self, variables: Mapping[str, Any], first: bool) -> dict[str, Any]:
        """Copies of the variables the cell may edit in place: all on the first run (to learn
        which it edits), then only those."""
        import torch

        out = dict(variables)
        if self.pure:  # no in-place write: the cell gets the points themselves
            self._passed = {}
            return out
        remake = getattr(self, "_remake", None)
        for name, t in variables.items():
            if not isinstance(t, torch.Tensor):
                continue
            if first and remake is not None and t is self.points.get(name):
                continue  # the point itself: made again after this run if the cell writes it
            if first or name in self.writes_variables:
                out[name] = t.clone()
        self._passed = {n: (t, t._version) for n, t in out.items() if isinstance(t, torch.Tensor)}
        return out

    def _after_first(self, variables: Mapping[str, Any]) -> None:
        self.writes_variables = {n for n, (t, v) in self._passed.items() if t._version != v}
        if self.writes_variables:
            names = ", ".join(sorted(self.writes_variables))
            self.notes.append(f"the cell modifies {names} in place: every method ran it on its own copy of the point, so the point stays the one you gave")
        state = getattr(self, "_state", None)
        if state is not None:
            self._drawn = state.drawn()
        if self._writes is not None:
            self.random_lines = self._writes.random_ops
            self._writes.remember_after_first()
        if self._objects is not None:
            self._objects.after_first()

    @contextmanager
    def _silenced(self) -> Iterator[None]:
        sink = io.StringIO()
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            if self._silence is not None:
                with self._silence():
                    yield
            else:
                yield

    def evaluate(self, variables: Mapping[str, Any]) -> float:
        """f at these tensors, as a float (no graph is built)."""
        import torch

        with torch.no_grad():
            out = self(variables)
        return scalar(out, strict=False)

    def evaluate_batch(self, batched: Mapping[str, Any]) -> list[float]:
        """f at a batch of points (leading dimension) through ``torch.func.vmap``; raises when
        the cell does something vmap cannot batch, and the caller then goes one by one."""
        import torch
        from torch.func import vmap

        if self.random:
            raise ValueError("the cell draws random numbers: evaluated one by one")
        rows = next(iter(batched.values())).shape[0]

        def one(variables: Mapping[str, Any]) -> Any:
            # the user's tensors are swapped for this row's variables inside vmap, where they are
            # one point each (outside it they would be the whole batch)
            with self._substituted(variables):
                return self.cell(variables)

        # no graph can be built from the batch's detached points by a pure cell, and vmap runs
        # faster outside no_grad (64 against 78 µs on the seed's f2)
        with contextlib.nullcontext() if self.pure else torch.no_grad(), warnings.catch_warnings(), self._isolated(self.count == 0):
            warnings.simplefilter("ignore")  # vmap's notes on slow fallbacks are ours, not the cell's
            out = vmap(one)(dict(batched))
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (rows,) or out.is_complex():
            raise ValueError("f is not one real number per point")
        self.saved += rows - 1
        return out.detach().double().cpu().tolist()

def _has_modules(namespace: Mapping[str, Any] | None) -> bool:
    import sys

    nn = sys.modules.get("torch.nn")
    return namespace is not None and nn is not None and any(isinstance(v, nn.Module) for v in list(namespace.values()))
