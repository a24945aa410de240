"""A ``%%gradient`` cell compiled once into a function of its variables.

The cell's statements run in a private copy of the user's namespace (so its assignments never
leak), with the generic math names of :mod:`.functions` in reach; the value of its last
expression is f. Errors name the user's line, not ours.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import linecache
import traceback
from collections.abc import Mapping
from types import CodeType
from typing import Any

from .errors import InputError
from .functions import NAMES

__all__ = ["CellFunction", "CellError", "cell_line"]

_MISSING = object()
_LIBRARY_MODULES = ("math", "numpy", "torch", "sympy", "cmath", "builtins")


class CellError(Exception):
    """The cell raised while being evaluated; ``str()`` names the user's line."""

    def __init__(self, message: str, original: BaseException) -> None:
        super().__init__(message)
        self.original = original


class CellFunction:
    """The cell's source compiled once; calling it with variables returns the last expression.

        >>> f = CellFunction("y = 2*x\\ny + 1", {})
        >>> f({"x": 3})
        7
    """

    def __init__(self, source: str | Any, namespace: Mapping[str, Any] | None = None) -> None:
        self.callable = source if callable(source) else None
        if self.callable is not None:
            self.source = getattr(source, "__name__", "f")
            self.lines = []
            return
        self.source = source
        self.lines = source.splitlines()
        self.filename, self._body, self._last = _compile(source)
        # Let tracebacks and inspect find the cell's lines, as IPython does for its cells.
        linecache.cache[self.filename] = (len(source), None, [ln + "\n" for ln in self.lines], self.filename)
        self._globals = dict(namespace or {})
        for name, fn in NAMES.items():
            if name not in self._globals or _is_library_function(self._globals[name]):
                self._globals[name] = fn

    def __call__(self, variables: Mapping[str, Any]) -> Any:
        """Run the cell with these variables; raise :class:`CellError` naming the user's line."""
        if self.callable is not None:
            try:
                return self.callable(**variables)
            except Exception as e:
                raise CellError(f"f raised {type(e).__name__}: {e}", e) from e
        scope = self._globals.copy()
        scope.update(variables)
        try:
            if self._body is not None:
                exec(self._body, scope)
            return eval(self._last, scope)
        except Exception as e:
            raise CellError(self.describe(e), e) from e

    def pure_over(self, variables: Mapping[str, Any]) -> bool:
        """Whether the cell can reach nothing but these variables, numbers and the generic math
        names (see :mod:`.purity`): no namespace object, generator, output or in-place write."""
        if self.callable is not None:
            return False
        from .purity import analyse

        found = analyse(self.source)
        if not found.pure:
            return False
        import sys

        torch = sys.modules.get("torch")
        for name in found.free:
            if name in variables:
                continue
            held = self._globals.get(name, _MISSING)
            if name in found.modules and torch is not None and held is torch:
                continue
            if name in NAMES and held is NAMES[name]:
                continue
            return False
        return True

    def narrow(self) -> None:
        """For a pure cell (see :meth:`pure_over`): keep only the names it reads of the namespace
        copy, so that each run copies a few names instead of the whole namespace."""
        from .purity import analyse

        free = analyse(self.source).free
        self._globals = {name: value for name, value in self._globals.items() if name in free}

    def describe(self, error: BaseException) -> str:
        """One sentence: which line of the cell raised what."""
        line_no = None
        for frame, lineno in traceback.walk_tb(error.__traceback__):
            if frame.f_code.co_filename == getattr(self, "filename", None):
                line_no = lineno
        message = f"{type(error).__name__}: {error}".rstrip(": ") + _hint(error)
        if line_no is None or not self.lines:
            return f"the cell raised {message}"
        text = self.lines[line_no - 1].strip() if 0 < line_no <= len(self.lines) else ""
        return f"line {line_no} of the cell ({text!r}) raised {message}"


def cell_line(filename: str | None, depth: int = 2) -> int | None:
    """The line of the cell being run, found on the call stack (None outside the cell)."""
    import sys

    frame = sys._getframe(depth)
    while frame is not None:
        if frame.f_code.co_filename == filename:
            return frame.f_lineno
        frame = frame.f_back
    return None


def _hint(error: BaseException) -> str:
    """"Did you mean" for a name that torch has: ``mean(x)`` without ``torch.``."""
    name = getattr(error, "name", None)
    if not isinstance(error, NameError) or not name:
        return ""
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and callable(getattr(torch, name, None)):
        return f" (did you mean torch.{name}?)"
    return ""


@functools.lru_cache(maxsize=256)
def _compile(source: str) -> tuple[str, CodeType | None, CodeType]:
    """The cell's statements and last expression, compiled once per distinct source."""
    filename = f"<%%gradient cell {hashlib.sha1(source.encode()).hexdigest()[:8]}>"
    if not source.strip():
        raise InputError("the cell is empty: write f on its last line, e.g. 3*x[0]**2 + x[1]")
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as e:
        line = (e.text or "").rstrip("\n")
        where = f" on line {e.lineno}" if e.lineno else ""
        raise InputError(f"syntax error{where}: {line.strip()!r} ({e.msg})") from None
    if not tree.body:
        raise InputError("the cell has no statements: write f on its last line, e.g. 3*x[0]**2 + x[1]")
    last = tree.body[-1]
    if not isinstance(last, ast.Expr):
        kind = type(last).__name__.lower()
        raise InputError(
            f"the cell's last line must be an expression whose value is f, but it is a {kind} "
            f"statement (line {last.lineno}); put f on its own last line"
        )
    body = ast.Module(body=tree.body[:-1], type_ignores=[])
    body_code = compile(body, filename, "exec") if body.body else None
    return filename, body_code, compile(ast.Expression(body=last.value), filename, "eval")


def _is_library_function(obj: Any) -> bool:
    """True for math.sin, np.sin, torch.sin, sympy.sin...: those our generic names replace."""
    module = getattr(obj, "__module__", None) or type(obj).__module__ or ""
    if type(obj).__name__ == "ufunc":
        return True
    return module.split(".")[0] in _LIBRARY_MODULES and callable(obj)

