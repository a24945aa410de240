"""Reverse-mode differentiation of a SymPy expression: every partial derivative in one sweep.

``sympy.diff`` walks f once per variable (25 variables of a 5×5 ``var`` took 5 s); here each node
of f's shared graph passes its adjoint to its arguments once, parents before children, so the cost
is one pass over the graph whatever the number of variables. The partials are SymPy's own
(``Function.fdiff``), so the results are the same expressions, canonicalised by ``Add``/``Mul``.
"""

from __future__ import annotations

from collections.abc import Iterable

import sympy

__all__ = ["gradient"]


def _topological(expr: sympy.Basic) -> list[sympy.Basic]:
    """f's distinct sub-expressions, each before every one of its arguments (no recursion)."""
    order: list[sympy.Basic] = []
    seen: set[sympy.Basic] = set()
    stack: list[tuple[sympy.Basic, bool]] = [(expr, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if node in seen:
            continue
        seen.add(node)
        stack.append((node, True))
        if _walked(node):
            stack.extend((a, False) for a in node.args if a not in seen and not a.is_Number)
    order.reverse()
    return order


def gradient(expr: sympy.Expr, symbols: Iterable[sympy.Symbol]) -> dict[sympy.Symbol, sympy.Expr]:
    """∂expr/∂s for every s in symbols."""
    wanted = set(symbols)
    parts: dict[sympy.Basic, list[sympy.Expr]] = {expr: [sympy.Integer(1)]}
    for node in _topological(expr):
        terms = parts.pop(node, None)
        if not terms:
            continue
        adj = sympy.Add(*terms)
        if node.is_Symbol:
            parts[node] = [adj]
            continue
        if adj == 0 or not node.free_symbols & wanted:
            continue
        for arg, partial in _partials(node, wanted):
            parts.setdefault(arg, []).append(adj * partial)
    return {s: sympy.Add(*parts.get(s, [])) for s in wanted}


def _partials(node: sympy.Basic, wanted: set[sympy.Symbol]) -> list[tuple[sympy.Basic, sympy.Expr]]:
    args = node.args
    live = [k for k, a in enumerate(args) if a.free_symbols & wanted]
    if node.is_Add:
        return [(args[k], sympy.Integer(1)) for k in live]
    if node.is_Mul:
        return [(args[k], sympy.Mul(*(args[:k] + args[k + 1:]))) for k in live]
    if node.is_Pow:
        base, exp = args
        out = []
        if base.free_symbols & wanted:
            out.append((base, exp * base ** (exp - 1)))
        if exp.free_symbols & wanted:
            out.append((exp, node * sympy.log(base)))
        return out
    if _walked(node):
        try:
            return [(args[k], node.fdiff(k + 1)) for k in live]
        except (sympy.core.function.ArgumentIndexError, TypeError, NotImplementedError):
            pass
    # anything else (Piecewise, ...): SymPy's own derivative of the node, by each variable in it
    return [(s, sympy.diff(node, s)) for s in node.free_symbols & wanted]


def _walked(node: sympy.Basic) -> bool:
    """Nodes whose partials are their arguments' (Add, Mul, Pow, functions of expressions)."""
    if node.is_Add or node.is_Mul or node.is_Pow:
        return True
    return isinstance(node, sympy.Function) and not isinstance(node, sympy.Piecewise) and all(isinstance(a, sympy.Expr) for a in node.args)


def substitute(expr: sympy.Basic, mapping: dict[sympy.Basic, sympy.Basic], memo: dict[sympy.Basic, sympy.Basic]) -> sympy.Basic:
    """expr with the mapping applied, each distinct sub-expression once (``xreplace`` walks a
    shared graph as a tree: 10 s for the 25 derivatives of one 5×5 variance). ``memo`` may be
    shared between calls, so the derivatives' common pieces are evaluated once."""
    stack: list[tuple[sympy.Basic, bool]] = [(expr, False)]
    while stack:
        node, ready = stack.pop()
        if node in memo:
            continue
        if node in mapping:
            memo[node] = mapping[node]
            continue
        if not node.args or node.is_Number:
            memo[node] = node
            continue
        if ready:
            args = [memo[a] for a in node.args]
            memo[node] = node.func(*args) if any(n is not o for n, o in zip(args, node.args)) else node
            continue
        stack.append((node, True))
        stack.extend((a, False) for a in node.args if a not in memo)
    return memo[expr]
