"""Small pictures of the values: histogram, heat map, preview text."""

from __future__ import annotations

import math
from typing import Any

#: most values drawn for the histogram (an evenly strided sample above this)
HIST_SAMPLE = 1 << 16
HIST_BINS = 24
#: heat map: most rows and columns drawn per matrix, most matrices of a 3-D tensor
HEAT_SIDE = 24
HEAT_MATRICES = 4
#: preview text: most characters and lines kept
PREVIEW_CHARS = 1500
PREVIEW_LINES = 14


def _histogram(u, s: dict[str, Any], kind: str, mask=None) -> dict[str, Any] | None:
    """A small histogram of the finite values: exact up to HIST_SAMPLE values, else over an
    evenly strided sample of about HIST_SAMPLE (said in ``sampled``)."""
    import torch

    if s["count"] == 0 or s["min"] is None or s["min"] == s["max"]:
        return None  # nothing to draw: no values, or all equal (the stats say which)
    if kind == "bool":
        return {"edges": [0, 1, 2], "counts": [s["zeros"], s["count"] - s["zeros"]], "labels": ["False", "True"], "sampled": False, "sample_size": s["count"]}
    sample = _strided_sample(u, HIST_SAMPLE)
    sampled = sample.numel() < u.numel()
    if mask is not None:  # masked elements are not values
        sample = sample[~_strided_sample(mask, HIST_SAMPLE)]
    lo, hi = float(s["min"]), float(s["max"])
    if kind == "int" and hi - lo + 1 <= HIST_BINS:
        bins = int(hi - lo + 1)
        edges = [lo - 0.5 + i for i in range(bins + 1)]
        labels = [str(int(lo) + i) for i in range(bins)]
    else:
        bins = HIST_BINS if hi > lo else 1
        if hi == lo:
            edges = [lo - 0.5, lo + 0.5]
        else:
            edges = [lo + (hi - lo) * i / bins for i in range(bins + 1)]
        labels = None
    if sample.dtype in (torch.float32, torch.float64):
        values = sample
    elif sample.dtype.is_floating_point:
        values = sample.to(torch.float32)  # float16, bfloat16, float8: exact in float32
    else:
        values = sample.to(torch.float64)  # integers: exact in float64 up to 2**53
    counts = torch.histc(values, bins=bins, min=edges[0], max=edges[-1]).tolist()
    out = {"edges": edges, "counts": [int(c) for c in counts], "sampled": sampled, "sample_size": int(sample.numel())}
    if labels:
        out["labels"] = labels
    return out


def _strided_sample(u, budget: int):
    """An evenly strided view of ``u`` with at most ``budget`` elements, made contiguous (small)."""
    shape = list(u.shape)
    keep = list(shape)
    while math.prod(keep) > budget:
        i = max(range(len(keep)), key=lambda j: keep[j])
        keep[i] = max(1, keep[i] // 2)
    steps = [max(1, -(-d // k)) if k else 1 for d, k in zip(shape, keep)]
    view = u[tuple(slice(None, None, st) for st in steps)] if any(st > 1 for st in steps) else u
    return view.reshape(-1)


def _heatmap(x, s: dict[str, Any]) -> dict[str, Any] | None:
    """A small picture of a 2-D tensor/array or of the first matrices of a 3-D one (every k-th
    row and column when larger than HEAT_SIDE), where it helps: not for a row or a column, a
    constant, or values that are all NaN. Only the drawn cells are moved to the host."""
    rows, cols = x.shape[-2], x.shape[-1]
    if rows < 2 or cols < 2 or s["min"] is None or s["min"] == s["max"]:
        return None
    side = HEAT_SIDE if x.ndim == 2 else HEAT_SIDE // 2  # several small maps for 3-D
    rstep, cstep = max(1, -(-rows // side)), max(1, -(-cols // side))
    mats = 1 if x.ndim == 2 else min(x.shape[0], HEAT_MATRICES)
    view = x[::rstep, ::cstep] if x.ndim == 2 else x[:mats, ::rstep, ::cstep]
    if hasattr(view, "detach"):
        import torch

        grid = view.to(torch.float64).cpu().tolist()
    else:
        grid = view.astype("float64").tolist()
    if x.ndim == 2:
        grid = [grid]
    clean = [[[None if (isinstance(v, float) and not math.isfinite(v)) else v for v in row] for row in m] for m in grid]
    return {
        "matrices": clean,
        "row_step": rstep,
        "col_step": cstep,
        "first": mats,
        "of": 1 if x.ndim == 2 else int(x.shape[0]),
        "min": float(s["min"]),
        "max": float(s["max"]),
    }


def _preview(text: str) -> str:
    lines = text.splitlines()
    cut = len(lines) > PREVIEW_LINES or len(text) > PREVIEW_CHARS
    if len(lines) > PREVIEW_LINES:
        lines = lines[: PREVIEW_LINES - 1] + ["…", lines[-1]]
    text = "\n".join(lines)
    if len(text) > PREVIEW_CHARS:
        text = text[: PREVIEW_CHARS - 1] + "…"
    return text + ("\n(preview cut)" if cut else "")
