"""The BigQuery connector (google-cloud-bigquery).

What it guarantees, and how:
- lazy open: the client (and its credentials) is built on the first call that needs BigQuery;
- read-only: every statement passes the SQL guard (the principal's IAM roles are the second line);
- cost guard: `maximum_bytes_billed` from the credentials goes into every job (BigQuery refuses a query that would
  bill more, before running it); with `dry_run_first=True` the connector also dry-runs each query and refuses it
  client-side when the estimate is over the limit (`estimate_bytes()` exposes the dry run);
- the row limit is pushed: `job.result(max_results=max_rows+1)` reads at most that many rows, page by page;
- the timeout is BigQuery's: `job_timeout_ms` on the job, plus a client deadline (timeout + grace) after which the
  job is canceled with `jobs.cancel` and QueryTimeoutError raised;
- `cancel()` from any thread cancels the running job by its id (ids are made client-side, so even a job whose insert
  has not returned yet can be canceled); the waiting `query()` raises QueryCanceledError;
- API calls retry transient errors for seconds, not the library's default ten minutes (an unreachable endpoint is a
  NetworkError quickly); jobs are never silently re-run;
- errors are mapped from google.api_core / google.auth exceptions by class and BigQuery reason (`errors.py`).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import uuid
from typing import Any, Callable, ClassVar, Literal, Sequence, TypeVar

from google.api_core import exceptions as api_exc
from google.cloud import bigquery

from connectors.base import (
    DEFAULT_MAX_ROWS,
    DEFAULT_TIMEOUT_S,
    Connector,
    ProgressCallback,
    check_query_limits,
    finished_query,
    log_introspected,
    run_connection_test,
)
from connectors.bigquery.auth import API_RETRY, build_client, secrets_of
from connectors.bigquery.catalog import BigQueryCatalogReader
from connectors.bigquery.errors import map_error
from connectors.bigquery.role import MAX_DATASETS, MAX_TABLES, PERMISSIONS, dataset_writes, principal_of, read_role
from connectors.bigquery.statements import job_config
from connectors.bigquery.types import sql_type
from connectors.capabilities import RoleCapabilities
from connectors.catalog import Catalog, CatalogFilters, TableProfile, TableRef
from connectors.credentials import BigQueryCredentials
from connectors.deadline import Abandoned, run_with_deadline
from connectors.errors import ConnectorError, QueryCanceledError, QueryError, QueryTimeoutError
from connectors.results import ConnectionTest, QueryResult, ResultColumn

log = logging.getLogger("connectors.bigquery")

T = TypeVar("T")

DEADLINE_GRACE_S = 1.0
CANCEL_GRACE_S = 1.0
API_TIMEOUT_S = 30.0
CatalogSource = Literal["auto", "information_schema", "api"]


class BigQueryConnector(Connector):
    """Read-only BigQuery connector: one client per connector, one job per query."""

    source_type: ClassVar[str] = "bigquery"
    dialect: ClassVar[str] = "bigquery"

    def __init__(
        self,
        credentials: BigQueryCredentials,
        *,
        dry_run_first: bool = False,
        catalog_source: CatalogSource = "auto",
    ) -> None:
        super().__init__(credentials)
        self.credentials: BigQueryCredentials = credentials
        self.dry_run_first = dry_run_first
        self.catalog_source = catalog_source
        self._client: bigquery.Client | None = None
        self._open_lock = threading.Lock()
        self._cancel_requested = threading.Event()
        self._job_id: str | None = None

    # -- client ------------------------------------------------------------------------------------------------------
    @property
    def _secrets(self) -> list[str]:
        return secrets_of(self.credentials)

    def _connection(self) -> bigquery.Client:
        self._ensure_open()
        with self._open_lock:
            if self._client is None:
                try:
                    self._client = build_client(self.credentials)
                except ConnectorError:
                    raise
                except Exception as exc:
                    raise map_error(exc, secrets=self._secrets) from None
            return self._client

    def _close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def _call(self, work: Callable[[], T], *, timeout: float, what: str) -> T:
        """Run a blocking client call under the deadline, mapping its errors."""
        try:
            return run_with_deadline(
                work,
                deadline_s=timeout + DEADLINE_GRACE_S,
                cancel_requested=self._cancel_requested,
                cancel_grace_s=CANCEL_GRACE_S,
                thread_name=f"bigquery-{what}",
            )
        except Abandoned as stop:
            self._cancel_job()
            if stop.canceled:
                raise QueryCanceledError("BigQuery job canceled on request") from None
            raise QueryTimeoutError(f"BigQuery {what} did not finish within {timeout:g} s", details={"timeout_s": timeout}) from None
        except ConnectorError:
            raise
        except Exception as exc:
            error = map_error(exc, secrets=self._secrets, canceled=self._cancel_requested.is_set(), timeout_s=timeout)
            if isinstance(error, (QueryTimeoutError, QueryCanceledError)):
                self._cancel_job()  # the client stopped waiting: make sure the job stops too
            raise error from None

    # -- the interface -----------------------------------------------------------------------------------------------
    def test_connection(self) -> ConnectionTest:
        return run_connection_test(self._round_trip, self.role_capabilities)

    def role_capabilities(self) -> RoleCapabilities:
        """testIamPermissions on up to MAX_TABLES tables and the datasets' access lists (see `role.py`)."""
        client = self._connection()
        self._cancel_requested.clear()
        return self._call(lambda: self._probe_role(client), timeout=API_TIMEOUT_S * 2, what="role check")

    def _probe_role(self, client: bigquery.Client) -> RoleCapabilities:
        api = {"retry": API_RETRY, "timeout": API_TIMEOUT_S}
        principal = principal_of(self.credentials.service_account_info(), None)
        project = self.credentials.project_id
        if self.credentials.default_dataset:
            datasets = [self.credentials.default_dataset.split(".")[-1]]
        else:
            listed = client.list_datasets(project, max_results=MAX_DATASETS, **api)
            datasets = [d.dataset_id for d in itertools.islice(listed, MAX_DATASETS)]
        tables: list[bigquery.TableReference] = []
        writes: list[str] = []
        for dataset_id in datasets:
            ref = bigquery.DatasetReference(project, dataset_id)
            writes += dataset_writes(principal, dataset_id, client.get_dataset(ref, **api).access_entries)
            left = MAX_TABLES - len(tables)
            tables += [t.reference for t in itertools.islice(client.list_tables(ref, max_results=left, **api), left)]
        held: dict[str, list[str]] = {}
        for table in tables:
            try:
                answer = client.test_iam_permissions(table, list(PERMISSIONS), **api)
            except (api_exc.NotFound, api_exc.MethodNotImplemented, api_exc.BadRequest) as exc:
                untested = f"testIamPermissions is not available here ({exc.code})"
                return read_role(principal, {}, writes, untested_reason=untested)
            held[f"{table.dataset_id}.{table.table_id}"] = list(answer.get("permissions", []))
        return read_role(principal, held, writes, untested_reason=None if tables else "no table listed")

    def _round_trip(self) -> None:
        """A `SELECT 1` job (BigQuery reports no server version)."""
        self._cancel_requested.clear()
        self._run_job("SELECT 1", None, max_rows=1, timeout=30)

    def estimate_bytes(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None, timeout: float = 30) -> int:
        """Bytes the query would process, from a dry run (nothing is billed, nothing runs)."""
        checked = self.guard(sql, timeout)
        client = self._connection()
        config = job_config(self.credentials, timeout_s=timeout, params=params, dry_run=True)

        def dry_run() -> int:
            job = client.query(checked, job_config=config, location=self.credentials.location, retry=API_RETRY,
                               job_retry=None, timeout=timeout)
            return int(job.total_bytes_processed or 0)

        self._cancel_requested.clear()
        return self._call(dry_run, timeout=timeout, what="dry run")

    def query(
        self,
        sql: str,
        params: Sequence[Any] | dict[str, Any] | None = None,
        max_rows: int = DEFAULT_MAX_ROWS,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> QueryResult:
        check_query_limits(max_rows, timeout)
        checked = self.guard(sql, timeout)  # ReadOnlyViolation before anything reaches BigQuery
        self._cancel_requested.clear()
        limit = self.credentials.maximum_bytes_billed
        if self.dry_run_first and limit is not None:
            estimate = self.estimate_bytes(checked, params, timeout=min(timeout, 30))
            if estimate > limit:
                raise QueryError(
                    f"BigQuery would process {estimate} bytes, over maximum_bytes_billed={limit}; the query was not run",
                    code="bytes_limit_exceeded",
                    details={"estimated_bytes": estimate, "maximum_bytes_billed": limit},
                )
        start = time.perf_counter()
        columns, rows, truncated = self._run_job(checked, params, max_rows=max_rows, timeout=timeout)
        return finished_query(log, self.source_type, columns, rows, truncated, start)

    def _run_job(
        self, sql: str, params: Any, *, max_rows: int, timeout: float
    ) -> tuple[list[ResultColumn], list[list[Any]], bool]:
        client = self._connection()
        config = job_config(self.credentials, timeout_s=timeout, params=params)
        job_id = f"taskpack_{uuid.uuid4().hex}"
        self._job_id = job_id

        def run() -> tuple[list[ResultColumn], list[list[Any]], bool]:
            try:
                job = client.query(sql, job_config=config, job_id=job_id, location=self.credentials.location,
                                   retry=API_RETRY, job_retry=None, timeout=timeout + DEADLINE_GRACE_S)
            except api_exc.Conflict:
                # "Already Exists": the insert was sent again after a transport timeout and the first had created the
                # job. Its id is this call's own (a fresh uuid), so the job is this query's: wait for it.
                job = client.get_job(job_id, location=self.credentials.location, retry=API_RETRY,
                                     timeout=timeout + DEADLINE_GRACE_S)
            rows = job.result(max_results=max_rows + 1, page_size=min(max_rows + 1, 10_000),
                              timeout=timeout + DEADLINE_GRACE_S, retry=API_RETRY)
            columns = [ResultColumn(name=f.name, type=sql_type(f)) for f in rows.schema]
            fetched = [list(r.values()) for r in rows]
            return columns, fetched[:max_rows], len(fetched) > max_rows

        try:
            return self._call(run, timeout=timeout, what="query")
        finally:
            self._job_id = None

    def cancel(self) -> None:
        self._cancel_requested.set()
        self._cancel_job()

    def _cancel_job(self) -> None:
        job_id, client = self._job_id, self._client
        if job_id is None or client is None:
            return
        try:
            client.cancel_job(job_id, location=self.credentials.location, retry=API_RETRY, timeout=10)
            log.info("bigquery job cancel requested", extra={"source": self.source_type, "job_id": job_id})
        except Exception as exc:  # already finished, or not registered yet: nothing left to stop
            log.warning("bigquery job cancel failed", extra={"source": self.source_type, "error": type(exc).__name__})

    def _catalog_run(self, sql: str) -> list[dict[str, Any]]:
        client = self._connection()
        config = job_config(self.credentials, timeout_s=300)

        def run() -> list[dict[str, Any]]:
            job = client.query(sql, job_config=config, location=self.credentials.location, retry=API_RETRY,
                               job_retry=None, timeout=300)
            return [dict(r.items()) for r in job.result(timeout=300, retry=API_RETRY)]

        return self._call(run, timeout=300, what="catalog query")

    def introspect(self, filters: CatalogFilters | None = None, progress: ProgressCallback | None = None) -> Catalog:
        client = self._connection()
        self._cancel_requested.clear()
        start = time.perf_counter()
        reader = BigQueryCatalogReader(
            client=client,
            run=self._catalog_run,
            project=self.credentials.project_id,
            location=self.credentials.location,
            default_dataset=self.credentials.default_dataset,
            source=self.catalog_source,
            api_retry=API_RETRY,
            api_timeout=API_TIMEOUT_S,
        )
        try:
            catalog = self._call(lambda: reader.read(filters, progress), timeout=1800, what="introspection")
        except ConnectorError:
            raise
        log_introspected(log, self.source_type, catalog, start, api_fallback=reader.used_api_fallback)
        return catalog

    def profile(self, table: TableRef | str, sample_size: int = 10_000) -> TableProfile:
        from connectors.bigquery.profile import profile_bigquery_table

        return profile_bigquery_table(self, table, sample_size)
