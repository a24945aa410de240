"""The runnable examples in the core modules' docstrings stay true."""

from __future__ import annotations

import builtins
import doctest
import importlib

import pytest


@pytest.mark.parametrize("module", ["autodiff_magics", "autodiff_magics.gradient.check", "autodiff_magics.cell", "autodiff_magics.functions", "autodiff_magics.graph"])
def test_docstring_examples(module):
    had_underscore = "_" in builtins.__dict__
    try:
        result = doctest.testmod(importlib.import_module(module))
    finally:
        if not had_underscore:  # doctest's displayhook sets builtins._, which stops IPython updating _
            builtins.__dict__.pop("_", None)
    assert result.attempted >= 1 and result.failed == 0
