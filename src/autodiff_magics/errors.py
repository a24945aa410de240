"""The one exception the core raises for bad input.

The core knows nothing of IPython; the magics turn an :class:`InputError` into IPython's
``UsageError`` so the user sees its one sentence and no traceback.
"""

from __future__ import annotations

__all__ = ["InputError"]


class InputError(ValueError):
    """Bad input, explained in one sentence meant for the user."""
