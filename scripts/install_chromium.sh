#!/usr/bin/env bash
# Install Debian's headless-capable Chromium for the leaderboard browser test (tests/analysis/test_leaderboard_browser.py).
# Idempotent: does nothing when `chromium` is already on PATH; safe to re-run (CI calls it).
#
# Why Debian's package rather than a pip/npm browser download: those fetch browser builds from CDNs that this
# machine cannot reach; Debian's mirror is reachable and its chromium runs headless without a display.
#
# Usage: scripts/install_chromium.sh        (as root, or with sudo available)
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
    echo "install_chromium.sh: $(chromium --version 2>/dev/null || echo chromium) already installed"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install_chromium.sh: need root (or sudo) to apt-get install chromium" >&2
        exit 1
    fi
fi

$SUDO apt-get update -qq
# fonts-dejavu-core: the screenshot needs at least one font; --no-install-recommends keeps the install small
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core
echo "install_chromium.sh: $(chromium --version) installed"
