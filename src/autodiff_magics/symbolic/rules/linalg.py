"""Linear algebra: products (mm, bmm, mv, dot, addmm, ...) and small exact matrix functions."""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy as S

from . import Call, Unavailable, apply, as_objects, register
from ..exact import SymbolicUnsupported, number


def matmul(a: Any, b: Any) -> np.ndarray:
    """a @ b for object arrays of 1-3 dims (sums built once, not pairwise)."""
    a, b = as_objects(a), as_objects(b)
    if a.ndim == 1 and b.ndim == 1:
        return _scalar(S.Add(*[p * q for p, q in zip(a, b)]))
    if a.ndim == 1:
        return matmul(a[None, :], b)[..., 0, :] if b.ndim > 1 else None
    if b.ndim == 1:
        return matmul(a, b[:, None])[..., 0]
    if a.ndim == 3 or b.ndim == 3:
        a3 = a if a.ndim == 3 else np.broadcast_to(a, (b.shape[0], *a.shape))
        b3 = b if b.ndim == 3 else np.broadcast_to(b, (a.shape[0], *b.shape))
        return np.stack([matmul(x, y) for x, y in zip(a3, b3)]) if len(a3) else np.empty((0, a.shape[-2], b.shape[-1]), dtype=object)
    out = np.empty((a.shape[0], b.shape[1]), dtype=object)
    for i in range(a.shape[0]):
        for j in range(b.shape[1]):
            out[i, j] = S.Add(*[a[i, k] * b[k, j] for k in range(a.shape[1])])
    return out


def _scalar(v: Any) -> np.ndarray:
    out = np.empty((), dtype=object)
    out[()] = v
    return out


def _spend_product(call: Call, a: np.ndarray, b: np.ndarray) -> None:
    call.spend(max(np.size(a), 1) * (b.shape[-1] if np.ndim(b) > 1 else 1))


@register("mm", "bmm", "mv", "dot", "vdot", "matmul")
def _mm(call: Call) -> np.ndarray:
    second = next(n for n in ("mat2", "vec", "other", "tensor") if n in call.args)
    a, b = call["self"], call[second]
    _spend_product(call, a, b)
    return matmul(a, b)


def _scaled(call: Call, product: np.ndarray) -> np.ndarray:
    beta, alpha = number(call.get("beta", 1)), number(call.get("alpha", 1))
    self = call["self"]
    if beta == 0:
        return apply(lambda p: alpha * p, product)
    return apply(lambda s, p: beta * s + alpha * p, self, product)


@register("addmm")
def _addmm(call: Call) -> np.ndarray:
    return _scaled(call, matmul(call["mat1"], call["mat2"]))


@register("addmv")
def _addmv(call: Call) -> np.ndarray:
    return _scaled(call, matmul(call["mat"], call["vec"]))


@register("addr")
def _addr(call: Call) -> np.ndarray:
    return _scaled(call, np.multiply.outer(as_objects(call["vec1"]), as_objects(call["vec2"])))


@register("baddbmm")
def _baddbmm(call: Call) -> np.ndarray:
    return _scaled(call, matmul(call["batch1"], call["batch2"]))


@register("addbmm")
def _addbmm(call: Call) -> np.ndarray:
    product = matmul(call["batch1"], call["batch2"])
    return _scaled(call, np.sum(product, axis=0) if product.shape[0] else product[0])


@register("outer", "ger")
def _outer(call: Call) -> np.ndarray:
    return np.multiply.outer(as_objects(call["self"]), as_objects(call["vec2"]))


#: largest square matrix whose determinant or inverse is written out exactly
MATRIX_LIMIT = 4


def _matrices(x: np.ndarray) -> tuple[tuple[int, ...], list[S.Matrix]]:
    x = as_objects(x)
    if x.ndim < 2 or x.shape[-1] != x.shape[-2] or x.shape[-1] > MATRIX_LIMIT:
        raise SymbolicUnsupported(f"exact determinants and inverses are written out for matrices up to {MATRIX_LIMIT}×{MATRIX_LIMIT} only")
    lead = x.shape[:-2]
    return lead, [S.Matrix(x[idx].tolist()) for idx in np.ndindex(*lead)]


@register("_linalg_det")
def _det(call: Call) -> tuple[Any, ...]:
    lead, mats = _matrices(call["A"])
    out = np.empty(lead, dtype=object)
    for idx, m in zip(np.ndindex(*lead), mats):
        out[idx] = m.det(method="berkowitz")
    return (out, None, None)


@register("linalg_inv_ex")
def _inv(call: Call) -> tuple[Any, ...]:
    lead, mats = _matrices(call["A"])
    n = call["A"].shape[-1]
    out = np.empty((*lead, n, n), dtype=object)
    for idx, m in zip(np.ndindex(*lead), mats):
        out[idx] = np.array(m.adjugate() / m.det(method="berkowitz"), dtype=object).reshape(n, n)
    return (out, None)


@register("_linalg_slogdet")
def _slogdet(call: Call) -> tuple[Any, ...]:
    lead, mats = _matrices(call["A"])
    logabs = np.empty(lead, dtype=object)
    for idx, m in zip(np.ndindex(*lead), mats):
        logabs[idx] = S.log(S.Abs(m.det(method="berkowitz")))  # the sign is piecewise constant: its copy
    return (None, logabs, None, None) if len(call.replay.current_outputs) == 4 else (None, logabs)


@register("trace")
def _trace(call: Call) -> np.ndarray:
    return _scalar(S.Add(*np.diagonal(as_objects(call["self"]))))


def _objects_of(m: S.Matrix) -> np.ndarray:
    return np.array(m.tolist(), dtype=object).reshape(m.shape)


def _batched(a: np.ndarray, b: np.ndarray, fn: Any) -> np.ndarray:
    """fn(A, B) over the leading (batch) dimensions of a and b, broadcast."""
    lead = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a = np.broadcast_to(a, (*lead, *a.shape[-2:]))
    b = np.broadcast_to(b, (*lead, *b.shape[-2:]))
    results = [_objects_of(fn(S.Matrix(a[i].tolist()), S.Matrix(b[i].tolist()))) for i in np.ndindex(*lead)]
    if not results:
        raise SymbolicUnsupported("an empty batch of matrices has no symbolic form")
    return np.stack(results).reshape(*lead, *results[0].shape)


def _solve(A: S.Matrix, B: S.Matrix) -> S.Matrix:
    return A.adjugate() * B / A.det(method="berkowitz")


@register("_linalg_solve_ex")
def _linalg_solve(call: Call) -> tuple[Any, ...]:
    A, B = as_objects(call["A"]), as_objects(call["B"])
    _matrices(A)
    vector = B.ndim == A.ndim - 1
    if vector:
        B = B[..., None]
    if call["left"]:
        x = _batched(A, B, _solve)
    else:  # X A = B  <=>  A^T X^T = B^T
        x = np.swapaxes(_batched(np.swapaxes(A, -1, -2), np.swapaxes(B, -1, -2), _solve), -1, -2)
    return (x[..., 0] if vector else x, None, None, None)


def _triangular(A: S.Matrix, B: S.Matrix, upper: bool, unit: bool) -> S.Matrix:
    n = A.shape[0]
    T = S.Matrix(n, n, lambda i, j: (A[i, j] if (j >= i if upper else j <= i) else 0))
    if unit:
        for i in range(n):
            T[i, i] = 1
    return T.upper_triangular_solve(B) if upper else T.lower_triangular_solve(B)


@register("linalg_solve_triangular")
def _solve_triangular(call: Call) -> np.ndarray:
    A, B = as_objects(call["self"]), as_objects(call["B"])
    upper, unit = bool(call["upper"]), bool(call["unitriangular"])
    if call["left"]:
        return _batched(A, B, lambda a, b: _triangular(a, b, upper, unit))
    At, Bt = np.swapaxes(A, -1, -2), np.swapaxes(B, -1, -2)
    return np.swapaxes(_batched(At, Bt, lambda a, b: _triangular(a, b, not upper, unit)), -1, -2)


@register("triangular_solve")
def _triangular_solve(call: Call) -> tuple[Any, ...]:
    B, A = as_objects(call["self"]), as_objects(call["A"])
    upper, unit = bool(call["upper"]), bool(call["unitriangular"])
    coefficients = A.copy()  # the second output is a copy of A
    if call["transpose"]:
        A, upper = np.swapaxes(A, -1, -2), not upper
    return (_batched(A, B, lambda a, b: _triangular(a, b, upper, unit)), coefficients)


def _cholesky(A: S.Matrix, upper: bool) -> S.Matrix:
    n = A.shape[0]
    L = S.zeros(n, n)
    for j in range(n):
        L[j, j] = S.sqrt(A[j, j] - S.Add(*[L[j, k] ** 2 for k in range(j)]))
        for i in range(j + 1, n):
            L[i, j] = (A[i, j] - S.Add(*[L[i, k] * L[j, k] for k in range(j)])) / L[j, j]
    return L.T if upper else L


@register("linalg_cholesky_ex", "cholesky")
def _cholesky_rule(call: Call) -> Any:
    A = as_objects(call["self"])
    _matrices(A)
    upper = bool(call.get("upper", False))
    L = _batched(A, A, lambda a, _: _cholesky(a, upper))
    return (L, None) if "check_errors" in call.args else L


def _singular_values_2(m: np.ndarray) -> list[Any]:
    """The singular values of a matrix with at most two rows or columns, largest first."""
    a = S.Matrix(m.tolist())
    g = a.T * a if a.shape[0] >= a.shape[1] else a * a.T
    if g.shape == (1, 1):
        return [S.sqrt(g[0, 0])]
    t, d = g.trace(), g.det(method="berkowitz")
    root = S.sqrt(t**2 - 4 * d)
    return [S.sqrt((t + root) / 2), S.sqrt((t - root) / 2)]


@register("_linalg_svd")
def _svd(call: Call) -> tuple[Any, ...]:
    A = as_objects(call["A"])
    if min(A.shape[-2:]) > 2:
        raise SymbolicUnsupported("exact singular values are written out for matrices with at most 2 rows or columns")
    lead = A.shape[:-2]
    k = min(A.shape[-2:])
    values = np.empty((*lead, k), dtype=object)
    for idx in np.ndindex(*lead):
        values[idx] = np.array(_singular_values_2(A[idx]), dtype=object)
    vectors = Unavailable("singular vectors (torch.linalg.svd's U and V) have no symbolic rule here, only singular values")
    return (vectors, values, vectors)
