#!/usr/bin/env bash
# SQL Server connector prerequisites: unixODBC headers (pyodbc builds against them when no wheel fits) and the
# FreeTDS ODBC driver, registered with unixODBC as "FreeTDS". Microsoft's "ODBC Driver 18 for SQL Server" is preferred
# when a user has it, but it is not in Debian, so CI tests the driver path through FreeTDS.
# Idempotent; needs root (apt-get). Usage: bash .ci/setup-sqlserver.sh [path/to/venv/bin/pip]
set -euo pipefail

PIP="${1:-.venv/bin/pip}"

if ! odbcinst -q -d 2>/dev/null | grep -qx '\[FreeTDS\]'; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq unixodbc-dev tdsodbc >/dev/null
fi

# Debian's tdsodbc registers the driver itself; register it by hand when a package did not.
if ! odbcinst -q -d 2>/dev/null | grep -qx '\[FreeTDS\]'; then
  lib="$(find /usr/lib -name libtdsodbc.so -print -quit)"
  if [ -z "$lib" ]; then
    echo "setup-sqlserver: libtdsodbc.so not found after installing tdsodbc" >&2
    exit 1
  fi
  tmp="$(mktemp)"
  printf '[FreeTDS]\nDescription=FreeTDS ODBC driver for SQL Server\nDriver=%s\n' "$lib" >"$tmp"
  odbcinst -i -d -f "$tmp"
  rm -f "$tmp"
fi

"$PIP" install -q 'pyodbc>=5'
odbcinst -q -d | grep -qx '\[FreeTDS\]'
echo "setup-sqlserver: FreeTDS ODBC driver registered, pyodbc installed"
