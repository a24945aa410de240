"""Views: each report kind has a module here with ``to_text``, ``to_html`` and ``to_widget``.

The shared pieces (number formatting, text tables, escaped HTML) live in :mod:`.common`; ipywidgets
is imported only inside the ``to_widget`` functions.
"""
