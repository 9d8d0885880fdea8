"""MySQL and MariaDB (PyMySQL): `MySQLConnector`.

connection.py  lazy open, read-only session, timeouts, row limits, cancel
catalog.py     bulk information_schema introspection (a fixed number of queries)
types.py       MySQL/MariaDB types -> NormalizedType
statements.py  server flavor, timeout wrapping, LIMIT pushdown
errors.py      MySQL error numbers -> ConnectorError classes
profile.py     profile(): catalog lookup + the shared profiler
"""

from connectors.mysql.connection import MySQLConnector

__all__ = ["MySQLConnector"]
