"""What a connector returns from a connection test and a query."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from connectors.capabilities import RoleCapabilities


class ResultColumn(BaseModel):
    name: str
    type: str = Field(description="the source's type name for the column, as the driver reports it")


class QueryResult(BaseModel):
    columns: list[ResultColumn]
    rows: list[list[Any]]
    row_count: int = Field(description="rows returned (at most max_rows)")
    truncated: bool = Field(description="true when the source had more rows than max_rows")
    elapsed_ms: float


class ConnectionTest(BaseModel):
    ok: bool
    latency_ms: float | None = None
    server_version: str | None = None
    error: dict[str, Any] | None = Field(None, description="ConnectorError.to_dict() when ok is false")
    role: RoleCapabilities | None = Field(
        None, description="what the connected role may do beyond reading, from the source's catalog; None when ok is false"
    )
