"""The Redshift connector: the PostgreSQL connector's wire, query, timeout and cancel paths, Redshift's catalog.

`redshift-connector` (Amazon's driver) is not used: it speaks the same protocol and psycopg 3 talks to Redshift
fine, while redshift-connector cannot talk to a plain PostgreSQL server, which is all a test suite can run locally.
What differs from PostgreSQL:
- no `options` startup parameter and no `default_transaction_read_only` setting: read-only comes from the SQL guard
  and from `BEGIN READ ONLY`, which psycopg sends for every transaction (`conn.read_only = True`);
- `statement_timeout` is set with `set_config(..., true)` as on PostgreSQL (Redshift supports both);
- a DECLAREd cursor materializes its whole result on the leader node, so the LIMIT the connector appends to plain
  queries (max_rows + 1) matters even more here;
- the catalog comes from SVV_ALL_TABLES / SVV_ALL_COLUMNS / SVV_TABLE_INFO / SVV_MV_INFO (see `catalog.py`);
- profiling samples with a RANDOM() filter (Redshift has no TABLESAMPLE).
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import psycopg
from psycopg.rows import dict_row

from connectors.base import ProgressCallback
from connectors.capabilities import RoleCapabilities
from connectors.catalog import Catalog, CatalogFilters
from connectors.credentials import RedshiftCredentials
from connectors.postgres.connection import DEFAULT_APPLICATION_NAME, PostgresConnector
from connectors.postgres.errors import map_query_error
from connectors.redshift.catalog import RedshiftCatalogReader
from connectors.redshift.role import ROLES_SQL, USER_SQL, WRITABLE_SQL, read_role

log = logging.getLogger("connectors.redshift")


class RedshiftConnector(PostgresConnector):
    """Read-only Amazon Redshift connector over psycopg 3."""

    source_type: ClassVar[str] = "redshift"
    dialect: ClassVar[str] = "redshift"
    source_label: ClassVar[str] = "Redshift"

    def __init__(self, credentials: RedshiftCredentials, *, application_name: str = DEFAULT_APPLICATION_NAME) -> None:
        super().__init__(credentials, application_name=application_name)

    def _connect_kwargs(self) -> dict[str, Any]:
        kwargs = super()._connect_kwargs()
        kwargs.pop("options", None)  # Redshift rejects PostgreSQL's startup options
        return kwargs

    def role_capabilities(self) -> RoleCapabilities:
        """Three catalog statements (see `role.py`: leader-node functions cannot share a statement with SVV views),
        in one read-only transaction that is rolled back."""
        conn = self._connection()
        try:
            with conn.cursor(row_factory=dict_row) as cur:
                user = cur.execute(USER_SQL).fetchone()
            with conn.cursor() as cur:
                writable = cur.execute(WRITABLE_SQL).fetchall()
            roles = self._granted_roles(conn)
            conn.rollback()
        except psycopg.Error as exc:
            error = map_query_error(exc, source=self.source_label, secrets=self._secrets)
            self._after_failure(error)
            raise error from None
        return read_role(user, writable, roles, read_only_session=bool(conn.read_only))

    @staticmethod
    def _granted_roles(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]] | None:
        """SVV_USER_GRANTS rows, or None when the view cannot be read (a cluster without it, or no permission). It
        runs last: Redshift has no savepoints, so a refusal is rolled back with the whole (read-only) transaction."""
        try:
            with conn.cursor() as cur:
                return cur.execute(ROLES_SQL).fetchall()
        except psycopg.OperationalError:
            raise
        except psycopg.DatabaseError:
            conn.rollback()
            return None

    def _catalog_reader(self, conn: psycopg.Connection[Any]) -> RedshiftCatalogReader:  # type: ignore[override]
        return RedshiftCatalogReader(
            run=self._catalog_query(conn),
            database=self.credentials.database,
            source_type=self.source_type,
            server_version=conn.info.parameter_status("server_version"),
        )

    def introspect(self, filters: CatalogFilters | None = None, progress: ProgressCallback | None = None) -> Catalog:
        def logged(stage: str, fields: dict[str, Any]) -> None:
            for warning in fields.get("warnings", []) if stage == "done" else []:
                log.warning("catalog incomplete", extra={"source": self.source_type, "reason": warning})
            if progress is not None:
                progress(stage, fields)

        return super().introspect(filters, logged)
