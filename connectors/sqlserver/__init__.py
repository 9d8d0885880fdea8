"""SQL Server and Azure SQL (pyodbc): `SQLServerConnector`.

connection.py  lazy open, read-only transaction always rolled back, ODBC query timeout, TOP pushdown, cancel
odbc.py        ODBC driver choice (Microsoft 18/17, then FreeTDS) and connection strings per driver
catalog.py     bulk sys.* catalog introspection (five queries)
statements.py  TOP / OFFSET-FETCH row-limit pushdown placed by sqlglot's AST
types.py       SQL Server types: spelling and NormalizedType
errors.py      SQLSTATE + native error numbers -> ConnectorError classes
"""

from connectors.sqlserver.connection import SQLServerConnector

__all__ = ["SQLServerConnector"]
