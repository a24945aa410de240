#!/usr/bin/env bash
# Install what is missing and run the whole test suite (extra arguments go to pytest).
# The browser test skips itself without /usr/bin/chromium unless AUTODIFF_MAGICS_REQUIRE_BROWSER=1.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
.venv/bin/python -m pytest -q "$@"
