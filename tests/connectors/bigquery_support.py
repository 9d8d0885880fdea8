"""The crucible emulator as a stand-in for BigQuery, started per test session from its own venv.

crucible-emulator (`crucible serve --dialect bigquery`) is a local BigQuery REST endpoint backed by DuckDB, reached by
the real google-cloud-bigquery client with AnonymousCredentials and an `api_endpoint`. It pins a different duckdb than
fakesnow, so it lives in `.venv-crucible` (made by `.ci/setup-bigquery.sh`) and runs as a subprocess on a free port.
What it lacks, and where that is tested instead: INFORMATION_SCHEMA (the catalog SQL is parsed with sqlglot's
bigquery dialect), query parameters, dry runs and maximum_bytes_billed enforcement (job configuration tested as
built), REQUIRED columns and descriptions (recorded REST schemas), and it runs each query synchronously (timeout and
cancel are proved client-side).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]
CRUCIBLE = Path(os.environ.get("CRUCIBLE_BIN", ROOT / ".venv-crucible" / "bin" / "crucible"))
PROJECT = "taskpack-test"


def _missing(message: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (CI=true: a test that needs a service never skips)")
    pytest.skip(message)


def require_bigquery_client() -> None:
    try:
        import google.cloud.bigquery  # noqa: F401
    except ImportError:
        _missing("google-cloud-bigquery is not installed; run .ci/setup-bigquery.sh")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def crucible_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """http://127.0.0.1:<port> of a crucible BigQuery emulator running for the whole test session."""
    require_bigquery_client()
    if not CRUCIBLE.exists():
        _missing(f"{CRUCIBLE} not found; run .ci/setup-bigquery.sh")
    port = _free_port()
    log = (tmp_path_factory.mktemp("crucible") / "crucible.log").open("w")
    proc = subprocess.Popen(
        [str(CRUCIBLE), "serve", "--dialect", "bigquery", "--host", "127.0.0.1", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{endpoint}/_crucible/health", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"crucible did not start (exit code {proc.poll()}); see {log.name}")
            time.sleep(0.1)
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def credentials(endpoint: str, **overrides: Any) -> dict[str, Any]:
    creds: dict[str, Any] = {"type": "bigquery", "project_id": PROJECT, "api_endpoint": endpoint}
    creds.update(overrides)
    return creds


def raw_client(endpoint: str) -> Any:
    """A plain client for setting up test data (DDL and DML the guarded connector refuses)."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    return bigquery.Client(project=PROJECT, credentials=AnonymousCredentials(), client_options=ClientOptions(api_endpoint=endpoint))


def run_sql(client: Any, *statements: str) -> None:
    for sql in statements:
        client.query(sql).result()


#: spider-dev databases loaded into crucible, one dataset each
BIGQUERY_SPIDER_DATABASES = ("concert_singer", "pets_1")


def spider_dataset(spider_db: str) -> str:
    return f"tbq_{spider_db.lower()}"


def load_spider_into_crucible(endpoint: str, databases: tuple[str, ...] = BIGQUERY_SPIDER_DATABASES) -> dict[str, list[Any]]:
    """One dataset per spider db: tables from the MySQL DDL transpiled by sqlglot, rows from SQLite as one INSERT."""
    import sqlite3

    from sqlglot import exp

    from tests.connectors.spider_loader import SPIDER_DEV_DIR, _converter, parse_spider_ddl

    client = raw_client(endpoint)
    loaded: dict[str, list[Any]] = {}
    for spider_db in databases:
        dataset = spider_dataset(spider_db)
        client.delete_dataset(dataset, delete_contents=True, not_found_ok=True)
        client.create_dataset(dataset)
        specs = parse_spider_ddl(spider_db)
        source = sqlite3.connect(f"file:{SPIDER_DEV_DIR / 'sqlite' / f'{spider_db}.sqlite'}?mode=ro", uri=True)
        try:
            for spec in specs:
                target = f"`{dataset}`.`{spec.name}`"
                cols = ", ".join(
                    f"`{name}` {exp.DataType.build(kind.this).sql(dialect='bigquery')}" for name, kind, _ in spec.columns
                )
                run_sql(client, f"CREATE TABLE {target} ({cols})")
                names = [name for name, _, _ in spec.columns]
                converters = [_converter(kind) for _, kind, _ in spec.columns]
                select = ", ".join(f'"{n}"' for n in names)
                rows = source.execute(f'SELECT {select} FROM "{spec.name}"').fetchall()
                if rows:
                    values = ", ".join(
                        "(" + ", ".join(exp.convert(convert(v)).sql(dialect="bigquery") for convert, v in zip(converters, row)) + ")"
                        for row in rows
                    )
                    run_sql(client, f"INSERT INTO {target} ({', '.join(f'`{n}`' for n in names)}) VALUES {values}")
        finally:
            source.close()
        loaded[dataset] = specs
    client.close()
    return loaded


@pytest.fixture(scope="session")
def spider_in_crucible(crucible_endpoint: str) -> dict[str, list[Any]]:
    return load_spider_into_crucible(crucible_endpoint)
