"""Databricks SQL warehouses and clusters (databricks-sql-connector): `DatabricksConnector`.

connection.py  lazy open, PAT or OAuth M2M, STATEMENT_TIMEOUT + client timer, LIMIT pushdown, cancel
auth.py        connect() keyword arguments per authentication method
catalog.py     Unity Catalog information_schema in bulk; SHOW / DESCRIBE TABLE EXTENDED for hive_metastore
statements.py  LIMIT pushdown placed by sqlglot's AST, timeout statement
types.py       Databricks types -> NormalizedType
errors.py      connector exceptions, HTTP codes and error classes -> ConnectorError classes
"""

from connectors.databricks.connection import DatabricksConnector

__all__ = ["DatabricksConnector"]
