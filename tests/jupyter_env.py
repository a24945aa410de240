"""A private Jupyter environment for the tests that run real kernels, JupyterLab and terminals.

Everything lives in one temporary folder: a kernelspec that starts *this* Python (the venv the
tests run in, whatever kernels the machine has installed), and the config, data, runtime,
settings and IPython folders, so no user setting or startup file changes what the tests see.
Processes the tests start are stopped by process id, never by name.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path

__all__ = [
    "KERNEL_NAME",
    "MAGIC_PREFIXES",
    "REPO",
    "DEMO",
    "WIDGET_MIME",
    "alive",
    "descendants",
    "jupyter_env",
    "magic_cells",
    "pids_with_env",
    "stop_pids",
]

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "demo.ipynb"
KERNEL_NAME = "autodiff-magics-test"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
#: the first word of a cell (or of its last line) that runs one of our magics
MAGIC_PREFIXES = ("%%gradient", "%tensorinfo", "%alias_check", "%%alias_check", "%device")


def jupyter_env(tmp: Path) -> dict[str, str]:
    """Environment variables for a Jupyter confined to ``tmp``, with our kernelspec installed."""
    env = dict(os.environ)
    dirs = {
        "JUPYTER_CONFIG_DIR": "config",
        "JUPYTER_DATA_DIR": "data",
        "JUPYTER_RUNTIME_DIR": "runtime",
        "JUPYTERLAB_SETTINGS_DIR": "settings",
        "JUPYTERLAB_WORKSPACES_DIR": "workspaces",
        "IPYTHONDIR": "ipython",
    }
    for var, sub in dirs.items():
        (tmp / sub).mkdir(parents=True, exist_ok=True)
        env[var] = str(tmp / sub)
    spec_dir = tmp / "data" / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "autodiff-magics tests",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
    # JUPYTER_DATA_DIR is searched first; JUPYTER_PATH too, for clients that read only that
    env["JUPYTER_PATH"] = str(tmp / "data")
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    env.pop("JUPYTER_TOKEN", None)
    # the kernel imports the package from this checkout even when it is not installed
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(REPO / "src"), env.get("PYTHONPATH", "")] if p)
    # the venv's scripts (jupyter, ipython) come first
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def magic_cells(nb) -> list[tuple[int, str]]:
    """(index, magic) of the code cells whose last statement is one of our magics."""
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        lines = [ln for ln in cell.source.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        if not lines:
            continue
        first = lines[0].split()[0]
        if first.startswith("%%") and first in MAGIC_PREFIXES:
            found.append((i, first))
            continue
        last = lines[-1].split()[0]
        if last in MAGIC_PREFIXES and not lines[-1].rstrip().endswith(";"):
            found.append((i, last))
    return found


# -- processes -------------------------------------------------------------------------------------


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc), children before grandchildren."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(0), []):
            out.append(child)
            todo.append(child)
    return out


def pids_with_env(marker: dict[str, str]) -> list[int]:
    """Processes whose environment holds every ``NAME=value`` of ``marker`` (this user's only)."""
    wanted = [f"{k}={v}".encode() for k, v in marker.items()]
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if all(w in env for w in wanted) and alive(int(entry)):
            found.append(int(entry))
    return found


def stop_pids(pids: list[int], grace: float = 5.0) -> list[int]:
    """SIGTERM these processes, SIGKILL any still running after ``grace`` s; return those killed."""
    pids = [p for p in pids if alive(p)]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    end = time.monotonic() + grace
    while time.monotonic() < end and any(alive(p) for p in pids):
        time.sleep(0.05)
    killed = []
    for pid in pids:
        if alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            killed.append(pid)
    return killed
