"""Display and computation settings shared by the magics, the API and the views.

The defaults live here, in one place. In IPython they are traitlets on ``AutodiffMagics`` (so
``%config AutodiffMagics.widgets = False`` works); :func:`current` reads them from the loaded
extension, and falls back to these defaults outside IPython.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass

__all__ = ["Settings", "current", "from_object"]


@dataclass(frozen=True)
class Settings:
    """Every tunable of the package, with its default."""

    #: offer an ipywidgets view beside text/html and text/plain
    widgets: bool = True
    #: symbolic differentiation is skipped above this many scalar variables
    symbolic_limit: int = 64
    #: per-coordinate finite differences are replaced by the directional check above this size
    fd_limit: int = 1000
    #: random directions used by the directional check
    directions: int = 3
    #: text graph tree: deepest level printed, and most nodes printed
    text_depth: int = 12
    text_nodes: int = 60
    #: static HTML: most characters of one report's HTML (graph trees are cut to fit)
    html_budget: int = 200_000
    #: widget tree: children shown per page before "show more"
    page_size: int = 50
    #: grad_fn graphs: nodes (the first, depth-first) whose shape, saved values and gradient are recorded
    graph_details: int = 500
    #: %%alias_check: largest object (bytes) fingerprinted before and after the cell
    fingerprint_budget: int = 256 * 2**20


_DEFAULTS = Settings()


def current() -> Settings:
    """The settings of the loaded extension in the running IPython, else the defaults."""
    if "IPython" not in sys.modules:
        return _DEFAULTS
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        return _DEFAULTS
    magics = shell.magics_manager.registry.get("AutodiffMagics")
    return _DEFAULTS if magics is None else from_object(magics)


def from_object(obj: object) -> Settings:
    """Settings read from the same-named attributes of ``obj`` (the magics' traitlets)."""
    return Settings(**{f.name: getattr(obj, f.name) for f in dataclasses.fields(Settings)})
