"""Terminal IPython: every magic, typed at a real prompt_toolkit prompt in a pseudo-terminal.

A terminal shows only ``text/plain``: each report must read as clean text there, with no widget
repr (``VBox(children=…``) and no traceback.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

pexpect = pytest.importorskip("pexpect", reason="pip install pexpect (in the [test] extra)")

from .jupyter_env import REPO, alive, stop_pids  # noqa: E402

pytestmark = pytest.mark.terminal

#: ANSI control sequences prompt_toolkit writes: colours, cursor moves, modes, titles
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>78]")
WIDGET_REPRS = ("VBox(", "HBox(", "Accordion(", "<autodiff_magics.", "Output()", "object at 0x")


class Terminal:
    """A terminal IPython on a pseudo-terminal; ``run(cell)`` types a cell and returns what it printed."""

    def __init__(self, tmp: Path) -> None:
        ipython_dir = tmp / "ipython"
        ipython_dir.mkdir()
        env = dict(os.environ, IPYTHONDIR=str(ipython_dir), TERM="xterm-256color", PROMPT_TOOLKIT_NO_CPR="1")
        env["PYTHONPATH"] = os.pathsep.join(p for p in [str(REPO / "src"), env.get("PYTHONPATH", "")] if p)
        self.child = pexpect.spawn(
            sys.executable,
            ["-m", "IPython", "--no-banner", "--colors=nocolor", "--HistoryManager.hist_file=:memory:",
             "--TerminalInteractiveShell.confirm_exit=False", "--TerminalInteractiveShell.autoindent=False"],
            env=env, cwd=str(tmp), dimensions=(60, 220), encoding="utf-8", timeout=120,
        )
        self.number = 1
        self.child.expect(r"In \[1\]:")

    def run(self, cell: str) -> str:
        """Type ``cell`` (a multi-line cell as one bracketed paste) and wait for the next prompt."""
        after = rf"In \[{self.number + 1}\]:"
        self.child.send("\x1b[200~" + cell + "\x1b[201~")
        # one Enter runs a line; a cell magic ends at an empty line, which takes up to two more
        for _ in range(3):
            self.child.send("\r")
            if self.child.expect([after, pexpect.TIMEOUT], timeout=3 if "\n" in cell else 120) == 0:
                break
        else:
            self.child.expect(after, timeout=120)
        self.number += 1
        text = ANSI.sub("", self.child.before).replace("\r", "")
        # what the cell printed comes after the last redraw of its input
        last_line = cell.splitlines()[-1]
        return text[text.rfind(last_line) + len(last_line):] if last_line in text else text

    def close(self) -> None:
        pid = self.child.pid
        if self.child.isalive():
            self.child.sendline("exit")
            try:
                self.child.expect(pexpect.EOF, timeout=15)
            except pexpect.TIMEOUT:
                pass
        self.child.close(force=True)
        if alive(pid):
            stop_pids([pid])


@pytest.fixture(scope="module")
def term(tmp_path_factory):
    t = Terminal(tmp_path_factory.mktemp("terminal"))
    try:
        assert t.run("%load_ext autodiff_magics").strip() == ""
        t.run("import torch, numpy as np")
        yield t
    finally:
        t.close()


def clean(text: str) -> str:
    assert "Traceback" not in text, text
    for bad in WIDGET_REPRS:
        assert bad not in text, f"{bad!r} in:\n{text}"
    return text


def test_tensorinfo_reads_the_shape(term):
    out = clean(term.run("%tensorinfo torch.ones(3, 4, 5)"))
    assert "Out[" in out
    assert "3 matrices of 4 rows × 5 columns" in out
    assert "float32" in out and "60" in out


def test_tensorinfo_shows_the_graph_of_f2_as_a_tree(term):
    term.run("x0 = torch.tensor([1., 2., 3.], requires_grad=True)")
    out = clean(term.run("f2 = 3 * x0[0] * x0[2] - 2 * x0[1]**2 + 5 * x0[2]**3\n%tensorinfo f2"))
    assert "AddBackward0" in out
    assert re.search(r"#1 add", out) and "└─" in out and "x0" in out


def test_alias_check_says_who_shares(term):
    term.run("x = torch.rand(2, 3); y = x.numpy(); y_copy = x.clone().numpy()")
    out = clean(term.run("%alias_check x y y_copy"))
    assert re.search(r"x\s+.*y.*shared", out) or "x and y" in out
    assert "independent" in out


def test_alias_check_cell_names_the_silent_change(term):
    out = clean(term.run("%%alias_check\nx.mul_(2)"))
    assert "changed silently" in out
    assert re.search(r"\by\b.*through x", out)


def test_device_lists_the_cpu(term):
    out = clean(term.run("%device"))
    assert "Devices torch can use" in out
    assert re.search(r"^cpu\s", out, re.M)


def test_gradient_catches_the_lessons_slip(term):
    out = clean(term.run("%%gradient x=[1., 2., 3.] --expect [3, -8, 144]\n3*x[0]*x[2] - 2*x[1]**2 + 5*x[2]**3"))
    assert "expect disagrees with symbolic at x[0], x[2]" in out
    assert re.search(r"x\[2\]\s+138\s+138\s.*144 ✗", out)
    assert "#1 add · AddBackward0" in out  # the graph, as a text tree


def test_a_mistake_is_one_sentence(term):
    out = term.run("%tensorinfo no_such_name")
    assert "UsageError" in out and "no_such_name" in out
    assert "Traceback" not in out
    assert len([ln for ln in out.strip().splitlines() if ln.strip()]) <= 3


def test_a_semicolon_hides_the_report_and_assignment_keeps_it(term):
    assert term.run("%tensorinfo x;").strip() == ""
    assert term.run("r = %tensorinfo x").strip() == ""
    out = clean(term.run("type(r).__name__, r.to_dict()['shape']"))
    assert re.search(r"\('\w+Report', \[2, 3\]\)", out)
