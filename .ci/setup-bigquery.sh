#!/usr/bin/env bash
# BigQuery connector prerequisites:
# - the official client in the project venv (google-cloud-bigquery);
# - the crucible-emulator (a local BigQuery REST endpoint the tests start with `crucible serve --dialect bigquery`) in
#   its OWN venv, .venv-crucible (gitignored): it pins a different duckdb than fakesnow in the project venv.
# Idempotent and quick when everything is installed. Usage: VENV=.venv bash .ci/setup-bigquery.sh
set -euo pipefail

cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
CRUCIBLE_VENV="${CRUCIBLE_VENV:-.venv-crucible}"

if ! "$VENV/bin/python" -c "import google.cloud.bigquery" 2>/dev/null; then
  "$VENV/bin/pip" install -q 'google-cloud-bigquery>=3.20'
  echo "setup-bigquery: installed google-cloud-bigquery"
fi

if [ ! -x "$CRUCIBLE_VENV/bin/crucible" ] || ! "$CRUCIBLE_VENV/bin/python" -c "import uvicorn, crucible" 2>/dev/null; then
  [ -x "$CRUCIBLE_VENV/bin/python" ] || python3 -m venv "$CRUCIBLE_VENV"
  "$CRUCIBLE_VENV/bin/pip" install -q 'crucible-emulator[server]'
  echo "setup-bigquery: installed crucible-emulator[server] into $CRUCIBLE_VENV"
fi
echo "setup-bigquery: google-cloud-bigquery and $CRUCIBLE_VENV/bin/crucible ready"
