"""Connectors: one read-only interface over Snowflake, PostgreSQL, MySQL, BigQuery, SQL Server, Redshift, Databricks,
DuckDB.

    from connectors import connect
    with connect({"type": "postgres", "host": ..., "password": ...}) as conn:
        conn.test_connection(); conn.query("select 1"); conn.introspect()

Drivers are imported only when a source is used, so `import connectors` works without any warehouse extra installed;
a missing driver raises `MissingDriverError` naming the extra to install.
"""

from __future__ import annotations

import importlib
from typing import Any

from connectors.base import Connector, ProgressCallback
from connectors.capabilities import RoleCapabilities
from connectors.catalog import (
    Catalog,
    CatalogFilters,
    Column,
    ColumnProfile,
    Database,
    ForeignKey,
    Schema,
    Table,
    TableProfile,
    TableRef,
    ValueCount,
)
from connectors.credentials import (
    BigQueryCredentials,
    Credentials,
    CredentialsError,
    DatabricksCredentials,
    DuckDBCredentials,
    MySQLCredentials,
    PostgresCredentials,
    RedshiftCredentials,
    SnowflakeCredentials,
    SQLServerCredentials,
    parse_credentials,
)
from connectors.errors import (
    AuthError,
    ConnectorError,
    MissingDriverError,
    NetworkError,
    NotFoundError,
    PermissionDeniedError,
    QueryCanceledError,
    QueryError,
    QueryTimeoutError,
    ReadOnlyViolation,
    UnsupportedError,
)
from connectors.results import ConnectionTest, QueryResult, ResultColumn

# type -> (module, class, extra, driver module the class needs)
_REGISTRY: dict[str, tuple[str, str, str, str]] = {
    "postgres": ("connectors.postgres", "PostgresConnector", "postgres", "psycopg"),
    "redshift": ("connectors.redshift", "RedshiftConnector", "redshift", "psycopg"),
    "mysql": ("connectors.mysql", "MySQLConnector", "mysql", "pymysql"),
    "snowflake": ("connectors.snowflake", "SnowflakeConnector", "snowflake", "snowflake.connector"),
    "bigquery": ("connectors.bigquery", "BigQueryConnector", "bigquery", "google.cloud.bigquery"),
    "sqlserver": ("connectors.sqlserver", "SQLServerConnector", "sqlserver", "pyodbc"),
    "databricks": ("connectors.databricks", "DatabricksConnector", "databricks", "databricks.sql"),
    "duckdb": ("connectors.duckdb", "DuckDBConnector", "duckdb", "duckdb"),
}


def connector_class(source_type: str) -> type[Connector]:
    """The connector class for a credentials `type`, importing its driver now."""
    try:
        module_name, class_name, extra, driver = _REGISTRY[source_type]
    except KeyError:
        raise UnsupportedError(f"no connector for source type {source_type!r}") from None
    try:
        importlib.import_module(driver)
    except ImportError:
        raise MissingDriverError(source_type, extra, driver) from None
    module = importlib.import_module(module_name)
    return getattr(module, class_name)


def connect(credentials: dict[str, Any] | Credentials) -> Connector:
    """A connector for these credentials; use it as a context manager so it always closes."""
    creds = parse_credentials(credentials)  # type: ignore[arg-type]
    return connector_class(creds.type)(creds)


__all__ = [
    "AuthError",
    "BigQueryCredentials",
    "Catalog",
    "CatalogFilters",
    "Column",
    "ColumnProfile",
    "ConnectionTest",
    "Connector",
    "ConnectorError",
    "Credentials",
    "CredentialsError",
    "Database",
    "DatabricksCredentials",
    "DuckDBCredentials",
    "ForeignKey",
    "MissingDriverError",
    "MySQLCredentials",
    "NetworkError",
    "NotFoundError",
    "PermissionDeniedError",
    "PostgresCredentials",
    "ProgressCallback",
    "QueryCanceledError",
    "QueryError",
    "QueryResult",
    "QueryTimeoutError",
    "ReadOnlyViolation",
    "RedshiftCredentials",
    "ResultColumn",
    "RoleCapabilities",
    "SQLServerCredentials",
    "Schema",
    "SnowflakeCredentials",
    "Table",
    "TableProfile",
    "TableRef",
    "UnsupportedError",
    "ValueCount",
    "connect",
    "connector_class",
    "parse_credentials",
]
