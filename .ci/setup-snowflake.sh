#!/usr/bin/env bash
# Snowflake connector prerequisites in the project venv: the official driver and the fakesnow stand-in the tests use.
# fakesnow speaks Snowflake's HTTP protocol to the real driver but supports snowflake-connector-python < 5 only, and it
# pins sqlglot (~=30.22) — so the driver is pinned here, for the test environment.
# Idempotent and quick when everything is installed. Usage: VENV=.venv bash .ci/setup-snowflake.sh
set -euo pipefail

cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PY="$VENV/bin/python"

if "$PY" - <<'PY' 2>/dev/null
import importlib.metadata as md, sys
from packaging.version import Version
v = Version(md.version("snowflake-connector-python"))
md.version("fakesnow"); md.version("uvicorn"); md.version("cryptography")
sys.exit(0 if Version("3.10") <= v < Version("5") else 1)
PY
then
  echo "setup-snowflake: snowflake-connector-python and fakesnow[server] already installed"
  exit 0
fi

"$VENV/bin/pip" install -q 'snowflake-connector-python>=3.10,<5' 'fakesnow[server]' 'cryptography'
echo "setup-snowflake: installed snowflake-connector-python<5, fakesnow[server]"
