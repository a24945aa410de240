"""The IPython edge: parse each magic's line, evaluate expressions in the user's namespace, call
the core and return its report. Settings are traitlets here, so ``%config AutodiffMagics`` lists
them and ``%config AutodiffMagics.widgets = False`` changes them.

Nothing heavy is imported at module level: loading the extension must cost nothing.
"""

from __future__ import annotations

import argparse
import keyword
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments
from traitlets import Bool, Int

from .magic_line import _as_usage_errors, _compiled, _ends_with_comma, _methods, _names, _nonnegative_float, _positive_float, _positive_int, parse, python_path, strip_semicolon
from .settings import Settings, from_object

__all__ = ["AutodiffMagics"]

_DEFAULTS = Settings()


@magics_class
class AutodiffMagics(Magics):
    """The magics of autodiff-magics; settings are configurable with ``%config AutodiffMagics``."""

    widgets = Bool(_DEFAULTS.widgets, help="Offer ipywidgets views in notebooks (text/HTML otherwise).").tag(config=True)
    symbolic_limit = Int(_DEFAULTS.symbolic_limit, help="%%gradient skips SymPy above this many scalars.").tag(config=True)
    fd_limit = Int(_DEFAULTS.fd_limit, help="%%gradient uses the directional check instead of per-coordinate differences above this many scalars.").tag(config=True)
    directions = Int(_DEFAULTS.directions, help="Random directions of the directional check.").tag(config=True)
    text_depth = Int(_DEFAULTS.text_depth, help="Deepest level of a graph printed as text.").tag(config=True)
    text_nodes = Int(_DEFAULTS.text_nodes, help="Most graph nodes printed as text.").tag(config=True)
    html_budget = Int(_DEFAULTS.html_budget, help="Most characters of one report's static HTML.").tag(config=True)
    page_size = Int(_DEFAULTS.page_size, help="Children shown per page in a widget tree.").tag(config=True)
    graph_details = Int(_DEFAULTS.graph_details, help="Graph nodes (the first, depth-first) whose shape, saved values and gradient are recorded.").tag(config=True)
    fingerprint_budget = Int(_DEFAULTS.fingerprint_budget, help="%%alias_check: largest object (bytes) it fingerprints.").tag(config=True)

    # -- helpers ---------------------------------------------------------------------------------

    def _finish(self, report: Any, quiet: bool) -> Any:
        """Return the report for IPython to show; with a trailing ``;`` keep it in ``_`` unshown."""
        if quiet and report is not None:
            self.shell.displayhook.update_user_ns(report)
            return None
        return report

    def _eval(self, expr: str, what: str = "", shown: str | None = None) -> Any:
        """Evaluate one expression in the user's namespace; failures become one sentence, naming
        the expression as the user wrote it (``shown``, when ``expr`` is its Python form)."""
        shown = expr if shown is None else shown
        try:
            return eval(_compiled(expr), self.shell.user_ns)
        except SyntaxError as e:
            raise UsageError(f"{what or 'expression'} {shown!r} is not valid Python: {e.msg}") from None
        except Exception as e:
            raise UsageError(f"could not evaluate {shown!r}: {type(e).__name__}: {e}") from None

    # -- %%gradient ------------------------------------------------------------------------------

    @magic_arguments()
    @argument(
        "assignments",
        nargs="*",
        metavar="NAME=EXPR",
        help="a variable and its point, e.g. x=[1., 2., 3.]; EXPR is evaluated in your namespace",
    )
    @argument("--wrt", type=_names, metavar="A,B", help="differentiate with respect to existing variables at their current values")
    @argument(
        "--methods",
        type=_methods,
        metavar="M,M",
        help="methods to run: autograd, symbolic, central, forward, directional "
        "(default: all that suit the size; --expect adds 'expect')",
    )
    @argument("--step", type=_positive_float, metavar="H", help="finite-difference step, scaled by max(1, |x_i|) (default: suited to the dtype)")
    @argument("--rtol", type=_nonnegative_float, help="relative tolerance for every comparison (default: derived from each method's error)")
    @argument("--atol", type=_nonnegative_float, help="absolute tolerance for every comparison (default: derived)")
    @argument("--dtype", default="float64", choices=["float64", "float32", "float16", "bfloat16"], help="dtype of the points (default float64)")
    @argument("--expect", metavar="EXPR", help="your own gradient (values, a formula in the variables, or a dict by variable) to check like a method")
    @argument("--device", metavar="NAME", help="device to run on (default: where the --wrt variables live, else torch's default)")
    @argument("--directions", type=_positive_int, metavar="K", help="random directions of the directional check (default 3)")
    @argument("--seed", type=int, default=0, help="seed of the directional check's directions (default 0)")
    @argument("--symbolic-limit", type=_positive_int, metavar="N", help="skip SymPy above N scalars (default 64)")
    @argument("--fd-limit", type=_positive_int, metavar="N", help="directional check instead of per-coordinate differences above N scalars (default 1000)")
    @argument("--study", action="store_true", help="add a step-size study: error against h for forward and central differences")
    @argument("--points", type=_positive_int, metavar="K", help="also compare autograd with central differences at K random points around the point (seeded by --seed)")
    @cell_magic
    def gradient(self, line: str, cell: str):
        """Differentiate the cell's last expression by every method, side by side, with a verdict.

        The line names the variables and their points (``x=[1., 2., 3.]``) or takes existing
        ones (``--wrt w,b``). The cell holds Python statements; its last expression is f and must
        be a scalar. Generic math names (sin, cos, exp, log, sqrt, tanh, abs, pi, e, ...) work
        with every method; explicit torch calls work too. Assignments in the cell stay in the
        cell. Returns a report (``_`` keeps it; ``r = _`` to hold it).

        Example::

            %%gradient x=[1., 2., 3.]
            3*x[0]*x[2] - 2*x[1]**2 + 5*x[2]**3
        """
        from .gradient import gradient as compute

        cell, quiet = strip_semicolon(cell)
        spaced = re.search(r"--wrt[ =]+([\w.\[\]]+(?:,[\w.\[\]]+)*),\s+([A-Za-z_][\w.\[\]]*)(?=\s|$)", line)
        if spaced and "=" not in spaced.group(2):
            raise UsageError(f"--wrt {spaced.group(1)}, {spaced.group(2)}: did you mean --wrt {spaced.group(1)},{spaced.group(2)} (no space after the comma)?")
        args = self._parsed_gradient_line(line)
        points: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for item in args.assignments:
            name, sep, expr = item.partition("=")
            name = name.strip()
            if not sep or not expr.strip():
                if not sep and item.isidentifier() and args.wrt:
                    raise UsageError(f"expected NAME=EXPR, got {item!r}: did you mean --wrt {','.join(args.wrt)},{item} (no space after the comma)?")
                raise UsageError(f"expected NAME=EXPR, got {item!r} (e.g. x=[1., 2., 3.])")
            if _ends_with_comma(expr):
                raise UsageError(
                    f"{item!r} ends with a comma, which makes {name} a vector ({expr.strip()} is a tuple): "
                    f"separate the assignments with spaces only, e.g. {name}={expr.strip().rstrip(',').strip()} y=2"
                )
            if not name.isidentifier() or keyword.iskeyword(name):
                raise UsageError(f"{name!r} is not a valid variable name (in {item!r})")
            if name in points:
                raise UsageError(f"variable {name!r} is given twice")
            points[name] = self._eval(expr, f"the point of {name},")
            sources[name] = expr.strip()
        for name in args.wrt or []:
            if name in points:
                raise UsageError(f"variable {name!r} is given both as {name}=... and in --wrt")
            root = name.split(".")[0].split("[")[0].strip()
            if root not in self.shell.user_ns:
                raise UsageError(f"--wrt: no variable named {root!r} in your namespace")
            points[name] = self.shell.user_ns[name] if name == root else self._eval(python_path(name), "--wrt", shown=name)
            sources[name] = name
        if not points:
            raise UsageError("no variable to differentiate with respect to: give NAME=EXPR (e.g. %%gradient x=3.5) or --wrt NAME")
        settings = self._settings()
        with _as_usage_errors():
            report = compute(
                self._transformed(cell) if cell.strip() else cell,
                at=points,
                namespace=self.shell.user_ns,
                methods=args.methods,
                step=args.step,
                rtol=args.rtol,
                atol=args.atol,
                dtype=args.dtype,
                expect=args.expect,
                device=args.device,
                directions=args.directions or settings.directions,
                seed=args.seed,
                symbolic_limit=args.symbolic_limit or settings.symbolic_limit,
                fd_limit=args.fd_limit or settings.fd_limit,
                study=args.study,
                sources=sources,
                points_around=args.points or 0,
                silence=self._silent_display,
                progress=self._progress() if cell.strip() else None,
            )
        return self._finish(report, quiet)

    def _settings(self) -> Settings:
        return from_object(self)

    def _progress(self) -> Any:
        """Progress for a slow check: a widget in a notebook kernel, a text line elsewhere."""
        from .views.gradient import Progress

        kernel = type(self.shell).__name__ == "ZMQInteractiveShell"
        # in a notebook a text line would stay in the saved outputs: a widget (closed after) or nothing
        return Progress(publish=self.shell.display_pub.publish if kernel and self.widgets else None, text=not kernel)

    def _parsed_gradient_line(self, line: str) -> argparse.Namespace:
        """The parsed line, kept for the next run of the same line (a re-run cell costs no parsing)."""
        cache = self.__dict__.setdefault("_gradient_lines", {})
        args = cache.get(line)
        if args is None:
            args = parse(self.gradient, line)
            if len(cache) > 256:
                cache.clear()
            cache[line] = args
        return argparse.Namespace(**vars(args))

    def _transformed(self, cell: str) -> str:
        """IPython's transformation of the cell (%magics, !shell...), kept per distinct cell."""
        cache = self.__dict__.setdefault("_transformed_cells", {})
        out = cache.get(cell)
        if out is None:
            out = self.shell.transform_cell(cell)
            if len(cache) > 256:
                cache.clear()
            cache[cell] = out
        return out

    @contextmanager
    def _silent_display(self) -> Iterator[None]:
        """IPython's display() does nothing while the check re-runs the cell."""
        pub = self.shell.display_pub
        publish = pub.publish
        pub.publish = lambda *a, **k: None
        try:
            yield
        finally:
            pub.publish = publish

    # -- %tensorinfo (issue: tensors) -------------------------------------------------------------
    # TENSORINFO-BEGIN
    @magic_arguments()
    @argument(
        "exprs",
        nargs="+",
        metavar="EXPR",
        help="tensors, arrays, numbers, nested lists or SymPy matrices, as expressions in your namespace "
        "(separate several with spaces; wrap an expression that has spaces in parentheses)",
    )
    @line_magic
    def tensorinfo(self, line: str):
        """Show what a tensor is: its shape in plain words, memory layout, autograd state and values.

        For each expression: the shape read aloud ("3 matrices of 4 rows × 5 columns"), dtype,
        device, memory and strides, whether it is a view, its autograd state (with the graph of
        a computed tensor), and statistics computed where it lives, in chunks, with no full-size
        copy: min, max, mean, std and counts of NaN, +inf, -inf and zeros, plus a small
        histogram (and a heat map for matrices). Several expressions are shown side by side.
        Returns a report (``r = %tensorinfo x`` keeps it; ``r.to_dict()`` gives plain data).

        Examples::

            %tensorinfo torch.ones(3, 4, 5)
            %tensorinfo x y.grad (x @ w)
        """
        from .tensors import tensorinfo as compute

        line, quiet = strip_semicolon(line)
        exprs = parse(self.tensorinfo, line).exprs
        if len(exprs) > 1 and not all(map(self._is_expression, exprs)) and self._is_expression(" ".join(exprs)):
            exprs = [" ".join(exprs)]  # one expression with spaces, e.g. x + 1
        objs = [self._eval(e) for e in exprs]
        with _as_usage_errors():
            report = compute(*objs, names=exprs, namespace=self.shell.user_ns)
        return self._finish(report, quiet)

    @staticmethod
    def _is_expression(text: str) -> bool:
        """True when ``text`` parses as one Python expression."""
        try:
            compile(text, "<magic argument>", "eval")
        except SyntaxError:
            return False
        return True

    # TENSORINFO-END

    # -- %alias_check / %%alias_check (issue: aliasing) -------------------------------------------
    # ALIAS-BEGIN
    @magic_arguments()
    @argument(
        "exprs",
        nargs="*",
        metavar="EXPR",
        help="line form: two or more tensors or arrays (expressions in your namespace); "
        "cell form: optional names of the variables to watch (default: every tensor and array)",
    )
    @argument(
        "--budget",
        type=_positive_int,
        metavar="BYTES",
        help="cell form: largest object fingerprinted before and after the cell, in bytes "
        "(default: the fingerprint_budget setting, 268435456 = 256 MiB)",
    )
    @line_cell_magic
    def alias_check(self, line: str, cell: str | None = None):
        """Say whether tensors and arrays share memory, and what a cell changed through shared memory.

        Line form, ``%alias_check A B [C ...]``: for every pair, whether they share memory and
        how (the same memory, one a view inside the other, partial overlap, the same storage but
        no shared element, or independent), the bytes they share, what it means and how to make
        a safe copy. Exact for strided views (``x[::2]`` and ``x[1::2]`` share no element) and
        instant at any size: only addresses and strides are compared, never the values.

        Cell form, ``%%alias_check``: runs the cell in your namespace as a normal cell, then
        lists the tensors and arrays that changed although the cell never wrote to them by name,
        and the shared memory they changed through (``y = x.numpy()``, then ``x.mul_(2)`` changes
        ``y``). Changes are found by fingerprints taken before and after; objects over the
        budget are only checked through torch's version counter.

        Examples::

            %alias_check x y z
            %%alias_check
            x.mul_(2)
        """
        from .aliasing import alias_check as compute
        from .aliasing import watch

        if cell is None:
            line, quiet = strip_semicolon(line)
        else:
            cell, quiet = strip_semicolon(cell)
        args = parse(self.alias_check, line)
        if cell is None:
            if args.budget is not None:
                raise UsageError("--budget applies to the cell form, %%alias_check, which fingerprints what a cell may change")
            if len(args.exprs) < 2:
                raise UsageError(
                    "%alias_check compares two or more tensors or arrays: give at least two, e.g. "
                    "%alias_check x y (or use %%alias_check on a cell to see what it changes)"
                )
            objs = [self._eval(e) for e in args.exprs]
            with _as_usage_errors():
                report = compute(*objs, names=args.exprs)
            return self._finish(report, quiet)
        for name in args.exprs:
            if not name.isidentifier() or keyword.iskeyword(name):
                raise UsageError(f"%%alias_check watches variables by name: {name!r} is not a variable name")
        budget = args.budget or self._settings().fingerprint_budget
        with _as_usage_errors():
            before = watch(self.shell.user_ns, budget, names=args.exprs or None)
        ran = self._alias_run_cell(cell, show_last=not quiet)
        if ran is None:
            return None
        source, error = ran
        with _as_usage_errors():
            report = before.changes(self.shell.user_ns, source=source, error=error)
        return self._finish(report, quiet)

    def _alias_run_cell(self, cell: str, show_last: bool = True) -> tuple[str, str | None] | None:
        """Run a cell in the user's namespace as ``%time`` does (transform, compile, exec),
        showing its last expression's value and its traceback as a normal cell would.
        Returns (transformed source, error text or None); None if the cell does not parse."""
        import ast

        from IPython.display import display

        source = self.shell.transform_cell(cell)
        try:
            tree = self.shell.transform_ast(self.shell.compile.ast_parse(source))
        except (SyntaxError, OverflowError, ValueError):
            self.shell.showsyntaxerror()
            return None
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        filename = self.shell.compile.cache(source, self.shell.execution_count, raw_code=cell)
        error = None
        try:
            exec(self.shell.compile(tree, filename, "exec"), self.shell.user_ns)
            if last is not None:
                value = eval(self.shell.compile(last, filename, "eval"), self.shell.user_ns)
                if value is not None and show_last:
                    display(value)
        except BaseException as e:  # noqa: BLE001 - shown to the user as a normal cell would, then reported
            if isinstance(e, SystemExit):
                raise
            tb = e.__traceback__
            # start the traceback at the user's cell, not at this method
            self.shell.showtraceback((type(e), e, tb.tb_next if tb is not None and tb.tb_next is not None else tb), tb_offset=0)
            error = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        return source, error

    # ALIAS-END

    # -- %device (issue: devices) ----------------------------------------------------------------
    # DEVICE-BEGIN
    @magic_arguments()
    @argument(
        "words",
        nargs="*",
        metavar="NAME",
        help="a device to make the default for new tensors: cpu, cuda, cuda:1, mps or auto (the best here); "
        "with --move, the variables to move and then the device",
    )
    @argument(
        "--move",
        action="store_true",
        help="move the named variables (tensors or torch modules) to the device given last, e.g. %%device --move x y cuda",
    )
    @line_magic
    def device(self, line: str):
        """See the devices torch can use, choose where new tensors go, or move variables.

        ``%device`` alone reports every device (CPU cores and RAM, each GPU's name, compute
        capability and memory), torch's build, the default device and what ``auto`` would choose.
        ``%device NAME`` makes NAME the default device for new tensors (tensors that exist stay
        where they are). ``%device --move x y NAME`` moves those variables and reports sizes and
        times; a leaf that requires grad stays one and its ``.grad`` moves along. A device that is
        not here gets a message listing those that are, and nothing changes.

        Examples::

            %device
            %device cuda
            %device --move x w cuda:0
        """
        from .device import devices, is_device_name, move, set_default_device

        line, quiet = strip_semicolon(line)
        args = parse(self.device, line)
        words = args.words
        if args.move:
            if not words:
                raise UsageError("name the variables and then the device, e.g. %device --move x y cuda")
            if not is_device_name(words[-1]):
                raise UsageError(f"the last word must be the device to move to, e.g. %device --move x y cuda; {words[-1]!r} is not a device name")
            if len(words) < 2:
                raise UsageError(f"name the variables to move to {words[-1]}, e.g. %device --move x y {words[-1]}")
        elif len(words) > 1:
            raise UsageError(f"give one device, e.g. %device cuda; to move variables, add --move: %device --move {' '.join(words)}")
        with _as_usage_errors():
            if args.move:
                report = move(self.shell.user_ns, words[:-1], words[-1])
            elif words:
                report = set_default_device(words[0])
            else:
                report = devices()
        return self._finish(report, quiet)
    # DEVICE-END
