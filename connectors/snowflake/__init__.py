"""Snowflake source: `connection.py` (the connector), `auth.py` (credentials -> driver login arguments), `pool.py`
(warm connections reused across runs), `catalog.py` (INFORMATION_SCHEMA + SHOW KEYS introspection), `types.py`
(type normalization), `errors.py` (driver errno/SQLSTATE -> connector errors), `statements.py` (row-limit SQL)."""

from connectors.snowflake.connection import SnowflakeConnector

__all__ = ["SnowflakeConnector"]
