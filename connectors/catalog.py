"""The introspected structure of a source: databases -> schemas -> tables -> columns, plus filters and profiles.

Every connector fills the same models so the introspection task, the snapshot store and the agent's catalog search
never care which warehouse a table came from.
"""

from __future__ import annotations

import fnmatch
from datetime import datetime, timezone
from typing import Any, Iterator, Literal

from pydantic import BaseModel, Field

TableKind = Literal["table", "view", "materialized_view", "external"]

# The vocabulary `normalized_type` uses across all sources.
NormalizedType = Literal[
    "integer",
    "decimal",
    "float",
    "boolean",
    "string",
    "binary",
    "date",
    "time",
    "timestamp",
    "timestamp_tz",
    "interval",
    "json",
    "array",
    "struct",
    "uuid",
    "geography",
    "other",
]


class Column(BaseModel):
    ordinal: int
    name: str
    data_type: str = Field(description="the type as the source spells it, e.g. 'character varying(64)'")
    normalized_type: NormalizedType
    nullable: bool = True
    default: str | None = None
    comment: str | None = None


class ForeignKey(BaseModel):
    name: str | None = None
    columns: list[str]
    referred_database: str | None = None
    referred_schema: str | None = None
    referred_table: str
    referred_columns: list[str]


class Table(BaseModel):
    name: str
    kind: TableKind = "table"
    columns: list[Column] = Field(default_factory=list)
    primary_key: list[str] = Field(default_factory=list)
    foreign_keys: list[ForeignKey] = Field(default_factory=list)
    row_count: int | None = Field(None, description="estimate from catalog statistics; None when unknown")
    size_bytes: int | None = None
    comment: str | None = None
    view_definition: str | None = None

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)


class Schema(BaseModel):
    name: str
    tables: list[Table] = Field(default_factory=list)

    def table(self, name: str) -> Table:
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(name)


class Database(BaseModel):
    name: str
    schemas: list[Schema] = Field(default_factory=list)

    def schema(self, name: str) -> Schema:  # type: ignore[override]
        for s in self.schemas:
            if s.name == name:
                return s
        raise KeyError(name)


class Catalog(BaseModel):
    source_type: str
    server_version: str | None = None
    databases: list[Database] = Field(default_factory=list)
    introspected_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    round_trips: int | None = Field(None, description="catalog queries sent to build this catalog")

    def iter_tables(self) -> Iterator[tuple[Database, Schema, Table]]:
        for db in self.databases:
            for sch in db.schemas:
                for tbl in sch.tables:
                    yield db, sch, tbl

    def database(self, name: str) -> Database:
        for d in self.databases:
            if d.name == name:
                return d
        raise KeyError(name)

    @property
    def table_count(self) -> int:
        return sum(1 for _ in self.iter_tables())


class CatalogFilters(BaseModel):
    """Include/exclude globs (fnmatch, case-insensitive). Empty include = everything; exclude wins over include."""

    include_databases: list[str] = Field(default_factory=list)
    exclude_databases: list[str] = Field(default_factory=list)
    include_schemas: list[str] = Field(default_factory=list)
    exclude_schemas: list[str] = Field(default_factory=list)
    include_tables: list[str] = Field(default_factory=list)
    exclude_tables: list[str] = Field(default_factory=list)

    @staticmethod
    def _match(name: str, include: list[str], exclude: list[str]) -> bool:
        low = name.lower()
        if include and not any(fnmatch.fnmatchcase(low, p.lower()) for p in include):
            return False
        return not any(fnmatch.fnmatchcase(low, p.lower()) for p in exclude)

    def database_ok(self, name: str) -> bool:
        return self._match(name, self.include_databases, self.exclude_databases)

    def schema_ok(self, name: str) -> bool:
        return self._match(name, self.include_schemas, self.exclude_schemas)

    def table_ok(self, name: str) -> bool:
        return self._match(name, self.include_tables, self.exclude_tables)


SemanticHint = Literal["identifier", "enum", "datetime", "numeric", "email", "url", "json", "text", "boolean", "other"]


class ValueCount(BaseModel):
    value: Any
    count: int


class ColumnProfile(BaseModel):
    name: str
    data_type: str
    normalized_type: NormalizedType = "other"
    null_fraction: float | None = None
    distinct_count: int | None = None
    min: Any = None
    max: Any = None
    top_values: list[ValueCount] = Field(default_factory=list)
    sample_values: list[Any] = Field(default_factory=list)
    avg_length: float | None = None
    semantic_hint: SemanticHint | None = None


class TableRef(BaseModel):
    """Which table to profile; `database` matters only on sources where one connection sees several."""

    name: str
    schema_: str | None = Field(None, alias="schema")
    database: str | None = None

    model_config = {"populate_by_name": True}


class TableProfile(BaseModel):
    database: str | None = None
    schema_: str | None = Field(None, alias="schema")
    table: str
    row_count: int | None = None
    sampled_rows: int
    sample_method: Literal["full", "tablesample", "random_filter", "limit"]
    columns: list[ColumnProfile] = Field(default_factory=list)
    profiled_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))

    model_config = {"populate_by_name": True}
