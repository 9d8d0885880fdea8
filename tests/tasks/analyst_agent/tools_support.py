"""Fixtures for the tools' tests: the demo warehouse (DuckDB, built once per session) and a fresh store database
(SQLite file or a new PostgreSQL database) per test."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

import connectors
from connectors import Catalog, Connector
from demo.warehouse import build_demo_warehouse, demo_credentials
from tasks.analyst_agent.tools import ToolEnv
from tests.runtime.conftest import fresh_database


@pytest.fixture(scope="session")
def demo_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    build_demo_warehouse(path)
    return path


@pytest.fixture(scope="session")
def demo_catalog(demo_path: Path) -> Catalog:
    with connectors.connect(demo_credentials(demo_path)) as conn:
        return conn.introspect()


@pytest.fixture
def demo_connector(demo_path: Path) -> Iterator[Connector]:
    with connectors.connect(demo_credentials(demo_path)) as conn:
        yield conn


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def demo_env(demo_connector: Connector, demo_catalog: Catalog, store_url: str) -> ToolEnv:
    return ToolEnv(
        connector=demo_connector,
        data_source_id="src_demo",
        run_id="run_tools_1",
        catalog=demo_catalog,
        chat_id="chat_1",
        max_rows=50,
        timeout_s=20.0,
        database_url=store_url,
    )
