"""The base of every result: plain data, one text form, one HTML form and a lazy widget.

A report never holds the user's tensors or an autograd graph, only numbers, strings, shapes and
small previews, so IPython's output cache keeps no memory alive. IPython shows a report through
``_repr_mimebundle_``, which offers the widget view, ``text/html`` and ``text/plain`` together
and lets the frontend pick; a formatter that takes only text (terminal IPython) gets only text,
and no widget is ever built for it.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, ClassVar

from . import settings

__all__ = ["Report"]

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


class Report:
    """Base class of the reports; subclasses are dataclasses and name their views module."""

    #: module under ``autodiff_magics.views`` with ``to_text``, ``to_html`` and ``to_widget``
    _views: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (the documented contract of each report)."""
        raise NotImplementedError

    def _view_module(self):
        return importlib.import_module(f"autodiff_magics.views.{self._views}")

    def to_text(self) -> str:
        """The report as plain text, as terminal IPython shows it."""
        return self._view_module().to_text(self)

    def to_html(self) -> str:
        """The report as static HTML (every user-provided string escaped)."""
        return self._view_module().to_html(self)

    def to_widget(self):
        """The ipywidgets view, built on first call and kept."""
        widget = self.__dict__.get("_widget")
        if widget is None:
            widget = self._view_module().to_widget(self)
            self.__dict__["_widget"] = widget
        return widget

    def __str__(self) -> str:
        return self.to_text()

    def _repr_pretty_(self, p, cycle: bool) -> None:
        p.text(self.to_text())

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, Any]:
        wanted = _rich_types_wanted(include, exclude)
        bundle: dict[str, Any] = {"text/plain": self.to_text()}
        if "text/html" in wanted:
            bundle["text/html"] = self.to_html()
        if WIDGET_MIME in wanted and settings.current().widgets:
            view = self.to_widget()._repr_mimebundle_()
            bundle[WIDGET_MIME] = view[WIDGET_MIME]
        return bundle


def _rich_types_wanted(include, exclude) -> set[str]:
    """The rich mime types to offer: none to a formatter that shows only text."""
    wanted = {"text/html", WIDGET_MIME}
    if include is not None:
        wanted &= set(include)
    if exclude:
        wanted -= set(exclude)
    if "IPython" in sys.modules:
        from IPython import get_ipython

        shell = get_ipython()
        if shell is not None and "text/html" not in shell.display_formatter.active_types:
            return set()
    return wanted
