"""Exercise the four magics on a real CUDA GPU, through a real IPython shell, and print what they showed.

    .venv/bin/python bench/gpu_check.py
    .venv/bin/python bench/gpu_check.py --cpu    # this round's steps on the CPU: checks the script itself


Each step runs one magic the way a user types it, prints the report's text, then checks a few
facts (where tensors ended up, the values of a known gradient). A magic that fails is printed
and the script goes on, so one run reports everything. Exit status: 0 when every check passed,
1 when any failed. On a machine without CUDA it says it needs a GPU and exits 0.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

GRADIENT_CELL = "3*x[0]*x[2] - 2*x[1]**2 + 5*x[2]**3"
#: elements of the tensor moved both ways to measure the transfer rate (float32: 400 MB)
BIG = 10**8


def short(error: BaseException, limit: int = 400) -> str:
    """An error in one line: torch's dispatcher errors run to thousands of characters."""
    text = " ".join(str(error).split())
    text = text if len(text) <= limit else text[:limit] + " …"
    return f"{type(error).__name__}: {text}"


def main() -> int:
    import torch

    dry = "--cpu" in sys.argv[1:]
    if dry:
        return dry_run()
    if not torch.cuda.is_available():
        print(
            f"gpu_check needs a CUDA GPU: torch {torch.__version__} "
            f"(CUDA: {torch.version.cuda or 'not built'}) sees none here, so nothing was checked."
        )
        return 0

    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "autodiff_magics")
    ns = ip.user_ns
    results: list[tuple[str, bool]] = []
    step, cell = _runner(ip, results)
    count = torch.cuda.device_count()
    _device_and_tensor_steps(ip, step, cell, count)
    this_round(ip, step, cell, "cuda")
    _transfer_steps(ip, step, cell)
    for name in ("t", "w", "u", "a", "b", "c", "g", "arr", "big"):
        ns.pop(name, None)
    torch.set_default_device(None)
    return _summary(results)


def dry_run() -> int:
    """This round's steps on the CPU, so that a session with a GPU does not spend its minutes on a broken script."""
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "autodiff_magics")
    results: list[tuple[str, bool]] = []
    step, cell = _runner(ip, results)
    this_round(ip, step, cell, "cpu")
    return _summary(results)


def _summary(results: list[tuple[str, bool]]) -> int:
    failed = [title for title, ok in results if not ok]
    print(f"\n{len(results)} steps: {len(results) - len(failed)} ok, {len(failed)} failed")
    for title in failed:
        print(f"  failed: {title}")
    return 1 if failed else 0


def _text_of(ip: Any, out: Any) -> str:
    """What a magic showed, as text."""
    if isinstance(out, str):
        return out
    if hasattr(out, "to_text"):
        return out.to_text()
    return ip.display_formatter.format(out)[0].get("text/plain", repr(out))


def _runner(ip: Any, results: list[tuple[str, bool]]) -> tuple[Callable[..., Any], Callable[[str], None]]:
    """step(title, action, check) and cell(source), printing as they go and noting each step's outcome."""

    def step(title: str, action: Callable[[], Any], check: Callable[[Any], str | None] | None = None) -> Any:
        print(f"\n=== {title}")
        start = time.perf_counter()
        try:
            out = action()
        except Exception as e:  # print and go on: one run reports everything
            print(f"FAILED: {short(e)}")
            results.append((title, False))
            return None
        print(f"({(time.perf_counter() - start) * 1e3:.1f} ms)")
        if out is not None:
            try:
                print(_text_of(ip, out))
            except Exception as e:
                print(f"FAILED to show the result: {short(e)}")
                results.append((title, False))
                return out
        problem = None
        if check is not None:
            try:
                problem = check(out)
            except Exception as e:
                problem = f"the check itself failed: {short(e)}"
        print(f"WRONG: {problem}" if problem else "ok")
        results.append((title, problem is None))
        return out

    def cell(source: str) -> None:
        result = ip.run_cell(source)
        if not result.success:
            raise RuntimeError(f"cell failed: {short(result.error_in_exec or result.error_before_exec)}")

    return step, cell


def this_round(ip: Any, step: Callable[..., Any], cell: Callable[[str], None], device: str) -> None:
    """What this round changed, on ``device``: statistics with NaN/±inf (the accelerator path counts
    element by element), a model's every parameter (float32, checked on float64 copies there), and
    dropout (on CUDA the fused native_dropout, which the symbolic row follows with its mask)."""
    import torch

    ns = ip.user_ns
    step(f"set up s (10⁶ float32 on {device}, NaN/+inf/-inf one in 1,000 each)", lambda: cell(
        f"import torch\ns = torch.randn(10**6, device='{device}')\ns[::1000] = float('nan')\ns[1::1000] = float('inf')\ns[2::1000] = -float('inf')"
    ))

    def stats_check(r: Any) -> str | None:
        got = r.to_dict()["stats"]
        s = ns["s"]
        fin = s[torch.isfinite(s)].double()
        want = {"nan": 1000, "posinf": 1000, "neginf": 1000, "count": 10**6 - 3000, "min": float(fin.min()), "max": float(fin.max())}
        wrong = {k: (got[k], v) for k, v in want.items() if got[k] != v}
        # float32 sums per chunk: the mean is good to float32's digits at the data's scale, not exact
        if abs(got["mean"] - float(fin.mean())) > 1e-6 * float(fin.abs().mean()) or abs(got["std"] - float(fin.std())) > 1e-6 * float(fin.std()):
            wrong["mean/std"] = ((got["mean"], got["std"]), (float(fin.mean()), float(fin.std())))
        return f"(got, want): {wrong}" if wrong else None

    step(f"%tensorinfo s (statistics on {device})", lambda: ip.run_line_magic("tensorinfo", "s"), stats_check)
    step(f"set up a float32 model m and its data on {device}", lambda: cell(
        "import torch.nn as nn\ntorch.manual_seed(0)\n"
        f"m = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).to('{device}')\n"
        f"xin = torch.randn(5, 3, device='{device}')\ndrop = nn.Dropout(0.5).train()"
    ))

    def model_check(r: Any) -> str | None:
        m = ns["m"]
        twin = {n: p.detach().double().requires_grad_() for n, p in m.named_parameters()}
        out = torch.func.functional_call(m.double(), twin, (ns["xin"].double(),))
        m.float()
        grads = torch.autograd.grad((out**2).sum(), list(twin.values()))
        for (name, _), g in zip(twin.items(), grads):
            mine = torch.as_tensor(r.gradient[f"m.{name}"])
            if not torch.allclose(mine, g.cpu(), rtol=1e-10, atol=1e-12):
                return f"m.{name}: {mine.tolist()} against {g.tolist()}"
        if not r.agree or any(p.device.type != device or p.dtype != torch.float32 or p.grad is not None for p in m.parameters()):
            return f"agree={r.agree}, parameters on {[str(p.device) for p in m.parameters()]} as {[str(p.dtype) for p in m.parameters()]}"
        return None

    step("%%gradient --wrt m (every parameter of a float32 model)", lambda: ip.run_cell_magic("gradient", "--wrt m", "(m(xin)**2).sum()"), model_check)

    def dropout_check(r: Any) -> str | None:
        sym = r.methods["symbolic"]
        if sym.status != "ok" or r.reference != "symbolic" or not r.agree:
            return f"symbolic {sym.status} ({sym.reason}), reference {r.reference}, agree={r.agree}: {r.verdict}"
        return None

    step(f"%%gradient --device {device} on dropout (symbolic row through the mask)",
         lambda: ip.run_cell_magic("gradient", f"--device {device} x=[1., 2., 3., 4., 5., 6.]", "(drop(x)**2).sum()"), dropout_check)
    for name in ("s", "m", "xin", "drop"):
        ns.pop(name, None)


def _device_and_tensor_steps(ip: Any, step: Callable[..., Any], cell: Callable[[str], None], count: int) -> None:
    import torch

    ns = ip.user_ns

    def expect_usage_error(line: str) -> str:
        try:
            ip.run_line_magic("device", line)
        except Exception as e:
            return short(e)
        raise AssertionError(f"%device {line} did not fail")

    # -- %device ---------------------------------------------------------------------------------
    step(
        "%device",
        lambda: ip.run_line_magic("device", ""),
        lambda r: None
        if r.auto.startswith("cuda") and (d := r.device("cuda:0")) is not None and (d.memory_total or 0) > 0 and d.memory_free is not None
        else f"expected auto=cuda:… and cuda:0 with its memory, got auto={r.auto}, rows={[x.name for x in r.devices]}",
    )
    step("set up t (1000×1000) and w (a leaf with a .grad) on the CPU", lambda: cell(
        "import torch, numpy as np\nt = torch.randn(1000, 1000)\nw = torch.randn(3, requires_grad=True)\nw.grad = torch.ones(3)"
    ))
    step(
        "%device --move t w cuda",
        lambda: ip.run_line_magic("device", "--move t w cuda"),
        lambda r: None
        if ns["t"].device.type == "cuda" and ns["w"].device.type == "cuda" and ns["w"].is_leaf and ns["w"].requires_grad
        and ns["w"].grad is not None and ns["w"].grad.device.type == "cuda" and torch.equal(ns["w"].grad.cpu(), torch.ones(3))
        else f"t on {ns['t'].device}, w on {ns['w'].device}, leaf={ns['w'].is_leaf}, grad={ns['w'].grad}",
    )
    step("%device cuda (new tensors go to the GPU)", lambda: ip.run_line_magic("device", "cuda"))
    step(
        "a new tensor after %device cuda",
        lambda: (cell("u = torch.ones(2)"), ns["u"].device)[1],
        lambda dev: None if dev.type == "cuda" else f"torch.ones(2) went to {dev}",
    )
    step(
        "%device cpu (back to the CPU)",
        lambda: ip.run_line_magic("device", "cpu"),
        lambda r: None if str(torch.get_default_device()) == "cpu" else f"default is {torch.get_default_device()}",
    )
    step(
        f"%device cuda:{count} (does not exist)",
        lambda: expect_usage_error(f"cuda:{count}"),
        lambda msg: None if "cuda:0" in msg and str(torch.get_default_device()) == "cpu" else f"message does not list the GPUs: {msg}",
    )

    # -- %tensorinfo -----------------------------------------------------------------------------
    step("%tensorinfo t (on the GPU)", lambda: ip.run_line_magic("tensorinfo", "t"), lambda r: None if "cuda" in _text_of(ip, r) else "the report does not say cuda")
    step("set up a = t, b = t[0], c = t.clone(), a NumPy array and a CUDA tensor", lambda: cell(
        "a = t\nb = t[0]\nc = t.clone()\narr = np.zeros(3)\ng = torch.zeros(3, device='cuda')"
    ))

    # -- %alias_check ----------------------------------------------------------------------------
    step("%alias_check a b c (a view and a clone on the GPU)", lambda: ip.run_line_magic("alias_check", "a b c"))
    step("%alias_check g arr (a CUDA tensor and a NumPy array)", lambda: ip.run_line_magic("alias_check", "g arr"))

    # -- %%gradient --------------------------------------------------------------------------------
    def gradient_check(r: Any) -> str | None:
        value = float(getattr(r, "value"))
        grad = getattr(r, "gradient")["x"]
        grad = grad.tolist() if hasattr(grad, "tolist") else list(grad)
        if abs(value - 136.0) > 1e-9 or [round(g, 9) for g in grad] != [9.0, -8.0, 138.0]:
            return f"expected 136 and [9, -8, 138], got {value} and {grad}"
        return None

    step(
        "%%gradient --device cuda x=[1.,2.,3.]",
        lambda: ip.run_cell_magic("gradient", "--device cuda x=[1.,2.,3.]", GRADIENT_CELL),
        gradient_check,
    )
    step(
        "%%gradient --wrt w (w lives on the GPU)",
        lambda: ip.run_cell_magic("gradient", "--wrt w", "(w**2).sum()"),
    )



def _transfer_steps(ip: Any, step: Callable[..., Any], cell: Callable[[str], None]) -> None:
    ns = ip.user_ns
    # -- moving a large tensor both ways: the transfer rate --------------------------------------
    step(f"set up big = torch.ones({BIG:,}) on the CPU", lambda: cell(f"big = torch.ones({BIG}, device='cpu')"))
    step(f"%device --move big cuda ({BIG * 4 / 1e6:,.0f} MB)", lambda: ip.run_line_magic("device", "--move big cuda"), lambda r: None if ns["big"].is_cuda else "big is not on the GPU")
    step(f"%device --move big cpu ({BIG * 4 / 1e6:,.0f} MB)", lambda: ip.run_line_magic("device", "--move big cpu"), lambda r: None if not ns["big"].is_cuda else "big is still on the GPU")
    step("%device (memory after the moves)", lambda: ip.run_line_magic("device", ""))


if __name__ == "__main__":
    sys.exit(main())
