#!/usr/bin/env bash
# Install from scratch and run the tour: the lesson's examples through the magics, as text.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --python-only
.venv/bin/python -m autodiff_magics
