"""PostgreSQL source: `connection.py` (the connector), `catalog.py` (bulk pg_catalog introspection), `types.py`
(type normalization), `errors.py` (SQLSTATE -> connector errors), `profile.py` (sampling for the shared profiler)."""

from connectors.postgres.connection import PostgresConnector

__all__ = ["PostgresConnector"]
