"""DuckDB: a local database file, and Parquet/CSV/JSON files, as a read-only source (`DuckDBConnector`).

connection.py  lazy open, guard, pushed row limit, timeout and cancel through interrupt()
sandbox.py     the connection: file attached read-only, files as views, external access off, settings locked
catalog.py     bulk introspection from duckdb_tables() / duckdb_views() / duckdb_columns() / duckdb_constraints()
types.py       DuckDB types -> NormalizedType
statements.py  LIMIT pushdown and the quoted setup statements
errors.py      duckdb exception classes -> ConnectorError classes
profile.py     profile(): catalog lookup + the shared profiler
"""

from connectors.duckdb.connection import DuckDBConnector

__all__ = ["DuckDBConnector"]
