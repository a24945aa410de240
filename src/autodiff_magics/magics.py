"""The IPython edge: parse each magic's line, evaluate expressions in the user's namespace, call
the core and return its report. Settings are traitlets here, so ``%config AutodiffMagics`` lists
them and ``%config AutodiffMagics.widgets = False`` changes them.

Nothing heavy is imported at module level: loading the extension must cost nothing.
"""

from __future__ import annotations

import argparse
import keyword
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments
from traitlets import Bool, Int

from .errors import InputError
from .settings import Settings, from_object

__all__ = ["AutodiffMagics", "split_line"]

_DEFAULTS = Settings()


def split_line(line: str) -> list[str]:
    """Split a magic's line at spaces that are outside brackets and quotes.

    ``x=[1., 2., 3.] --step 1e-4`` gives ``['x=[1., 2., 3.]', '--step', '1e-4']``; quotes that
    wrap a whole word are removed, as a shell would.
    """
    words: list[str] = []
    current: list[str] = []
    depth = 0
    quote = ""
    i = 0
    while i < len(line):
        ch = line[i]
        if quote:
            current.append(ch)
            if ch == "\\" and i + 1 < len(line):
                current.append(line[i + 1])
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
            current.append(ch)
        elif ch in "([{":
            depth += 1
            current.append(ch)
        elif ch in ")]}":
            depth = max(0, depth - 1)
            current.append(ch)
        elif ch.isspace() and depth == 0:
            if current:
                words.append("".join(current))
                current = []
        else:
            current.append(ch)
        i += 1
    if quote or depth:
        raise UsageError(f"unbalanced {'quote' if quote else 'bracket'} in: {line.strip()}")
    if current:
        words.append("".join(current))
    return [_unquote(w) for w in _join_assignments(words)]


def _join_assignments(words: list[str]) -> list[str]:
    """Glue ``x = [1, 2]`` (spaces around the equals sign) back into ``x=[1, 2]``."""
    out: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word == "=" and out and i + 1 < len(words):
            out[-1] = f"{out[-1]}={words[i + 1]}"
            i += 2
            continue
        if word.endswith("=") and not word.startswith("-") and i + 1 < len(words) and word[:-1].isidentifier():
            out.append(word + words[i + 1])
            i += 2
            continue
        if word.startswith("=") and not word.startswith("==") and out and out[-1].isidentifier():
            out[-1] = out[-1] + word
            i += 1
            continue
        out.append(word)
        i += 1
    return out


def _unquote(word: str) -> str:
    if len(word) >= 2 and word[0] == word[-1] and word[0] in "'\"":
        return word[1:-1]
    return word


def parse(magic_func: Callable, line: str) -> argparse.Namespace:
    """Parse a magic's line with the parser that ``@magic_arguments`` built for it.

    ``--step -1e-3`` is passed as ``--step=-1e-3``: argparse would take ``-1e-3`` for an option
    and say "expected one argument" instead of the real complaint (a negative step)."""
    parser = magic_func.parser
    words = split_line(line)
    joined: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        action = parser._option_string_actions.get(word)
        if action is not None and action.nargs is None and i + 1 < len(words) and _is_negative_number(words[i + 1]):
            joined.append(f"{word}={words[i + 1]}")
            i += 2
            continue
        joined.append(word)
        i += 1
    return parser.parse_intermixed_args(joined)


def _is_negative_number(word: str) -> bool:
    if not word.startswith("-"):
        return False
    try:
        float(word)
    except ValueError:
        return False
    return True


# -- argparse types: each rejects bad input with one sentence -------------------------------------


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text}")
    return value


def _nonnegative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be zero or a positive finite number, got {text}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {text}")
    return value


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if not n.isidentifier() or keyword.iskeyword(n)]
    if not names or bad:
        raise argparse.ArgumentTypeError(f"expected comma-separated variable names, got {text!r}")
    return names


def _methods(text: str) -> list[str]:
    from .differentiation import METHODS

    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in METHODS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown method {', '.join(map(repr, unknown)) or repr(text)}; choose from {', '.join(METHODS)}"
        )
    return names


@contextmanager
def _as_usage_errors() -> Iterator[None]:
    """Turn the core's one-sentence errors into IPython's UsageError (no traceback)."""
    try:
        yield
    except InputError as e:
        raise UsageError(str(e)) from None


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
    fingerprint_budget = Int(_DEFAULTS.fingerprint_budget, help="%%alias_check: largest object (bytes) it fingerprints.").tag(config=True)

    # -- helpers ---------------------------------------------------------------------------------

    def _eval(self, expr: str, what: str = "") -> Any:
        """Evaluate one expression in the user's namespace; failures become one sentence."""
        try:
            return eval(compile(expr, "<magic argument>", "eval"), self.shell.user_ns)
        except SyntaxError as e:
            raise UsageError(f"{what or 'expression'} {expr!r} is not valid Python: {e.msg}") from None
        except Exception as e:
            raise UsageError(f"could not evaluate {expr!r}: {type(e).__name__}: {e}") from None

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
        from .differentiation import gradient as compute

        args = parse(self.gradient, line)
        points: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for item in args.assignments:
            name, sep, expr = item.partition("=")
            name = name.strip()
            if not sep or not expr.strip():
                raise UsageError(f"expected NAME=EXPR, got {item!r} (e.g. x=[1., 2., 3.])")
            if not name.isidentifier() or keyword.iskeyword(name):
                raise UsageError(f"{name!r} is not a valid variable name (in {item!r})")
            if name in points:
                raise UsageError(f"variable {name!r} is given twice")
            points[name] = self._eval(expr, f"the point of {name},")
            sources[name] = expr.strip()
        for name in args.wrt or []:
            if name in points:
                raise UsageError(f"variable {name!r} is given both as {name}=... and in --wrt")
            if name not in self.shell.user_ns:
                raise UsageError(f"--wrt: no variable named {name!r} in your namespace")
            points[name] = self.shell.user_ns[name]
            sources[name] = name
        if not points:
            raise UsageError("no variable to differentiate with respect to: give NAME=EXPR (e.g. %%gradient x=3.5) or --wrt NAME")
        settings = self._settings()
        with _as_usage_errors():
            return compute(
                self.shell.transform_cell(cell) if cell.strip() else cell,
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
            )

    def _settings(self) -> Settings:
        return from_object(self)

    # -- %tensorinfo (issue: tensors) -------------------------------------------------------------
    # TENSORINFO-BEGIN
    # TENSORINFO-END

    # -- %alias_check / %%alias_check (issue: aliasing) -------------------------------------------
    # ALIAS-BEGIN
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
        from .devices import devices, is_device_name, move, set_default_device

        args = parse(self.device, line)
        words = args.words
        with _as_usage_errors():
            if args.move:
                if not words:
                    raise UsageError("name the variables and then the device, e.g. %device --move x y cuda")
                if not is_device_name(words[-1]):
                    raise UsageError(f"the last word must be the device to move to, e.g. %device --move x y cuda; {words[-1]!r} is not a device name")
                if len(words) < 2:
                    raise UsageError(f"name the variables to move to {words[-1]}, e.g. %device --move x y {words[-1]}")
                return move(self.shell.user_ns, words[:-1], words[-1])
            if not words:
                return devices()
            if len(words) > 1:
                raise UsageError(f"give one device, e.g. %device cuda; to move variables, add --move: %device --move {' '.join(words)}")
            return set_default_device(words[0])
    # DEVICE-END
