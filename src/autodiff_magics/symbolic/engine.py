"""The symbolic row end to end: record a real run, replay it on symbols, differentiate.

``trace_and_differentiate(f, points)`` runs f once on real float64 tensors at the point under the
recorder (leaves that require grad, so that the record's outputs carry their autograd nodes),
replays the record on SymPy symbols and differentiates the result exactly. When the cell cannot
run on such tensors (NumPy code: ``np.sin(x)`` on a tensor that requires grad) or does not return
one, the NumPy tracer runs the cell on arrays of symbols instead. With ``record=`` a record taken
during another real forward at the point (the autograd method's) is replayed instead of running f.
"""

from __future__ import annotations

import functools

import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import sympy

from .exact import Budget, SymbolicUnsupported
from .result import SymbolicResult, differentiate, exact_point, make_symbols, pretty_symbols

__all__ = ["trace_and_differentiate"]

#: most autograd nodes annotated with their sub-expression
ANNOTATION_LIMIT = 2_000
#: longest annotation text
TEXT_LIMIT = 60


def trace_and_differentiate(f: Callable[[Mapping[str, Any]], Any], points: Mapping[str, np.ndarray], *,
                            record: Any = None, hold_items: bool = False, budget: Budget | None = None) -> SymbolicResult:
    """f's exact expression, gradient and values at the point (``SymbolicUnsupported`` says why not).

    A value the cell reads as a Python number (``.item()``, ``float()``) is a graph cut: with
    ``hold_items`` the row holds it constant, as autograd does; by default it first tries to follow
    it exactly (the NumPy tracer keeps it symbolic) and holds it constant only when that fails.
    Either way ``notes`` says which.

        >>> import numpy as np
        >>> r = trace_and_differentiate(lambda v: (v["x"] ** 3).sum(), {"x": np.array([1.0, 2.0])})
        >>> r.text(r.expression), r.gradient["x"].tolist()
        ('x₀**3 + x₁**3', [3.0, 12.0])
    """
    budget = budget or Budget()
    symbols = {name: make_symbols(name, np.shape(p)) for name, p in points.items()}
    exact = {name: exact_point(np.asarray(p, dtype=np.float64)) for name, p in points.items()}
    substitution: dict[sympy.Symbol, sympy.Expr] = {}
    for name in points:
        for idx, s in np.ndenumerate(symbols[name]):
            substitution[s] = exact[name][idx]
    given = record is not None
    if record is None:
        plain = None if hold_items else _plain(f, symbols, substitution, budget)
        if plain is not None:
            return plain
        record = _record_run(f, points)
    if record is None:
        from .numpy_tracer import trace_numpy

        budget.start = time.perf_counter()
        expr = trace_numpy(f, symbols, substitution)
        return differentiate(expr, symbols, substitution, budget)
    result = _replayed(record, symbols, substitution, budget)
    if not given:  # the nodes of a run nobody else saw: keeping them would only pin its graph
        result.annotations = {}
    if result.notes and _CUT in result.notes[0] and not hold_items:
        result = _followed(f, symbols, substitution, result)
    return result


_CUT = "as a Python number"


def _followed(f: Callable[[Mapping[str, Any]], Any], symbols: dict[str, np.ndarray],
              substitution: dict[sympy.Symbol, sympy.Expr], held: SymbolicResult) -> SymbolicResult:
    """The exact result through a value read as a Python number, when the NumPy tracer can follow it."""
    from .numpy_tracer import trace_numpy

    try:
        expr = trace_numpy(f, symbols, substitution)
        result = differentiate(expr, symbols, substitution, Budget())
    except Exception:  # noqa: BLE001 - CellError, SymbolicUnsupported, SymPy's own: keep the held result
        return held
    result.annotations = held.annotations
    result.notes = ["the cell reads a value of the variables as a Python number (.item()): the formula follows it "
                    "exactly, while autograd holds it constant there"]
    return result


def _plain(f: Callable[[Mapping[str, Any]], Any], symbols: dict[str, np.ndarray],
           substitution: dict[sympy.Symbol, sympy.Expr], budget: Budget) -> SymbolicResult | None:
    """The result when the cell is plain arithmetic, indexing and generic math names (no torch run
    needed, and no record to annotate), else None."""
    from .numpy_tracer import trace_numpy

    try:
        expr = trace_numpy(f, symbols, substitution, plain=True)
    except Exception:  # noqa: BLE001 - NotPlain, or anything the record path will say better
        return None
    budget.start = time.perf_counter()
    return differentiate(expr, symbols, substitution, budget)


def _record_run(f: Callable[[Mapping[str, Any]], Any], points: Mapping[str, np.ndarray]) -> Any:
    """The record of f run on real tensors at the point, or None when torch cannot run the cell."""
    import torch

    from .recording import record_operators

    leaves = {n: torch.tensor(np.asarray(p, dtype=np.float64)).requires_grad_(True) for n, p in points.items()}
    with torch.enable_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rec = record_operators(leaves)
        try:
            with rec:
                out = f(dict(leaves))
        except Exception:  # noqa: BLE001 - the NumPy tracer (or its error message) takes over
            return None
    if not isinstance(out, torch.Tensor) or not out.is_floating_point() or out.numel() != 1:
        return None
    return rec.finish(out)


def _replayed(record: Any, symbols: dict[str, np.ndarray], substitution: dict[sympy.Symbol, sympy.Expr],
              budget: Budget) -> SymbolicResult:
    from .replay import Replay

    if record.stopped:
        raise SymbolicUnsupported(record.stopped)
    if record.output is None:
        raise SymbolicUnsupported("the record does not say which tensor is f (call finish(f_value) after the run)")
    from . import memo

    key = memo.signature(record)
    hit = memo.remembered(key, record, symbols)
    if hit is not None:
        return hit
    budget.start = time.perf_counter()  # the budget is SymPy's: the run itself was the cell's
    replay = Replay(budget, substitution)
    for name, ref in record.variables.items():
        if name not in symbols:
            continue
        if tuple(ref.shape) != symbols[name].shape:
            raise SymbolicUnsupported(f"the recorded variable {name} has shape {tuple(ref.shape)}, not {symbols[name].shape}")
        replay.bind(ref, symbols[name])
    replay.run(record.events)
    out = replay.read(record.output)
    if out.size != 1:
        raise SymbolicUnsupported(f"f has shape {tuple(out.shape)}, not a scalar")
    expr = sympy.sympify(out.reshape(-1)[0])
    result = differentiate(expr, symbols, substitution, budget, notes=list(replay.notes))
    result.annotations = _annotations(replay, symbols)
    memo.remember(key, result, record, replay.outputs)
    return result


class Annotations(Mapping):
    """autograd node -> (expression text, forward value text), printed when first read.

    Holding the expressions (small immutable SymPy data) costs nothing; printing them is what costs,
    so a graph view that shows ten nodes prints ten. The keys are the recorded run's autograd
    nodes (they cannot be weakly referenced): call :meth:`release` once the graph is captured, so a
    report that keeps this result does not keep that graph alive."""

    def __init__(self, entries: dict[Any, tuple[np.ndarray, Any]], symbols: Mapping[str, np.ndarray],
                 printed: dict[int, str] | None = None) -> None:
        self._entries = entries
        self._symbols = symbols
        self._texts: dict[Any, tuple[str, str]] = {}
        self._pretty: dict[sympy.Symbol, sympy.Symbol] | None = None
        #: expression texts by the id of their (held) object array: shared with a remembered replay
        self.printed = printed if printed is not None else {}

    def __getitem__(self, node: Any) -> tuple[str, str]:
        text = self._texts.get(node)
        if text is None:
            text = self._texts[node] = self._print(self._entries[node])
        return text

    def lazy(self, node: Any) -> Callable[[], tuple[str, str]]:
        """The texts of ``node``, printed only when called: a graph keeps this for the nodes it
        shows, and a report hidden with ``;`` never prints. It holds the expressions, not the node."""
        return functools.partial(self._print, self._entries[node])

    def _print(self, entry: tuple[np.ndarray, Any]) -> tuple[str, str]:
        values, real = entry
        text = self.printed.get(id(values))
        if text is None:
            if self._pretty is None:
                self._pretty = pretty_symbols(self._symbols)
            text = self.printed[id(values)] = _short_expression(values, self._pretty)
        return text, _short_value(real)

    def __iter__(self):
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Annotations({len(self)} autograd nodes)"

    def release(self) -> None:
        """Forget the autograd nodes (and so stop pinning the recorded run's graph) once the
        graph picture has read what it shows; texts already printed are forgotten too."""
        self._entries = {}
        self._texts = {}


def _annotations(replay: Any, symbols: Mapping[str, np.ndarray]) -> Annotations:
    """Each recorded output's autograd node -> its expression and forward value (texts made on demand)."""
    entries: dict[Any, tuple[np.ndarray, Any]] = {}
    for event, written in replay.outputs:
        for node, values, ref in zip(event.grad_fns, written, event.outputs):
            if node is not None and values is not None and len(entries) < ANNOTATION_LIMIT:
                entries[node] = (values, ref.value)
    return Annotations(entries, symbols)


def _clip(text: str, limit: int = TEXT_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _short_expression(values: np.ndarray, pretty: Mapping[sympy.Symbol, sympy.Symbol]) -> str:
    def one(v: Any) -> str:
        v = sympy.sympify(v)
        if sympy.count_ops(v, visual=False) > 40:
            return "…"
        return _clip(sympy.sstr(v.xreplace(pretty)), 40)

    if values.size == 1:
        return _clip(one(values.reshape(-1)[0]))
    if values.size <= 4:
        return _clip("[" + ", ".join(one(v) for v in values.reshape(-1)) + "]")
    shape = "×".join(map(str, values.shape))
    first = ", ".join(one(v) for v in values.reshape(-1)[:2])
    return _clip(f"{shape}: [{first}, …]")


def _short_value(value: Any) -> str:
    if value is None:
        return ""
    flat = value.detach().reshape(-1).tolist()
    if len(flat) == 1:
        return f"{flat[0]:.6g}"
    if len(flat) <= 4:
        return "[" + ", ".join(f"{v:.4g}" for v in flat) + "]"
    shape = "×".join(map(str, value.shape))
    return f"{shape}: [{flat[0]:.4g}, {flat[1]:.4g}, …]"
