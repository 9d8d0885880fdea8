"""What `introspect-data` takes and returns.

The input is validated before the first attempt (the runtime's `schema_task`): a malformed credentials dict fails the
run at once with an error naming the bad field, and is never retried. Credentials go through
`connectors.parse_credentials`, so every source's own rules apply and a submitted secret is never echoed back.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from connectors import CatalogFilters, Credentials, RoleCapabilities, Table, TableProfile, TableRef, parse_credentials
from store import DiffSummary, SnapshotWarning


def _credentials_or_none(value: Any) -> Any:
    """`connectors.parse_credentials` for a payload's optional credentials.

    It raises CredentialsError (a ValueError) whose message names each bad field and never the value; pydantic turns
    it into a validation error at `credentials`, which the runtime reports as is.
    """
    return None if value is None else parse_credentials(value)


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
    profile_chunk_size: int = Field(
        25, ge=1, le=1_000,
        description="tables per child run when profiling fans out; when every table fits in one chunk, this run "
        "profiles them itself (no child run)",
    )
    profile_concurrency: int = Field(
        4, ge=1, le=64, description="child runs of this run profiling at the same time (each holds one warehouse session)"
    )
    profile_table_timeout: float = Field(
        300.0, ge=0.1, le=3_600,
        description="seconds one table's profile may take; past it its statement is canceled on the server and the "
        "table becomes a `profile_timed_out` warning",
    )

    _parse_credentials = field_validator("credentials", mode="before")(_credentials_or_none)


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
    profile_failures: int = Field(
        0, description="tables whose profile failed or timed out (each is a warning; the run still completes)"
    )
    profile_runs: int = Field(0, description="child runs the profiling fanned out to (0: profiled in this run)")
    duration_ms: float
    connection_latency_ms: float | None = None
    diff: DiffSummary | None = Field(
        None, description="what changed since the source's previous snapshot (None for its first); full diff: `taskpack sources diff`"
    )
    role: RoleCapabilities | None = Field(None, description="what the connected role may do beyond reading")
    warnings: list[SnapshotWarning] = Field(
        default_factory=list,
        description="role_not_read_only (role_check.py), profile_failed / profile_timed_out (profiling.py), one per "
        "table; also stored with the snapshot",
    )


class ScheduledIntrospectionOutput(BaseModel):
    """What `introspect-data-scheduled` returns: the child run it started and that run's output."""

    data_source_id: str
    run_id: str
    output: IntrospectDataOutput


# -- the profiling child run ------------------------------------------------------------------------------------------
class ProfileChunkInput(BaseModel):
    """One chunk of tables for `introspect-data-profile`, a child of `introspect-data` (see profile_task.py).

    A registered source travels as its id alone: the child decrypts its credentials from the store, as the parent
    did. Only a parent that was itself given inline credentials passes them on, typed as the same `Credentials` model,
    so whatever protects secret payload fields of a schema task protects them here too.
    """

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    data_source_id: str = Field(min_length=1, max_length=200)
    credentials: Credentials | None = Field(None, description="only when the parent run was given inline credentials")
    tables: list[TableRef] = Field(min_length=1, max_length=1_000)
    entries: list[Table] | None = Field(
        None,
        description="the catalog entry of each of `tables` (same order), as the parent read it, trimmed to what "
        "profiling reads: the child profiles them without reading the catalog again; omitted = looked up per table",
    )
    sample_size: int = Field(10_000, ge=100, le=1_000_000)
    table_timeout: float = Field(300.0, ge=0.1, le=3_600)
    parent_progress_share: float = Field(
        0.0, ge=0.0, le=1.0, description="added to the parent's `progress` when this chunk is done"
    )

    _parse_credentials = field_validator("credentials", mode="before")(_credentials_or_none)

    @model_validator(mode="after")
    def _entries_match_tables(self) -> "ProfileChunkInput":
        if self.entries is not None and [e.name for e in self.entries] != [t.name for t in self.tables]:
            raise ValueError("entries must be the catalog entries of `tables`, in the same order")
        return self


class ProfileChunkOutput(BaseModel):
    """What a profiling child returns: the profiles it made and a warning for each table it could not profile."""

    profiles: list[TableProfile] = Field(default_factory=list)
    warnings: list[SnapshotWarning] = Field(default_factory=list)
