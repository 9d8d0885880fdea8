"""What `introspect-data` takes and returns.

The input is validated before the first attempt (the runtime's `schema_task`): a malformed credentials dict fails the
run at once with an error naming the bad field, and is never retried. Credentials go through
`connectors.parse_credentials`, so every source's own rules apply and a submitted secret is never echoed back.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from connectors import CatalogFilters, Credentials, RoleCapabilities, parse_credentials
from store import DiffSummary, SnapshotWarning


class IntrospectDataInput(BaseModel):
    """One introspection of one data source."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    data_source_id: str = Field(
        min_length=1, max_length=200, description="the data source's id: a registered source's (`src_...`), or any label with inline credentials"
    )
    credentials: Credentials | None = Field(
        None,
        description="a credentials object as `connectors.parse_credentials` accepts it; omitted = the credentials "
        "registered for `data_source_id` (so no secret travels in the run's payload)",
    )
    filters: CatalogFilters | None = Field(
        None, description="include/exclude globs for databases, schemas, tables; omitted = the registered source's filters"
    )
    profile: bool = Field(False, description="also profile tables (column statistics on a sample)")
    profile_sample_size: int = Field(10_000, ge=100, le=1_000_000, description="rows sampled per profiled table")
    max_tables_to_profile: int = Field(50, ge=0, le=5_000, description="profile at most this many tables")
    keep_snapshots: int = Field(30, ge=1, le=10_000, description="snapshots kept per data source; older ones are pruned")
    profile_views: bool = Field(
        False, description="also profile views (runs each view's query on the source, which can be expensive)"
    )

    @field_validator("credentials", mode="before")
    @classmethod
    def _parse_credentials(cls, value: Any) -> Any:
        if value is None:
            return None
        # parse_credentials raises CredentialsError (a ValueError) whose message names each bad field and never the
        # value; pydantic turns it into a validation error at `credentials`, which the runtime reports as is.
        return parse_credentials(value)


class IntrospectDataOutput(BaseModel):
    """The run's result: where the snapshot is and what it holds (the catalog itself lives in the snapshot store)."""

    data_source_id: str
    snapshot_id: str
    source_type: str
    server_version: str | None = None
    databases: int
    schemas: int
    tables: int = Field(description="base tables, external tables and materialized views")
    views: int
    columns: int
    profiled_tables: int = 0
    profile_failures: int = Field(0, description="tables whose profile failed (logged; the run still completes)")
    duration_ms: float
    connection_latency_ms: float | None = None
    diff: DiffSummary | None = Field(
        None, description="what changed since the source's previous snapshot (None for its first); full diff: `taskpack sources diff`"
    )
    role: RoleCapabilities | None = Field(None, description="what the connected role may do beyond reading")
    warnings: list[SnapshotWarning] = Field(
        default_factory=list, description="e.g. role_not_read_only (tasks/introspect_data/role_check.py); also stored with the snapshot"
    )


class ScheduledIntrospectionOutput(BaseModel):
    """What `introspect-data-scheduled` returns: the child run it started and that run's output."""

    data_source_id: str
    run_id: str
    output: IntrospectDataOutput
