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


@pytest.fixture(params=["kernel", "passes"])
def float_path(request, monkeypatch):
    """Float statistics through the compiled one-pass kernel, and through the NumPy/torch passes
    that stand in where it was not built."""
    from autodiff_magics.tensors import float_fused

    if request.param == "passes":
        monkeypatch.setattr(float_fused, "_module", None)
    elif float_fused.kernel() is None:
        pytest.skip("the compiled statistics kernel was not built (no C compiler at install)")
    return request.param
