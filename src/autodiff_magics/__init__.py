"""autodiff-magics: IPython magics to learn, teach and debug automatic differentiation.

``%load_ext autodiff_magics`` adds ``%%gradient``, ``%tensorinfo``, ``%alias_check`` and
``%device``. Each magic has a function twin here that returns the same report, importable
without IPython::

    >>> import autodiff_magics as adm
    >>> r = adm.gradient("3*x[0]*x[2] - 2*x[1]**2 + 5*x[2]**3", x=[1.0, 2.0, 3.0])
    >>> r.value, r.gradient["x"].tolist(), r.agree
    (136.0, [9.0, -8.0, 138.0], True)

Nothing heavy is imported here: torch, SymPy and ipywidgets load on first use.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

__version__ = "0.1.0"

#: public name -> module that defines it (imported on first access)
_API = {
    "gradient": "gradient",
    "GradientReport": "gradient",
    "grad_graph": "graph",
    "GraphReport": "graph",
    "tensorinfo": "tensors",
    "alias_check": "aliasing",
    "devices": "device",
    "set_default_device": "device",
    "move": "device",
    "DeviceReport": "device",
    "InputError": "errors",
    "Settings": "settings",
}

__all__ = [*_API, "load_ipython_extension", "unload_ipython_extension", "__version__"]


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'autodiff_magics' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def load_ipython_extension(ipython) -> None:
    """Register the magics (``%load_ext autodiff_magics``); imports nothing heavy."""
    from .magics import AutodiffMagics

    if "AutodiffMagics" in ipython.magics_manager.registry:
        return
    ipython.register_magics(AutodiffMagics)
    cleanup = getattr(ipython, "input_transformers_cleanup", None)
    if cleanup is not None and _semicolon_after_name not in cleanup:
        cleanup.append(_semicolon_after_name)


def _semicolon_after_name(lines: list[str]) -> list[str]:
    """``%device;`` (no space before the ;, output hidden) is ``%device ;``: IPython would look
    for a magic named ``device;``. Only this package's line magics, only a ; right after the name."""
    return [_SEMICOLON.sub(r"\1 ;", line) for line in lines]


_SEMICOLON = re.compile(r"^(\s*%(?:device|tensorinfo|alias_check));")


def unload_ipython_extension(ipython) -> None:
    """Remove every magic, setting and reference the extension added."""
    from .magics import AutodiffMagics

    manager = ipython.magics_manager
    instance = manager.registry.pop("AutodiffMagics", None)
    for kind, names in AutodiffMagics.magics.items():
        for name in names:
            manager.magics[kind].pop(name, None)
    if instance is not None and instance in ipython.configurables:
        ipython.configurables.remove(instance)
    cleanup = getattr(ipython, "input_transformers_cleanup", None)
    if cleanup is not None and _semicolon_after_name in cleanup:
        cleanup.remove(_semicolon_after_name)
