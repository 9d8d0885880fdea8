"""Without the Snowflake or BigQuery driver, `import connectors` works and `connect()` names the extra to install.

Each case runs in a fresh interpreter where the driver's module is hidden (`sys.modules[name] = None` makes its import
raise ImportError), so the installed drivers of this venv cannot leak into the result.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CASES = {
    "snowflake": (
        ["snowflake", "snowflake.connector"],
        {"type": "snowflake", "account": "a", "username": "u", "password": "pw-hidden-123"},
        "snowflake.connector",
    ),
    "bigquery": (
        ["google.cloud.bigquery"],
        {"type": "bigquery", "project_id": "p"},
        "google.cloud.bigquery",
    ),
}


@pytest.mark.parametrize("source", sorted(CASES))
def test_missing_driver_names_the_extra(source: str) -> None:
    hidden, creds, module = CASES[source]
    code = (
        "import sys\n"
        f"for name in {hidden!r}:\n"
        "    sys.modules[name] = None\n"
        "import connectors\n"
        "from connectors.credentials import parse_credentials\n"
        f"parse_credentials({creds!r})\n"  # credentials still validate without the driver
        "try:\n"
        f"    connectors.connect({creds!r})\n"
        "except connectors.MissingDriverError as exc:\n"
        "    print(exc.extra, '|', exc.details['module'], '|', exc.message)\n"
        "else:\n"
        "    print('no error')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    extra, reported_module, message = out.stdout.strip().split(" | ")
    assert extra == source and reported_module == module
    assert f"analyst-taskpack[{source}]" in message
    assert "pw-hidden-123" not in out.stdout + out.stderr


def test_connectors_import_does_not_import_warehouse_drivers() -> None:
    code = (
        "import sys, connectors\n"
        "print(sorted(m for m in ('snowflake.connector', 'google.cloud.bigquery') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
