#!/usr/bin/env bash
# Installs Debian's chromium for tests/test_browser.py where it is missing. The tests
# drive it with Playwright's Python package; `playwright install` (which downloads its
# own browsers) is never needed.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
    echo "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo present)"
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends chromium
/usr/bin/chromium --version
