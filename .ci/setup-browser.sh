#!/usr/bin/env bash
# The dashboard's browser tests (tests/api/test_browser*.py): Debian's chromium driven by Playwright for Python with
# executable_path=/usr/bin/chromium. No browser is downloaded (PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1; `playwright
# install` is never run): chromium comes from apt, the playwright package from PyPI (the `dev` extra).
# Idempotent and quick when everything is installed. Usage: VENV=.venv bash .ci/setup-browser.sh
set -euo pipefail

cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = "0" ]; then
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null
  else
    sudo apt-get update -q >/dev/null
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null
  fi
  echo "setup-browser: installed chromium from apt"
fi

if ! "$VENV/bin/python" -c "import playwright.sync_api" 2>/dev/null; then
  "$VENV/bin/pip" install -q 'playwright>=1.45'
  echo "setup-browser: installed playwright"
fi
echo "setup-browser: /usr/bin/chromium and playwright ready"
