"""What the search takes besides a catalog, and what it answers: ranked tables with the reasons they were picked."""

from __future__ import annotations

from typing import Literal, NamedTuple

from pydantic import BaseModel, Field


class TableKey(NamedTuple):
    """Where a table lives in a catalog; the search's identity for it."""

    database: str
    schema: str
    table: str

    @property
    def qualified(self) -> str:
        return f"{self.database}.{self.schema}.{self.table}"


class ColumnValues(BaseModel):
    """The distinct values of one low-cardinality text column, which question literals are matched against.

    Profiles carry a column's few most frequent values; a column with a small set of values ('Europe', 'PPT',
    'Captured') is worth indexing whole, so that any of them named in a question finds the column."""

    table: TableKey
    column: str
    values: list[str]


ReasonKind = Literal["lexical", "embedding", "value", "foreign_key", "schema"]


class Reason(BaseModel):
    """One piece of evidence for a table, in words the UI can show and the planner can repeat."""

    kind: ReasonKind
    detail: str = Field(description="e.g. \"question words 'singer', 'age' match columns Name, Age\"")
    weight: float = Field(
        description="this signal's share of the table's score (0..1); 1.0 for the reason a table was moved up to "
        "complete a join path"
    )


class TableHit(BaseModel):
    database: str
    schema_: str = Field(alias="schema")
    table: str
    score: float
    matched_columns: list[str] = Field(default_factory=list, description="columns named or valued in the question")
    reasons: list[Reason] = Field(default_factory=list, description="strongest first")

    model_config = {"populate_by_name": True}

    @property
    def key(self) -> TableKey:
        return TableKey(self.database, self.schema_, self.table)
