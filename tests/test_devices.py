"""%device and its core: the device report, the default device, moving variables, the views.

CUDA paths are exercised without a GPU by patching torch.cuda / torch.accelerator functions; the
copy path of --move is exercised for real by moving to the meta device through the core's worker.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import SimpleNamespace
from unittest.mock import patch

import pytest
import torch
from IPython.core.error import UsageError

from autodiff_magics.errors import InputError

try:
    from .conftest import run
except ImportError:  # tests/ run as a plain directory
    from conftest import run

core = importlib.import_module("autodiff_magics.device")
inventory = importlib.import_module("autodiff_magics.device.inventory")
moving = importlib.import_module("autodiff_magics.device.moving")
names = importlib.import_module("autodiff_magics.device.names")
system = importlib.import_module("autodiff_magics.device.system")

GiB = 2**30
ROOT = Path(__file__).resolve().parents[1]
NO_REAL_GPU = not torch.cuda.is_available() and not torch.backends.mps.is_available()


@pytest.fixture(autouse=True)
def keep_default_device():
    """No test may leave torch's default device changed."""
    before = names._default_raw()
    yield
    torch.set_default_device(before)


@contextmanager
def fake_cuda(
    n: int = 2,
    *,
    names: list[str] | None = None,
    capability: tuple[int, int] = (9, 0),
    archs: tuple[str, ...] = ("sm_80", "sm_90"),
    free: list[int] | None = None,
    total: int = 80 * GiB,
    via_accelerator: bool = False,
    started: bool = False,
):
    """Pretend torch sees ``n`` CUDA GPUs; reading properties 'starts CUDA', as it really does."""
    state = {"started": started, "free": list(free or [(70 - 10 * i) * GiB for i in range(n)])}
    names = names or [f"NVIDIA Test GPU {i}" for i in range(n)]
    props = [
        SimpleNamespace(name=names[i], major=capability[0], minor=capability[1], total_memory=total, multi_processor_count=132)
        for i in range(n)
    ]

    def get_props(i):
        state["started"] = True
        return props[i]

    with ExitStack() as stack:

        def p(target, **kw):
            return stack.enter_context(patch(target, **kw))

        p("torch.cuda.is_available", return_value=n > 0)
        p("torch.cuda.device_count", return_value=n)
        p("torch.cuda.get_device_properties", side_effect=get_props)
        state["mem_get_info"] = p("torch.cuda.mem_get_info", side_effect=lambda i: (state["free"][i], total))
        p("torch.cuda.memory_allocated", side_effect=lambda i: (i + 1) * 100 * 2**20)
        p("torch.cuda.memory_reserved", side_effect=lambda i: (i + 1) * 256 * 2**20)
        p("torch.cuda.is_initialized", side_effect=lambda: state["started"])
        p("torch.cuda.current_device", return_value=0)
        p("torch.cuda.get_arch_list", return_value=list(archs))
        p("torch.version.cuda", new="12.4")
        p("torch.backends.cudnn.version", return_value=90100)
        stack.enter_context(patch.object(inventory, "_nvml_installed", return_value=False))
        if via_accelerator:
            p("torch.accelerator.current_accelerator", return_value=torch.device("cuda"))
        yield state


def _meminfo_bytes(key: str) -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


# -- the report on this machine ------------------------------------------------------------------


def test_report_on_this_machine_shows_the_cpu():
    r = core.devices()
    cpu = r.devices[0]
    assert (cpu.name, cpu.type, cpu.available) == ("cpu", "cpu", True)
    assert cpu.threads == torch.get_num_threads()
    assert cpu.processors == len(os.sched_getaffinity(0))
    assert f"torch uses {torch.get_num_threads()} thread" in " ".join(cpu.details)
    if Path("/proc/meminfo").exists() and system._cgroup_memory()[0] is None:
        assert cpu.memory_total == _meminfo_bytes("MemTotal")
        assert 0 < cpu.memory_free <= cpu.memory_total
    assert cpu.memory_process and cpu.memory_process > 10 * 2**20  # this process holds torch
    assert r.default == "cpu"
    assert r.torch["version"] == torch.__version__
    assert r.torch["cuda"] == torch.version.cuda


@pytest.mark.skipif(not NO_REAL_GPU, reason="this machine has a GPU")
def test_report_without_gpu_says_so_and_auto_is_cpu():
    r = core.devices()
    assert [d.name for d in r.devices if d.available] == ["cpu"]
    assert r.auto == "cpu"
    assert any(n.startswith("No CUDA or MPS device is present") for n in r.notes)


def test_to_dict_contract_is_plain_json():
    d = core.devices().to_dict()
    assert {"default", "auto", "devices", "torch"} <= set(d)
    for row in d["devices"]:
        assert {"name", "type", "available", "memory_total", "memory_free"} <= set(row)
    assert {"version", "cuda"} <= set(d["torch"])
    assert json.loads(json.dumps(d)) == d


def test_cpu_memory_respects_a_container_limit():
    files = {
        "/proc/meminfo": "MemTotal:       33554432 kB\nMemFree:  1000 kB\nMemAvailable:   30000000 kB\n",
        "/sys/fs/cgroup/memory.max": f"{8 * GiB}\n",
        "/sys/fs/cgroup/memory.current": f"{2 * GiB}\n",
    }
    with patch.object(system, "_read", side_effect=files.get):
        total, free, limited = system._ram()
    assert (total, free, limited) == (8 * GiB, 6 * GiB, True)
    files["/sys/fs/cgroup/memory.max"] = "max\n"
    with patch.object(system, "_read", side_effect=files.get):
        assert system._ram() == (32 * GiB, 30000000 * 1024, False)


def test_oversubscribed_threads_get_a_note():
    with patch("torch.get_num_threads", return_value=len(os.sched_getaffinity(0)) + 4):
        r = core.devices()
    cores = r.devices[0].processors
    assert any(f"torch.set_num_threads({cores})" in n for n in r.notes)


# -- the report with (mocked) GPUs ------------------------------------------------------------------


@pytest.mark.parametrize("via_accelerator", [False, True])
def test_mocked_two_gpu_report(via_accelerator):
    with fake_cuda(2, via_accelerator=via_accelerator):
        r = core.devices()
    assert [d.name for d in r.devices] == ["cpu", "cuda:0", "cuda:1"]
    g0, g1 = r.devices[1:]
    assert (g0.model, g0.capability, g0.processors) == ("NVIDIA Test GPU 0", "9.0", 132)
    assert (g0.memory_total, g0.memory_free, g1.memory_free) == (80 * GiB, 70 * GiB, 60 * GiB)
    assert (g0.memory_allocated, g0.memory_reserved, g1.memory_reserved) == (100 * 2**20, 256 * 2**20, 512 * 2**20)
    assert r.auto == "cuda:0"
    assert r.default == "cpu"
    assert r.torch["cuda"] == "12.4" and r.torch["cudnn"] == "9.1.0"
    assert not any("No CUDA" in n for n in r.notes)
    assert any("started CUDA in this process" in n for n in r.notes)  # it was not started before
    d = r.to_dict()
    assert d["devices"][2] == {**d["devices"][2], "name": "cuda:1", "type": "cuda", "available": True, "memory_free": 60 * GiB}
    text = r.to_text()
    assert "NVIDIA Test GPU 1" in text and "60 GiB free of 80 GiB" in text and "compute capability 9.0" in text
    assert "CUDA 12.4" in text and "cuDNN 9.1.0" in text


def test_mocked_report_says_nothing_about_starting_cuda_when_it_had_started():
    with fake_cuda(1, started=True):
        r = core.devices()
    assert not any("started CUDA" in n for n in r.notes)


def test_free_memory_comes_from_nvml_when_pynvml_is_there():
    with fake_cuda(1) as state, patch.object(inventory, "_nvml_installed", return_value=True), patch(
        "torch.cuda.device_memory_used", create=True, return_value=5 * GiB
    ):
        r = core.devices()
        state["mem_get_info"].assert_not_called()  # no CUDA context opened on the GPU for this
    assert r.devices[1].memory_free == 75 * GiB


def test_cuda_built_but_no_gpu_visible():
    with patch("torch.cuda.is_available", return_value=False), patch("torch.version.cuda", new="12.4"):
        r = core.devices()
        with pytest.raises(InputError) as e:
            core.resolve("cuda")
    row = r.device("cuda")
    assert row is not None and row.available is False
    assert any("built with CUDA 12.4 but sees no GPU" in n for n in r.notes)
    assert "torch sees no GPU" in str(e.value) and "devices here: cpu." in str(e.value)
    assert r.auto == "cpu"


def test_a_gpu_newer_than_the_kernels_torch_ships_gets_a_note():
    with fake_cuda(1, capability=(12, 0), archs=("sm_80", "sm_90")):
        r = core.devices()
    assert any("no kernel image" in n and "cuda:0" in n for n in r.notes)
    with fake_cuda(1, capability=(8, 6), archs=("sm_80", "sm_90")):
        assert not any("no kernel image" in n for n in core.devices().notes)


@pytest.mark.parametrize(
    ("archs", "cap", "runs"),
    [
        (["sm_80", "sm_90"], (8, 9), True),  # sm_80 cubins run on 8.9
        (["sm_86"], (8, 0), False),  # not on an older minor
        (["sm_90"], (8, 0), False),
        (["sm_80", "compute_90"], (10, 0), True),  # PTX for newer GPUs
        (["sm_80"], (10, 0), False),
    ],
)
def test_arch_compatibility_rule(archs, cap, runs):
    assert inventory._arch_runs(archs, *cap) is runs


def test_cuda_visible_devices_changed_after_cuda_started(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    with fake_cuda(2, started=True), patch("torch.cuda._device_count_nvml", return_value=-1):
        r = core.devices()
    note = next(n for n in r.notes if "CUDA_VISIBLE_DEVICES" in n)
    assert "'0' (1 GPU)" in note and "with 2" in note and "cannot take effect" in note
    # NVML's count of what the variable asks for now is used where it answers
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    with fake_cuda(2, started=True), patch("torch.cuda._device_count_nvml", return_value=2):
        assert not any("CUDA_VISIBLE_DEVICES" in n for n in core.devices().notes)
    # before CUDA starts, the variable still takes effect: nothing to say
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    with patch("torch.cuda.is_initialized", return_value=False):
        assert inventory._visible_devices_note() is None


def test_other_accelerators_through_torch_accelerator():
    with ExitStack() as s:
        s.enter_context(patch("torch.accelerator.current_accelerator", return_value=torch.device("xpu")))
        s.enter_context(patch("torch.xpu.is_available", return_value=True))
        s.enter_context(patch("torch.xpu.device_count", return_value=1))
        s.enter_context(patch("torch.xpu.get_device_properties", return_value=SimpleNamespace(name="Intel Arc Test", total_memory=16 * GiB)))
        s.enter_context(patch("torch.accelerator.get_memory_info", return_value=(10 * GiB, 16 * GiB)))
        s.enter_context(patch("torch.accelerator.memory_allocated", return_value=2**20))
        s.enter_context(patch("torch.accelerator.memory_reserved", return_value=2**21))
        s.enter_context(patch("torch.accelerator.current_device_index", return_value=0))
        r = core.devices()
        assert core.resolve("xpu:0") == torch.device("xpu:0")
    xpu = r.device("xpu:0")
    assert (xpu.model, xpu.memory_free, xpu.memory_total, xpu.memory_allocated) == ("Intel Arc Test", 10 * GiB, 16 * GiB, 2**20)
    assert r.auto == "xpu:0"
    assert r.torch["accelerator"] == "xpu"


def test_mocked_apple_gpu_through_mps():
    with ExitStack() as s:
        s.enter_context(patch("torch.backends.mps.is_built", return_value=True))
        s.enter_context(patch("torch.backends.mps.is_available", return_value=True))
        s.enter_context(patch("torch.mps.recommended_max_memory", return_value=16 * GiB))
        s.enter_context(patch("torch.mps.driver_allocated_memory", return_value=4 * GiB))
        s.enter_context(patch("torch.mps.current_allocated_memory", return_value=3 * GiB))
        r = core.devices()
        assert core.resolve("mps") == torch.device("mps")
        with pytest.raises(InputError, match="There is no device 'mps:1' here; devices here: cpu, mps."):
            core.resolve("mps:1")
    mps = r.device("mps")
    assert (mps.memory_total, mps.memory_free, mps.memory_allocated, mps.memory_reserved) == (16 * GiB, 12 * GiB, 3 * GiB, 4 * GiB)
    assert r.auto == "mps" and r.torch["mps"] is True
    assert not any("No CUDA or MPS" in n for n in r.notes)
    with patch("torch.backends.mps.is_built", return_value=True), patch("torch.backends.mps.is_available", return_value=False):
        r = core.devices()
    assert r.device("mps").available is False and r.auto == "cpu"
    assert any("MPS is built in but not available" in n for n in r.notes)


def test_mocked_rocm_gpu_shows_its_gfx_arch():
    with fake_cuda(1), patch("torch.version.hip", new="6.2"), patch(
        "torch.cuda.get_device_properties",
        return_value=SimpleNamespace(name="AMD Instinct MI300X", major=9, minor=4, total_memory=192 * GiB, multi_processor_count=304, gcnArchName="gfx942"),
    ):
        r = core.devices()
    gpu = r.device("cuda:0")
    assert (gpu.model, gpu.capability) == ("AMD Instinct MI300X", "gfx942")
    assert "304 compute units" in gpu.details
    assert "ROCm 6.2" in r.to_text()
    assert not any("no kernel image" in n for n in r.notes)  # the sm_ rule is for CUDA only


# -- choosing a device --------------------------------------------------------------------------------


@pytest.mark.skipif(not NO_REAL_GPU, reason="this machine has a GPU")
def test_device_cuda_fails_cleanly_here(ip):
    result, captured = run(ip, "%device cuda")
    assert "There is no CUDA device here" in captured.stderr + captured.stdout
    assert "devices here: cpu." in captured.stderr + captured.stdout
    assert "Traceback" not in captured.stderr + captured.stdout
    assert torch.get_default_device() == torch.device("cpu")
    with pytest.raises(UsageError, match="devices here: cpu"):
        ip.run_line_magic("device", "mps")


@pytest.mark.skipif(not NO_REAL_GPU, reason="this machine has a GPU")
def test_device_auto_picks_the_cpu_here(ip):
    r = ip.run_line_magic("device", "auto")
    assert (r.requested, r.default, r.changed) == ("auto", "cpu", False)
    assert r.notes[0] == "auto chose cpu, the best device here."
    assert "nothing changed" in r.to_text()


def test_device_meta_then_cpu_changes_where_new_tensors_go(ip):
    r = ip.run_line_magic("device", "meta")
    assert (r.previous, r.default, r.changed) == ("cpu", "meta", True)
    assert torch.empty(2).device.type == "meta"
    r = ip.run_line_magic("device", "CPU")  # any case
    assert (r.previous, r.default, r.changed) == ("meta", "cpu", True)
    assert torch.empty(2).device.type == "cpu"
    assert names._default_raw() is None  # torch's own default again: no per-call cost left


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("gpu", "'gpu' is not a device name"),
        ("cpu:1", "There is only one cpu device"),
        ("a b", "give one device"),
        ("--bogus", "unrecognized arguments"),
    ],
)
def test_bad_device_lines_get_one_sentence(ip, line, message):
    with pytest.raises(UsageError, match=message):
        ip.run_line_magic("device", line)
    assert torch.get_default_device() == torch.device("cpu")


def test_mocked_cuda_3_lists_what_exists_and_changes_nothing(ip):
    with fake_cuda(2):
        with pytest.raises(UsageError) as e:
            ip.run_line_magic("device", "cuda:3")
    assert str(e.value) == "There is no device 'cuda:3' here; devices here: cpu, cuda:0, cuda:1."
    assert names._default_raw() is None


def test_mocked_set_default_to_cuda_1_and_auto(ip):
    with fake_cuda(2), patch.object(names, "_probe") as probe:
        r = ip.run_line_magic("device", "cuda:1")
        assert probe.call_args.args == (torch.device("cuda:1"),)
        assert (r.previous, r.default, r.changed) == ("cpu", "cuda:1", True)
        assert r.device.model == "NVIDIA Test GPU 1"
        assert torch.get_default_device() == torch.device("cuda:1")
        assert "New tensors now go to cuda:1 (before: cpu)." in r.to_text()
        r = ip.run_line_magic("device", "auto")
        assert (r.previous, r.default) == ("cuda:1", "cuda:0")
        r = ip.run_line_magic("device", "cuda")  # follows the current GPU, shown with its index
        assert r.default == "cuda:0"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a torch that cannot really allocate on CUDA")
def test_a_device_torch_cannot_use_fails_before_anything_changes(ip):
    # torch 'sees' a GPU but cannot allocate on it (here: a CPU build): the probe says so
    with fake_cuda(1):
        with pytest.raises(UsageError, match="cuda:0 is present but torch cannot use it"):
            ip.run_line_magic("device", "cuda:0")
    assert names._default_raw() is None


def test_ctrl_c_while_setting_leaves_the_default(ip):
    with patch("torch.set_default_device", side_effect=[KeyboardInterrupt, None]) as setter:
        with pytest.raises(KeyboardInterrupt):
            core.set_default_device("meta")
    assert setter.call_args_list[-1].args == (None,)  # put back what it was
    assert torch.empty(1).device.type == "cpu"


# -- moving variables ------------------------------------------------------------------------------------


def test_move_to_where_they_are_keeps_the_same_objects(ip):
    ip.run_cell("import torch\nx = torch.ones(3)\ny = torch.ones(2, requires_grad=True)")
    x, y = ip.user_ns["x"], ip.user_ns["y"]
    r = ip.run_line_magic("device", "--move x y cpu")
    assert ip.user_ns["x"] is x and ip.user_ns["y"] is y
    assert [(v.name, v.moved, v.bytes) for v in r.variables] == [("x", False, 12), ("y", False, 8)]
    assert r.to_text().startswith("Nothing to move: x, y already on cpu.")


def test_move_copies_and_keeps_autograd_meaning():
    x = torch.arange(6.0).reshape(2, 3)
    w = torch.ones(3, requires_grad=True)
    w.grad = torch.full((3,), 7.0)
    p = torch.nn.Parameter(torch.ones(2))
    h = w * 2  # inside a graph
    v = x[0]  # a view of x
    ns = {"x": x, "w": w, "p": p, "h": h, "v": v, "alias": x}
    r = moving._move(ns, ["x", "w", "p", "h", "v", "alias"], torch.device("meta"))

    assert all(ns[n].device.type == "meta" for n in ns)
    assert ns["w"].is_leaf and ns["w"].requires_grad and ns["w"].grad.device.type == "meta"
    assert ns["w"].grad.shape == (3,)
    assert type(ns["p"]) is torch.nn.Parameter and ns["p"].requires_grad
    assert ns["h"].grad_fn is not None and ns["h"].grad_fn.name() == "ToCopyBackward0"
    assert ns["alias"] is ns["x"]  # one object under two names stays one object
    # the originals are untouched
    assert x.device.type == "cpu" and w.grad.tolist() == [7.0, 7.0, 7.0] and w.is_leaf
    rows = {v.name: v for v in r.variables}
    assert rows["w"].autograd == "still a leaf that requires grad; .grad moved along"
    assert rows["p"].autograd == "still a leaf that requires grad; it had no .grad yet"
    assert rows["h"].autograd.startswith("still in its graph")
    assert rows["alias"].kind == "same object as x" and not rows["alias"].moved
    assert (rows["x"].bytes, rows["x"].shape, rows["x"].dtype, rows["x"].source) == (24, [2, 3], "float32", "cpu")
    assert r.bytes == 24 + 12 + 8 + 12 + 12 and r.device == "meta"
    assert all(rows[n].seconds is not None and rows[n].seconds >= 0 for n in "xwphv")
    assert any(n.startswith("x, w, p, h and v now name new tensors on meta") for n in r.notes)
    assert any(n.startswith("x and v shared memory before the move") for n in r.notes)
    assert "Moved 5 variables to meta: 68 B in" in r.to_text()


def test_move_module_in_place_and_says_whether_parameters_are_the_same_objects():
    m = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    m[0].weight.grad = torch.ones(2, 3)
    weight = m[0].weight
    ns = {"m": m}
    r = moving._move(ns, ["m"], torch.device("meta"))
    assert ns["m"] is m and m[0].weight.device.type == "meta" and m[1].running_mean.device.type == "meta"
    assert m[0].weight.grad is not None and m[0].weight.grad.device.type == "meta"
    row = r.variables[0]
    assert (row.kind, row.size, row.moved) == ("module (Sequential)", "4 parameters, 3 buffers", True)
    assert row.bytes == 4 * (6 + 2 + 2 + 2) + 4 * 2 + 4 * 2 + 8  # params, running mean/var, the int64 count
    # torch swaps in new Parameter objects for meta (on CUDA it keeps them); the report tells which
    assert m[0].weight is not weight
    assert row.autograd == "the module now holds new parameter objects: make optimizers after moving; .grad moved along"
    assert not any("now name new tensors" in n for n in r.notes)  # a module stays the same object


def test_modules_move_first_and_rows_keep_the_users_order():
    seen = []
    real_module, real_tensor = moving._move_module, moving._move_tensor

    def module_first(name, *a, **k):
        seen.append(name)
        return real_module(name, *a, **k)

    def tensor_later(name, *a, **k):
        seen.append(name)
        return real_tensor(name, *a, **k)

    ns = {"t": torch.ones(2), "m": torch.nn.Linear(2, 2)}
    with patch.object(moving, "_move_module", side_effect=module_first), patch.object(moving, "_move_tensor", side_effect=tensor_later):
        r = moving._move(ns, ["t", "m"], torch.device("meta"))
    assert seen == ["m", "t"]
    assert [v.name for v in r.variables] == ["t", "m"]


class _FailingModule(torch.nn.Module):
    """Moves its first parameter, then fails, as an out-of-memory error halfway would."""

    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self.a = torch.nn.Parameter(torch.ones(2))
        self.b = torch.nn.Parameter(torch.ones(2))
        self.error = error

    def _apply(self, fn, recurse=True):
        self._parameters["a"] = torch.nn.Parameter(fn(self.a.data))
        raise self.error


@pytest.mark.parametrize("error", [RuntimeError("CUDA out of memory. Tried to allocate 2 GiB"), KeyboardInterrupt()])
def test_move_is_all_or_nothing(error):
    good = torch.nn.Linear(2, 2)
    good.weight.grad = torch.ones(2, 2)
    t = torch.ones(4)
    bad = _FailingModule(error)
    weight, bias = good.weight, good.bias
    ns = {"good": good, "t": t, "bad": bad}
    before = dict(ns)
    expected = pytest.raises(InputError) if isinstance(error, Exception) else pytest.raises(KeyboardInterrupt)
    with expected as e:
        moving._move(ns, ["good", "t", "bad"], torch.device("meta"))
    assert ns == before and all(ns[k] is before[k] for k in ns)
    assert good.weight is weight and good.bias is bias  # the slots hold the original objects again
    assert good.weight.device.type == "cpu" and good.weight.grad.device.type == "cpu"
    assert bad.a.device.type == "cpu" and bad.b.device.type == "cpu"
    if isinstance(error, Exception):
        assert str(e.value) == "Could not move 'bad' to meta: CUDA out of memory. Tried to allocate 2 GiB; nothing was moved."


def test_a_failing_second_tensor_leaves_the_first_name_alone():
    real = moving._move_tensor
    calls = []

    def second_fails(name, *a, **k):
        calls.append(name)
        if len(calls) == 2:
            raise RuntimeError("CUDA out of memory.")
        return real(name, *a, **k)

    t1, t2 = torch.ones(2), torch.ones(3)
    ns = {"t1": t1, "t2": t2}
    with patch.object(moving, "_move_tensor", side_effect=second_fails), pytest.raises(InputError, match="^Could not move 't2' to meta: CUDA out of memory; nothing was moved.$"):
        moving._move(ns, ["t1", "t2"], torch.device("meta"))
    assert calls == ["t1", "t2"]
    assert ns["t1"] is t1 and ns["t2"] is t2


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a torch that cannot really allocate on CUDA")
def test_mocked_move_to_a_gpu_torch_cannot_reach_moves_nothing(ip):
    ip.run_cell("import torch\nx = torch.ones(3)\nm = torch.nn.Linear(2, 2)")
    x, m = ip.user_ns["x"], ip.user_ns["m"]
    with fake_cuda(2), patch.object(names, "_probe"):
        with pytest.raises(UsageError, match=r"^Could not move 'm' to cuda:1: .*; nothing was moved\.$"):
            ip.run_line_magic("device", "--move m x cuda:1")
    assert ip.user_ns["x"] is x and m.weight.device.type == "cpu"


@pytest.mark.parametrize(
    ("setup", "line", "message"),
    [
        ("n = 3", "--move n cpu", "'n' is an int, not a tensor or a torch module; nothing was moved."),
        ("", "--move nope cpu", "There is no variable named 'nope' in your namespace; nothing was moved."),
        ("import torch; x = torch.ones(1)", "--move x meta", "Moving to meta would throw the values away"),
        ("import torch; x = torch.ones(1)", "--move x", "the last word must be the device to move to"),
        ("", "--move cpu", "name the variables to move to cpu"),
        ("", "--move", "name the variables and then the device"),
    ],
)
def test_move_errors_are_one_sentence_and_change_nothing(ip, setup, line, message):
    ip.run_cell(setup)
    before = {k: v for k, v in ip.user_ns.items() if k in ("n", "x")}
    with pytest.raises(UsageError) as e:
        ip.run_line_magic("device", line)
    assert message in str(e.value)
    assert all(ip.user_ns[k] is v for k, v in before.items())


# -- what the user sees ------------------------------------------------------------------------------


def test_magic_report_as_the_user_sees_it(ip):
    result, captured = run(ip, "%device")
    assert result.success
    assert "Devices torch can use — new tensors go to cpu" in captured.stdout
    assert "this process" in captured.stdout and "by this process" in captured.stdout
    r = ip.run_line_magic("device", "")
    assert isinstance(r, core.DeviceReport)


def test_mime_bundle_offers_widget_html_and_text_and_escapes(ip):
    with fake_cuda(1, names=["<script>alert(1)</script>"]):
        r = ip.run_line_magic("device", "")
    data, _ = ip.display_formatter.format(r)
    assert {"text/plain", "text/html", "application/vnd.jupyter.widget-view+json"} <= set(data)
    assert "<script>alert(1)</script>" not in data["text/html"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in data["text/html"]
    assert "<script>alert(1)</script>" in data["text/plain"]  # text stays text
    assert "VBox(" not in data["text/plain"]
    label = r.to_widget().children[1].children[3]
    assert "&lt;script&gt;" in label.value and "<script>" not in label.value


def test_widget_table_with_memory_bars_and_refresh():
    import ipywidgets as widgets

    with fake_cuda(2) as state:
        r = core.devices()
        box = r.to_widget()
        header, grid, footer, refresh = box.children
        assert isinstance(refresh, widgets.Button) and refresh.description == "Refresh"
        assert len(grid.children) == 3 * len(r.devices)  # name, bar, numbers per device
        bar0 = grid.children[4]
        assert isinstance(bar0, widgets.FloatProgress)
        assert bar0.value == pytest.approx(1 - 70 / 80) and bar0.bar_style == "info"
        assert "70 GiB free of 80 GiB" in grid.children[5].value
        assert "CUDA 12.4" in footer.value
        state["free"][0] = 4 * GiB  # someone filled the GPU
        refresh.click()
        bar0 = grid.children[4]
        assert bar0.value == pytest.approx(1 - 4 / 80) and bar0.bar_style == "danger"
        assert "4 GiB free of 80 GiB" in grid.children[5].value
        assert "read again at" in header.value
    assert r.to_widget() is box  # built once, kept


def test_short_reports_have_html_and_a_widget():
    import ipywidgets as widgets

    d = core.set_default_device("meta")
    assert "New tensors now go to meta (before: cpu)." in d.to_html()
    assert isinstance(d.to_widget(), widgets.HTML) and "meta" in d.to_widget().value
    assert d.to_dict()["default"] == "meta" and d.to_dict()["changed"] is True
    m = moving._move({"x": torch.ones(2, device="cpu")}, ["x"], torch.device("meta"))
    html = m.to_html()
    assert "Moved 1 variable to meta: 8 B in" in html and "<td>x</td>" in html
    assert m.to_dict()["variables"][0]["name"] == "x" and json.dumps(m.to_dict())


def test_text_form_fits_terminal_readers():
    text = core.devices().to_text()
    assert text.splitlines()[0].startswith("Devices torch can use")
    assert "% used" in text and "torch " + torch.__version__ in text


# -- the GPU check script --------------------------------------------------------------------------------


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU: the script would run for real")
def test_gpu_check_script_says_it_needs_a_gpu_and_exits_0():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_check.py")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "gpu_check needs a CUDA GPU" in out.stdout and "nothing was checked" in out.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU the script runs for real: run bench/gpu_check.py")
def test_gpu_check_script_reports_every_step_even_when_magics_fail(ip, capsys):
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "bench" / "gpu_check.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    with fake_cuda(1), patch.object(script, "BIG", 10):  # no 400 MB here
        status = script.main()
    out = capsys.readouterr().out
    assert status == 1  # the GPU is pretend: moving to it fails, and the script says so
    for title in ("=== %device\n", "=== %device --move t w cuda", "=== %tensorinfo t", "=== %alias_check a b c", "=== %%gradient --device cuda"):
        assert title in out
    assert "FAILED: UsageError: cuda:0 is present but torch cannot use it" in out
    assert "steps:" in out and "failed" in out
    assert names._default_raw() is None


def test_public_api_twins_survive_the_magic_importing_the_core(ip):
    import doctest

    import autodiff_magics as adm

    ip.run_line_magic("device", "")  # imports the core module first
    assert isinstance(adm.devices(), adm.DeviceReport)
    assert adm.set_default_device("cpu").default == "cpu"
    assert adm.move({"x": torch.ones(1)}, ["x"], "cpu").variables[0].moved is False
    if NO_REAL_GPU:  # the docstring examples show this machine's answers
        import builtins

        had_underscore = "_" in builtins.__dict__
        try:
            results = [doctest.testmod(importlib.import_module(f"autodiff_magics.device.{m}")) for m in ("inventory", "default", "moving", "names")]
            results.append(doctest.testmod(core))
        finally:
            # doctest's plain displayhook sets builtins._, after which IPython stops updating _
            if not had_underscore:
                builtins.__dict__.pop("_", None)
        assert sum(r.attempted for r in results) >= 5 and sum(r.failed for r in results) == 0
