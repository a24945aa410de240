#!/usr/bin/env python3
"""Refresh the README's pictures: run the browser test and keep its screenshots in docs/.

    .venv/bin/python scripts/screenshots.py [FOLDER]     # default: docs

The browser test (tests/test_browser.py) runs demo.ipynb in JupyterLab under Chromium, clicks
through the graph and photographs each widget; this runs it with AUTODIFF_MAGICS_SCREENSHOTS set
so the PNGs land in FOLDER, then lists them with their sizes. Look at each picture before
committing it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LIMIT = 200 * 1024  # keep each picture small: the README loads all of them


def main(argv: list[str]) -> int:
    folder = Path(argv[0]) if argv else REPO / "docs"
    folder = folder if folder.is_absolute() else Path.cwd() / folder
    env = dict(os.environ, AUTODIFF_MAGICS_SCREENSHOTS=str(folder), AUTODIFF_MAGICS_REQUIRE_BROWSER="1")
    rc = subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_browser.py"], cwd=REPO, env=env)
    pictures = sorted(folder.glob("*.png"))
    for path in pictures:
        size = path.stat().st_size
        print(f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}  {size / 1024:,.0f} KiB"
              + ("  (over 200 KiB: crop it)" if size > LIMIT else ""))
    if rc == 0 and not pictures:
        print(f"no picture in {folder}", file=sys.stderr)
        return 1
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
