"""Shared fixtures: a real IPython InteractiveShell with the extension loaded."""

from __future__ import annotations

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output


@pytest.fixture
def ip():
    """A real InteractiveShell with autodiff_magics loaded and a clean user namespace."""
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "autodiff_magics")
    before = set(shell.user_ns)
    yield shell
    for name in set(shell.user_ns) - before:
        shell.user_ns.pop(name, None)


def run(shell: InteractiveShell, source: str):
    """Run a cell as a user would; return (result, captured) with stdout/stderr/outputs."""
    with capture_output() as captured:
        result = shell.run_cell(source, store_history=True)
    return result, captured
