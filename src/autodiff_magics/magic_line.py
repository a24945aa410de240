"""The magics' lines: splitting them (brackets and quotes kept whole), parsing them with
``magic_arguments``, the argparse types that reject bad input with one sentence, and small checks
the magics share (a trailing ``;``, a name path, a trailing comma)."""

from __future__ import annotations

import argparse
import functools
import keyword
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from IPython.core.error import UsageError

from .errors import InputError

__all__ = ["parse", "split_line", "strip_semicolon"]


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
    if parser.usage is None:
        # parse_intermixed_args formats the usage text on every call unless it is set
        parser.usage = parser.format_usage().removeprefix("usage: ").strip()
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


def _number_type(convert: Callable[[str], Any], what: str, ok: Callable[[Any], bool], wanted: str) -> Callable[[str], Any]:
    """An argparse type: ``convert`` the text, or say it is not ``what``; refuse values not ``ok``."""

    def parse_number(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"must be {wanted}, got {text}")
        return value

    return parse_number


_positive_float = _number_type(float, "a number", lambda v: 0 < v < float("inf"), "a positive finite number")
_nonnegative_float = _number_type(float, "a number", lambda v: 0 <= v < float("inf"), "zero or a positive finite number")
_positive_int = _number_type(int, "a whole number", lambda v: v > 0, "a positive whole number")


def _names(text: str) -> list[str]:
    """Comma-separated variables: names, or paths into them (``model.fc.weight``, ``model[0].weight``)."""
    if text.rstrip().endswith(","):
        raise argparse.ArgumentTypeError(
            f"{text!r} ends with a comma: did you mean --wrt {text.rstrip().rstrip(',')},NAME with no space after the comma?"
        )
    names = [n.strip() for n in _split_commas(text) if n.strip()]
    bad = [n for n in names if not _is_path(n)]
    if not names or bad:
        raise argparse.ArgumentTypeError(f"expected comma-separated variable names (or paths such as model.fc.weight), got {text!r}")
    return names


def _split_commas(text: str) -> list[str]:
    parts, depth, current = [], 0, []
    for ch in text:
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def python_path(text: str) -> str:
    """A path as ``named_parameters()`` writes it (``model.0.weight``, ``layers.3.attn``) in
    Python: each numeric step an index (``model[0].weight``); other paths are left as they are."""
    return re.sub(r"\.\s*(\d+)(?=\s*(?:[.\[]|$))", r"[\1]", text.strip())


def _is_path(text: str) -> bool:
    """A name, optionally followed by .attribute and [constant index] steps (a numeric .step, as
    ``named_parameters()`` names submodules, counts as an index)."""
    import ast

    try:
        node = ast.parse(python_path(text), mode="eval").body
    except SyntaxError:
        return False
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        if isinstance(node, ast.Subscript):
            index = node.slice
            if not (isinstance(index, ast.Constant) or isinstance(index, ast.UnaryOp) and isinstance(index.operand, ast.Constant)):
                return False
        node = node.value
    return isinstance(node, ast.Name) and not keyword.iskeyword(node.id)


def _methods(text: str) -> list[str]:
    from .gradient import METHODS

    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in METHODS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown method {', '.join(map(repr, unknown)) or repr(text)}; choose from {', '.join(METHODS)}"
        )
    return names


def strip_semicolon(text: str) -> tuple[str, bool]:
    """``text`` without a trailing ``;`` (outside strings and comments), and whether it had one.

    IPython hides an output when the input ends with ``;``; for a magic the ``;`` ends up in the
    magic's line or cell, so the magic honours it itself."""
    stripped = text.rstrip()
    if not stripped.endswith(";"):
        return text, False
    import io
    import tokenize

    try:
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(stripped + "\n").readline)
                  if t.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.ENDMARKER, tokenize.COMMENT)]
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return text, False
    if tokens and tokens[-1].type == tokenize.OP and tokens[-1].string == ";":
        return stripped[:-1], True
    return text, False


@contextmanager
def _as_usage_errors() -> Iterator[None]:
    """Turn the core's one-sentence errors into IPython's UsageError (no traceback)."""
    try:
        yield
    except InputError as e:
        raise UsageError(str(e)) from None


@functools.lru_cache(maxsize=256)
def _compiled(expr: str) -> Any:
    return compile(expr, "<magic argument>", "eval")


def _ends_with_comma(expr: str) -> bool:
    """``1,`` (a tuple by accident), not ``(1,)`` or ``[1, 2]``."""
    text = expr.strip()
    return text.endswith(",") and not text.startswith(("(", "["))
