"""Benchmark of the grad_fn graph: walk, first display of the picture, to_dict, and torchviz, in one run.

For chains and "diamonds" (``y = y*y + y``) of 10², 10³, 10⁴ and 10⁵ nodes it prints:

- ``bare``: a bare iterative traversal of ``next_functions`` with a visited set (the floor);
- ``structure``: the same walk recording each node's name and children (no other torch reads);
- ``walk``: :func:`grad_graph` with the default detail budget (``graph_details``): every node's
  structure, and for the first N nodes their shape/dtype/device and saved values (target ≤ 3× bare);
- ``no details``: :func:`grad_graph` with ``details=0``, the structure of every node only;
- ``display``: the first display, everything a notebook asks for: the text, the static HTML (the
  picture as SVG and the tree) and the widget (the picture and the tree view), against the same
  for the 10-node graph measured in turns with it (target ≤ 2×; the picture draws at most
  ``MAX_NODES`` nodes);
- ``text``/``html``: the text and static HTML views (cut to their budgets);
- then, for a 10⁶-deep chain: :func:`grad_graph`'s time and the memory its report holds, against
  ``to_dict()``'s time and peak memory (target ≤ 2× each), and the time to free the walked chain;
- ``torchviz``: ``make_dot(...).source`` when torchviz is installed (it recurses: the recursion
  limit is raised for it, and a failure is printed as such), in a second table after all the
  others.

Times are the best of a few runs, measured in this process; bare, structure and the two walks
take turns run by run, so that load from other jobs on the machine hits them alike. Compare the
ratios.

    python bench/bench_graph.py            # all sizes
    python bench/bench_graph.py --quick    # 10² and 10³ only (and a 10⁵-deep chain for to_dict)
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import time

import torch

from autodiff_magics import settings
from autodiff_magics.graph import grad_graph
from autodiff_magics.views.graph import GraphView, to_html, to_text

# Freeing a graph Python has walked recurses in torch 2.13 (see autodiff_magics.graph.freeing;
# grad_graph arranges an iterative release, the bare walk and torchviz do not): give them room.
_soft, _hard = resource.getrlimit(resource.RLIMIT_STACK)
if _soft != resource.RLIM_INFINITY and _soft < 120 * 2**20:
    resource.setrlimit(resource.RLIMIT_STACK, (120 * 2**20 if _hard == resource.RLIM_INFINITY else min(_hard, 120 * 2**20), _hard))


def chain(nodes: int):
    x = torch.randn(4, requires_grad=True)
    y = x
    for _ in range(nodes - 1):
        y = y * 1.0001
    return x, y


def diamond(nodes: int):
    x = torch.randn(4, requires_grad=True)
    y = x
    for _ in range((nodes - 1) // 2):
        y = y * y + y
    return x, y


def bare(t) -> int:
    seen = set()
    stack = [t.grad_fn]
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        for child, _ in fn.next_functions:
            stack.append(child)
    return len(seen)


def structure(t) -> int:
    """The walk's skeleton: ids, names and children, no torch reads beyond those (with the
    garbage collector paused, as grad_graph does: the kept tuples would trigger full passes)."""
    was = gc.isenabled()
    gc.disable()
    try:
        return _structure(t)
    finally:
        if was:
            gc.enable()


def _structure(t) -> int:
    index: dict[int, int] = {}
    keep, names, edges = [], [], []
    stack = [t.grad_fn]
    while stack:
        fn = stack.pop()
        if id(fn) in index:
            continue
        index[id(fn)] = len(keep)
        keep.append(fn)
        names.append(fn.name())
        nf = fn.next_functions
        edges.append(nf)
        for child, _ in reversed(nf):
            if child is not None and id(child) not in index:
                stack.append(child)
    children = [[None if c is None else index[id(c)] for c, _ in nf] for nf in edges]
    return len(children)


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def best_in_turns(fns: dict, repeat: int) -> dict:
    """The best time of each function, running them in turns (one of each, ``repeat`` times)."""
    times = {name: float("inf") for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            gc.collect()
            start = time.perf_counter()
            fn()
            times[name] = min(times[name], time.perf_counter() - start)
    return times


def torchviz_time(y, x, repeat: int) -> str:
    try:
        from torchviz import make_dot
    except Exception as e:  # not installed
        return f"not installed ({type(e).__name__})"
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 1_000_000))
    try:
        seconds = best(lambda: make_dot(y, params={"x": x}).source, repeat)
        return f"{seconds * 1e3:9.1f} ms"
    except RecursionError:
        return "RecursionError"
    except Exception as e:
        return f"failed: {type(e).__name__}: {str(e)[:60]}"
    finally:
        sys.setrecursionlimit(limit)


def first_display(report) -> None:
    """What a notebook computes to show a report the first time: text, HTML and the widget."""
    report.__dict__.pop("_picture", None)
    to_text(report)
    to_html(report)
    GraphView(report).widget


def display_time(report, repeat: int) -> float:
    return best(lambda: first_display(report), repeat)


def to_dict_at(nodes: int, repeat: int = 3) -> None:
    """grad_graph against to_dict() on a chain of ``nodes``: time and memory (tracemalloc, in a
    pass of its own: it slows allocation), and the time to free the walked chain."""
    import tracemalloc

    x, y = chain(nodes)
    t_walk = best(lambda: grad_graph(y, names={"x": x}), repeat)
    report = grad_graph(y, names={"x": x})
    t_dict = best(lambda: report.to_dict(), repeat)
    del report
    gc.collect()
    tracemalloc.start()
    report = grad_graph(y, names={"x": x})
    walk_held, walk_peak = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    d = report.to_dict()
    dict_held, dict_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    mib = 2**20
    print(f"\n{nodes:,}-deep chain: walk {t_walk:.2f} s, report holds {walk_held / mib:,.0f} MiB (peak {walk_peak / mib:,.0f} MiB)")
    print(f"  to_dict() {t_dict:.2f} s = {t_dict / t_walk:.2f}× the walk; holds {(dict_held - before) / mib:,.0f} MiB, "
          f"peak {(dict_peak - before) / mib:,.0f} MiB = {(dict_peak - before) / walk_peak:.2f}× the walk's peak (target ≤ 2× each)")
    del d, report
    gc.collect()
    start = time.perf_counter()
    del x, y
    print(f"  freeing the walked chain: {time.perf_counter() - start:.2f} s (released in order, no deep recursion)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only 10² and 10³ nodes")
    parser.add_argument("--no-torchviz", action="store_true", help="skip torchviz")
    args = parser.parse_args()
    sizes = [100, 1_000] if args.quick else [100, 1_000, 10_000, 100_000]

    limit = settings.current().graph_details
    print(f"torch {torch.__version__}, Python {sys.version.split()[0]}; best of several runs")
    print(f"walk: details for the first {limit:,} nodes (graph_details); no details: details=0\n")
    small = grad_graph(chain(10)[1])
    display_10 = display_time(small, 9)
    print(f"first display (text, HTML with the picture, widget), 10-node chain: {display_10 * 1e3:.2f} ms\n")
    header = (
        f"{'graph':>8} {'nodes':>8} {'bare':>9} {'structure':>10} {'walk':>9} {'walk/bare':>9} "
        f"{'no details':>10} {'/bare':>6} {'display':>8} {'/d10':>6} {'text':>8} {'html':>8}"
    )
    print(header)
    print("─" * len(header))
    graphs = [(kind, build, n) for kind, build in (("chain", chain), ("diamond", diamond)) for n in sizes]
    for kind, build, n in graphs:
        x, y = build(n)
        repeat = 7 if n <= 10_000 else 5
        bare(y)  # the first walk creates torch's Python node objects: keep that out of all rows
        nodes = bare(y)
        times = best_in_turns(
            {
                "bare": lambda: bare(y),
                "structure": lambda: structure(y),
                "walk": lambda: grad_graph(y, names={"x": x}),
                "cheap": lambda: grad_graph(y, names={"x": x}, details=0),
            },
            repeat,
        )
        t_bare, t_struct, t_walk, t_cheap = times["bare"], times["structure"], times["walk"], times["cheap"]
        report = grad_graph(y, names={"x": x})
        # in turns with the 10-node graph's, so that load from other jobs hits both alike
        shown = best_in_turns({"big": lambda: first_display(report), "small": lambda: first_display(small)}, repeat + 4)
        t_display, display_10 = shown["big"], shown["small"]
        t_text = best(lambda: to_text(report), repeat)
        t_html = best(lambda: to_html(report), repeat)
        print(
            f"{kind:>8} {nodes:>8,} {t_bare * 1e3:7.2f}ms {t_struct * 1e3:8.2f}ms {t_walk * 1e3:7.1f}ms "
            f"{t_walk / t_bare:8.1f}× {t_cheap * 1e3:8.1f}ms {t_cheap / t_bare:5.1f}× "
            f"{t_display * 1e3:6.2f}ms {t_display / display_10:5.2f}× "
            f"{t_text * 1e3:6.2f}ms {t_html * 1e3:6.1f}ms"
        )
        del x, y, report
    to_dict_at(100_000 if args.quick else 1_000_000)
    if args.no_torchviz:
        return
    # after all the rows above: make_dot's deep recursion and large temporary objects left the
    # process slower at allocating: the rows measured after it came out up to about 30 % slower
    print("\ntorchviz make_dot(...).source on the same graphs")
    for kind, build, n in graphs:
        x, y = build(n)
        nodes = bare(y)
        print(f"{kind:>8} {nodes:>8,}  {torchviz_time(y, x, 1 if n >= 10_000 else 3)}")
        del x, y

if __name__ == "__main__":
    main()
