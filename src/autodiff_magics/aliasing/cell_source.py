"""What a cell's source does with each name: written into, rebound, passed to a call."""

from __future__ import annotations

import ast
import types
from collections.abc import Mapping
from typing import Any


_NUMPY_WRITERS = frozenset({"fill", "sort", "put", "resize", "partition", "itemset", "setfield", "copyto", "place", "putmask", "fill_diagonal", "shuffle"})


def _base_name(node: ast.AST) -> str | None:
    """The variable at the root of ``x``, ``x[0]``, ``x.data[1:]``, ``x.T.contiguous()``."""
    while True:
        if isinstance(node, ast.Name):
            return node.id
        if isinstance(node, (ast.Subscript, ast.Attribute, ast.Starred)):
            node = node.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            node = node.func.value
        else:
            return None


def _writes(call: ast.Call, modules: set[str]) -> list[ast.AST]:
    """Expressions a call writes into: the receiver of ``x.mul_()`` or ``a.fill()``, the first
    argument of ``nn.init.normal_(w)`` or ``np.copyto(a, b)`` (a function of a module), and
    any ``out=``."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    inplace = name.endswith("_") and not name.startswith("__") or name in _NUMPY_WRITERS
    out: list[ast.AST] = [kw.value for kw in call.keywords if kw.arg == "out"]
    if inplace:
        if isinstance(func, ast.Attribute) and _base_name(func.value) not in modules:
            out.append(func.value)  # a method: x.mul_(2), a.sort()
        elif call.args:
            out.append(call.args[0])  # a function: torch.nn.init.normal_(w), np.copyto(a, b)
    return out


def _cell_names(source: str, namespace: Mapping[str, Any] | None = None) -> tuple[set[str], set[str], set[str]]:
    """What the cell does with each name: (written into, rebound or deleted, passed to a call).

    Written: ``x[0] = 1``, ``x += 1``, ``x.mul_(2)``, ``a.fill(0)``, ``normal_(w)``, ``out=x``;
    rebound: ``x = ...``, ``del x``; passed: ``f(x)`` (a function may change what it gets).
    Names bound to modules (in ``namespace`` or imported by the cell) tell a function call
    (``np.copyto(a, b)``) from a method call (``x.copy_(y)``)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set(), set(), set()
    modules = {"np", "numpy", "torch", "F", "nn", "init", "math"}
    modules |= {k for k, v in (namespace or {}).items() if isinstance(v, types.ModuleType)}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules |= {(a.asname or a.name).split(".")[0] for a in node.names}
    written, rebound, passed = set(), set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            rebound.add(node.id)
        elif isinstance(node, (ast.Subscript, ast.Attribute)) and isinstance(node.ctx, (ast.Store, ast.Del)):
            if (base := _base_name(node.value)) is not None:
                written.add(base)
        elif isinstance(node, ast.AugAssign):
            if (base := _base_name(node.target)) is not None:
                written.add(base)  # x += 1 writes in place for tensors and arrays
        elif isinstance(node, ast.Call):
            for target in _writes(node, modules):
                if (base := _base_name(target)) is not None:
                    written.add(base)
            for arg in [*node.args, *(kw.value for kw in node.keywords)]:
                if (base := _base_name(arg)) is not None:
                    passed.add(base)
    return written, rebound, passed


def _call_text(node: ast.AST, limit: int = 60) -> str:
    text = ast.unparse(node)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cell_calls(source: str) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """The calls a cell makes, by name: (name → calls it is passed to, ``{"m": ["bump(m)"]}``;
    name → calls of its methods, ``{"opt": ["opt.step()"]}``), in source order."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}, {}
    passed_to: dict[str, list[str]] = {}
    methods: dict[str, list[str]] = {}
    calls = sorted((n for n in ast.walk(tree) if isinstance(n, ast.Call)), key=lambda n: (n.lineno, n.col_offset))
    for call in calls:
        text = _call_text(call)
        for arg in [*call.args, *(kw.value for kw in call.keywords)]:
            if (base := _base_name(arg)) is not None and text not in passed_to.setdefault(base, []):
                passed_to[base].append(text)
        if isinstance(call.func, ast.Attribute) and isinstance(call.func.value, ast.Name):
            methods.setdefault(call.func.value.id, []).append(text)
    return passed_to, methods
