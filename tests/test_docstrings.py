"""The runnable examples in the core modules' docstrings stay true."""

from __future__ import annotations

import builtins
import doctest
import importlib

import pytest


MODULES = [
    "autodiff_magics", "autodiff_magics.gradient.check", "autodiff_magics.cell", "autodiff_magics.functions", "autodiff_magics.graph",
    "autodiff_magics.symbolic", "autodiff_magics.symbolic.engine", "autodiff_magics.symbolic.recording",
    "autodiff_magics.tensors", "autodiff_magics.tensors.summary", "autodiff_magics.tensors.words",
    "autodiff_magics.aliasing", "autodiff_magics.aliasing.comparison",
]


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples(module):
    had_underscore = "_" in builtins.__dict__
    try:
        result = doctest.testmod(importlib.import_module(module))
    finally:
        if not had_underscore:  # doctest's displayhook sets builtins._, which stops IPython updating _
            builtins.__dict__.pop("_", None)
    assert result.attempted >= 1 and result.failed == 0
