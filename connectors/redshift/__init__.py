"""Redshift source: psycopg 3 on the wire (shared with `connectors.postgres`), Redshift's SVV catalog views in
`catalog.py`, Redshift and Spectrum type names in `types.py`."""

from connectors.redshift.connection import RedshiftConnector

__all__ = ["RedshiftConnector"]
