#!/usr/bin/env bash
# Install what the package and its tests need; safe to run again (it installs only what is missing).
# --python-only: skip the system packages (the tour needs none).
#  - As root on Debian: the system packages of the browser and terminal tests (Debian's chromium,
#    tmux), when missing. Playwright's own browser download is never used.
#  - .venv: torch's CPU build goes in first, so that the project's torch range does not pull a
#    multi-GB CUDA build; then the package, editable, with its test extras.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=()
if [ "${1:-}" != "--python-only" ]; then
    [ -x /usr/bin/chromium ] || apt_packages+=(chromium chromium-driver)
    command -v tmux >/dev/null 2>&1 || apt_packages+=(tmux)
fi
if [ ${#apt_packages[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: apt-get install ${apt_packages[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get -o DPkg::Lock::Timeout=300 update -q
        apt-get -o DPkg::Lock::Timeout=300 install -y -q "${apt_packages[@]}"
    else
        echo "setup: missing ${apt_packages[*]}; as root: apt-get install -y ${apt_packages[*]}" \
             "(without chromium the browser test is skipped)" >&2
    fi
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[test]"
