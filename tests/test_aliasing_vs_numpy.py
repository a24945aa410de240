"""%alias_check against what nobody here wrote: NumPy's exact solver and brute-force byte sets,
on thousands of random strided pairs, self-overlapping views (sliding windows, ``unfold``,
``as_strided`` with overlapping strides) included; and the cell form leaving no trace."""

from __future__ import annotations

import random

import numpy as np
import torch
from numpy.lib.stride_tricks import as_strided, sliding_window_view

from autodiff_magics import aliasing as A
from autodiff_magics.aliasing import AliasCellReport, alias_check

RELATION_TRUTH = {
    "same_memory": lambda sa, sb, shared: sa == sb,
    "a_in_b": lambda sa, sb, shared: sa < sb,
    "b_in_a": lambda sa, sb, shared: sb < sa,
    "partial_overlap": lambda sa, sb, shared: shared > 0 and not (sa <= sb or sb <= sa),
    "overlap": lambda sa, sb, shared: shared > 0,
    "may_share": lambda sa, sb, shared: True,
    "disjoint_interleaved": lambda sa, sb, shared: shared == 0,
    "disjoint_separate": lambda sa, sb, shared: shared == 0 and (max(sa) < min(sb) or max(sb) < min(sa)),
    "independent": lambda sa, sb, shared: shared == 0,
}


def layout(obj):
    if isinstance(obj, np.ndarray):
        return obj.__array_interface__["data"][0], obj.shape, obj.strides, obj.itemsize
    es = obj.element_size()
    return obj.data_ptr(), tuple(obj.shape), tuple(s * es for s in obj.stride()), es


def byte_set(obj) -> set[int]:
    """Every byte address the object's elements touch, by brute force."""
    addr, shape, strides, itemsize = layout(obj)
    offsets = np.zeros(1, dtype=np.int64)
    for n, s in zip(shape, strides):
        offsets = (offsets[:, None] + np.arange(n, dtype=np.int64)[None, :] * s).reshape(-1)
    return set((addr + offsets[:, None] + np.arange(itemsize)[None, :]).reshape(-1).tolist())


class _Iface:
    def __init__(self, obj) -> None:
        addr, shape, strides, itemsize = layout(obj)
        self.__array_interface__ = {"shape": shape, "typestr": f"|V{itemsize}", "data": (addr, True), "strides": strides, "version": 3}


def numpy_exact(a, b) -> bool:
    return bool(np.shares_memory(np.asarray(_Iface(a)), np.asarray(_Iface(b)), max_work=None))


def random_numpy_view(buf: np.ndarray, rng: random.Random) -> np.ndarray:
    """A random view of ``buf`` (uint8): slices, a dtype of another size, transposes, sliding
    windows, and as_strided with strides that overlap (the view covers bytes several times)."""
    kind = rng.random()
    dtype = rng.choice([np.uint8, np.int16, np.float32, np.float64])
    item = np.dtype(dtype).itemsize
    start = rng.randrange(0, 64)
    if kind < 0.35:  # as_strided: any strides, overlapping ones included, negative ones too
        ndim = rng.choice([1, 2, 3])
        shape = [rng.randrange(1, 7) for _ in range(ndim)]
        strides = [rng.choice([0, 1, 2, 3, 4, 5, 7, 8, 12, 16, 24, -4, -8]) * rng.choice([1, item]) for _ in range(ndim)]
        lo = sum((n - 1) * s for n, s in zip(shape, strides) if s < 0)
        hi = sum((n - 1) * s for n, s in zip(shape, strides) if s > 0) + item
        base = start - lo + 64
        if base + hi > buf.size:
            return buf[:0]
        return _typed_strided(buf, base, shape, strides, dtype)
    if kind < 0.6:  # sliding windows, then a step along either axis
        n = rng.randrange(4, 40)
        v = buf[start : start + n * item].view(dtype)
        w = rng.randrange(1, min(6, v.size) + 1)
        win = sliding_window_view(v, w)
        return win[:: rng.choice([1, 2, 3]), :: rng.choice([1, 2])]
    # plain slices of a reshaped block, possibly transposed and stepped
    shape = [rng.randrange(1, 6) for _ in range(rng.choice([1, 2, 3]))]
    count = int(np.prod(shape))
    v = buf[start : start + count * item].view(dtype).reshape(shape)
    v = v[tuple(slice(rng.randrange(0, 2), None, rng.choice([1, 2, -1])) for _ in shape)]
    return v.T if rng.random() < 0.3 else v


def _typed_strided(buf, base, shape, strides, dtype):
    item = np.dtype(dtype).itemsize
    if any(s % item for s in strides) or base % item:
        return as_strided(buf[base:], shape=shape, strides=strides, writeable=False)  # uint8 elements
    return as_strided(buf[base:].view(dtype), shape=shape, strides=strides, writeable=False)


def random_torch_view(x: torch.Tensor, rng: random.Random) -> torch.Tensor:
    """A random torch view of the float32 vector ``x``: unfold (windows that overlap when the
    step is below the size), then a slice of its windows or elements; or as_strided."""
    if rng.random() < 0.6:
        size, step = rng.randrange(1, 6), rng.randrange(1, 5)
        start = rng.randrange(0, 8)
        if x.numel() - start < size:
            return x[:0]
        u = x[start:].unfold(0, size, step)
        return u[rng.randrange(0, 2) :: rng.choice([1, 2, 3]), :: rng.choice([1, 2, 3])]
    shape = [rng.randrange(1, 6) for _ in range(rng.choice([1, 2, 3]))]
    stride = [rng.choice([0, 1, 2, 3, 5]) for _ in shape]
    offset = rng.randrange(0, 10)
    if offset + sum((n - 1) * s for n, s in zip(shape, stride)) >= x.numel():
        return x[:0]
    return x.as_strided(shape, stride, offset)


def check_pair(a, b, tally: dict[str, int]) -> None:
    try:
        p = alias_check(a, b, names=["a", "b"]).pairs[0]
    except Exception:  # noqa: BLE001 - counted: a crash is a failure
        tally["crash"] += 1
        return
    sa, sb = byte_set(a), byte_set(b)
    shared = len(sa & sb)
    truth = numpy_exact(a, b)
    tally["pairs"] += 1
    tally["self_overlapping"] += any(not A.bytesets._layout(A.region(o, "o")).nested for o in (a, b))
    if truth != (shared > 0):
        raise AssertionError("the brute force and NumPy disagree: the test itself is wrong")
    if p.shares_memory != truth:
        tally["wrong_sharing"] += 1
    if not RELATION_TRUTH[p.relation](sa, sb, shared):
        tally["wrong_relation"] += 1
    if p.overlap_bytes is not None and p.overlap_bytes > shared:
        tally["bytes_above"] += 1
    if p.overlap_bytes is not None and p.overlap_bytes != shared:
        tally["bytes_wrong"] += 1
    if p.overlap_bytes is None and p.shares_memory:
        tally["uncounted"] += 1


def fresh_tally() -> dict[str, int]:
    return dict.fromkeys(["pairs", "self_overlapping", "crash", "wrong_sharing", "wrong_relation", "bytes_above", "bytes_wrong", "uncounted"], 0)


def test_random_numpy_views_against_numpy_and_brute_force():
    rng = random.Random(12)
    buf = np.zeros(1200, dtype=np.uint8)
    tally = fresh_tally()
    while tally["pairs"] + tally["crash"] < 2500:
        a, b = random_numpy_view(buf, rng), random_numpy_view(buf, rng)
        if a.size and b.size:
            check_pair(a, b, tally)
    bad = {k: tally[k] for k in ("crash", "wrong_sharing", "wrong_relation", "bytes_above", "bytes_wrong")}
    assert bad == dict.fromkeys(bad, 0), tally
    assert tally["self_overlapping"] > 300, tally  # the hard cases are really there
    assert tally["uncounted"] == 0, tally  # small buffers: every byte set is listed exactly


def test_random_torch_views_against_numpy_and_brute_force():
    rng = random.Random(7)
    x = torch.zeros(64)
    tally = fresh_tally()
    while tally["pairs"] + tally["crash"] < 1500:
        a, b = random_torch_view(x, rng), random_torch_view(x, rng)
        if a.numel() and b.numel():
            check_pair(a, b, tally)
    bad = {k: tally[k] for k in ("crash", "wrong_sharing", "wrong_relation", "bytes_above", "bytes_wrong")}
    assert bad == dict.fromkeys(bad, 0), tally
    assert tally["self_overlapping"] > 150, tally


def test_too_many_runs_says_overlap_not_a_wrong_count(monkeypatch):
    """Past the listing budget a self-overlapping view is "overlap, amount not counted" (or
    disjoint, as NumPy's solver says): never a number."""
    monkeypatch.setattr(A.bytesets, "INTERVAL_BUDGET", 4)
    buf = np.zeros(400, dtype=np.uint8)
    a = as_strided(buf, shape=(6, 6), strides=(7, 5))  # bytes covered more than once
    b = buf[10:11]
    p = alias_check(a, b, names=["a", "b"]).pairs[0]
    assert numpy_exact(a, b) and p.relation == "overlap" and p.overlap_bytes is None
    assert p.summary == "shares memory (amount not counted)"
    c = buf[300:]
    q = alias_check(a, c, names=["a", "c"]).pairs[0]
    assert q.relation == "disjoint_separate" and q.overlap_bytes == 0


def test_normal_form_merges_windows():
    x = torch.arange(10.0)
    lay = A.bytesets._layout(A.region(x.unfold(0, 3, 2), "u"))
    assert lay.nested and lay.dims == () and lay.w == 36  # one interval: elements 0 to 8
    lay = A.bytesets._layout(A.region(x.unfold(0, 3, 2)[:, ::2], "u"))
    assert lay == A.bytesets._layout(A.region(x[::2], "e"))  # the same bytes as x[::2]


# -- the repros, through the magic --------------------------------------------------------


def test_view_inside_a_self_overlapping_view(ip):
    ip.run_cell("import torch\nx = torch.arange(10.)")
    r = ip.run_line_magic("alias_check", "x.unfold(0, 3, 2)[:, ::2] x[8:9]")
    p = r.pairs[0]
    assert (p.relation, p.overlap_bytes) == ("b_in_a", 4)
    assert "every byte of x[8:9] is inside x.unfold(0, 3, 2)[:, ::2] (4 of x.unfold(0, 3, 2)[:, ::2]'s 20 bytes)" in p.meaning
    assert "4 B shared" in r.to_text()


def test_self_overlapping_view_is_the_same_memory_as_the_even_elements(ip):
    ip.run_cell("import torch\nx = torch.arange(10.)")
    r = ip.run_line_magic("alias_check", "x.unfold(0, 3, 2)[:, ::2] x[::2]")
    p = r.pairs[0]
    assert (p.relation, p.overlap_bytes) == ("same_memory", 20)
    assert "each also has elements of its own" not in p.meaning


def test_sliding_window_inside_its_array():
    x = np.arange(12.0)
    w = sliding_window_view(x, 4)[::3]  # windows 0-3, 3-6, 6-9 (elements 3 and 6 twice): bytes 0..80 of 96
    p = alias_check(w, x, names=["w", "x"]).pairs[0]
    assert (p.relation, p.overlap_bytes) == ("a_in_b", 80)


# -- the cell form leaves no trace -----------------------------------------------------------------


def test_cell_form_leaves_storage_resizable(ip):
    ip.run_cell("import torch, numpy as np\nt = torch.ones(4)\nv = t[1:]\na = np.ones(3)")
    r = ip.run_cell_magic("alias_check", "", "pass")
    assert isinstance(r, AliasCellReport) and {"t", "v", "a"} <= set(r.unchanged)
    del r
    result = ip.run_cell("t.resize_(100)\nn = t.numel()\nv = None\na.resize(10)")
    assert result.error_in_exec is None and ip.user_ns["n"] == 100 and ip.user_ns["a"].size == 10


def test_line_form_and_tensorinfo_leave_storage_resizable(ip):
    ip.run_cell("import torch\nt = torch.ones(4)")
    ip.run_line_magic("alias_check", "t t[1:]")
    ip.run_line_magic("tensorinfo", "t")
    result = ip.run_cell("t.resize_(50)\nn = t.numel()")
    assert result.error_in_exec is None and ip.user_ns["n"] == 50


# -- who changed what: only when known --------------------------------------------------------------


def test_optimizer_step_is_named_not_a_view(ip):
    ip.run_cell(
        "import torch\nw = torch.nn.Parameter(torch.ones(3))\nwd = w.data\nopt = torch.optim.SGD([w], lr=0.5)\n"
        "w.grad = torch.ones(3)"
    )
    r = ip.run_cell_magic("alias_check", "", "opt.step()")
    silent = {d["name"]: d for d in r.silent}
    assert set(silent) == {"w", "wd"} and silent["w"]["through"] == [] and silent["wd"]["through"] == []
    assert silent["w"]["by"] == "opt.step() changed it: it is a parameter of the optimizer opt"
    assert silent["wd"]["by"] == "opt.step() changed it: it shares memory with w, which the optimizer opt holds"
    text = r.to_text()
    assert "through wd" not in text and "through w " not in text
    assert torch.equal(ip.user_ns["w"].detach(), torch.full((3,), 0.5))


def test_module_method_is_named(ip):
    ip.run_cell("import torch\nlin = torch.nn.Linear(2, 2)\nweight = lin.weight")
    r = ip.run_cell_magic("alias_check", "", "out = lin.apply(lambda m: torch.nn.init.zeros_(m.weight) if hasattr(m, 'weight') else None)")
    (item,) = r.silent
    assert item["name"] == "weight" and item["by"].endswith("it is lin.weight of the module lin")


def test_function_argument_is_named(ip):
    ip.run_cell("import torch\nm = torch.zeros(4)\nmv = m.view(2, 2)\ndef bump(t):\n    t += 1\n")
    r = ip.run_cell_magic("alias_check", "", "bump(m)")
    silent = {d["name"]: d for d in r.silent}
    assert silent["m"]["through"] == [] and silent["m"]["by"] == "the cell passed it to bump(m), which wrote into it"
    assert silent["mv"]["through"] == [] and silent["mv"]["by"].startswith("through m, the same memory")
    assert silent["mv"]["by"].endswith("which the cell passed to bump(m)")
    assert "m changed: its contents changed — the cell passed it to bump(m)" in r.to_text()


def test_written_partner_is_still_through(ip):
    ip.run_cell("import torch\nx = torch.zeros(3)\ny = x.numpy()")
    r = ip.run_cell_magic("alias_check", "", "x.add_(1)")
    assert r.silent[0]["through"] == ["x"] and r.silent[0]["by"] is None
    assert r.to_dict()["silent"][0]["shares_with"] == [{"name": "x", "relation": "the same memory", "changed": True}]
