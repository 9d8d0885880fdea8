"""Build the demo warehouse: a DuckDB file of an online shop's analytics data, the same rows for the same seed.

    from demo import build_demo_warehouse
    stats = build_demo_warehouse(Path(".taskpack/demo.duckdb"))      # ~100k rows in a few seconds
    connectors.connect(demo_credentials(stats.path))                   # a read-only source like any other

The rows come from `generate.py` (seeded Python `random`, no download); they are written into a fresh file next to
the target, which then replaces the target in one rename: a reader never sees a half-built warehouse, and a
connector still reading the old file keeps its own copy of it until it closes.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from demo.generate import Tables, generate
from demo.schema import CENTS_COLUMNS, COLUMN_COMMENTS, TABLE_COMMENTS, TABLES, VIEWS
from demo.timeline import REFERENCE_DATE

DEFAULT_SEED = 7


@dataclass(frozen=True)
class DemoStats:
    """What a build produced."""

    path: Path
    seed: int
    #: the demo's "today": the last day with data
    reference_date: date
    #: rows per table, in creation order
    tables: dict[str, int]
    views: tuple[str, ...]
    elapsed_s: float

    @property
    def total_rows(self) -> int:
        return sum(self.tables.values())


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _insert(conn: duckdb.DuckDBPyConnection, table: str, columns: dict[str, list[Any]]) -> None:
    """All rows of a table in one statement: each column is one list parameter, unnested side by side (binding a
    list costs a fraction of binding its values one by one). Cents become DECIMAL(12,2) dollars exactly."""
    names = list(columns)
    unnested = ", ".join(f"unnest(${i + 1}) AS c{i}" for i in range(len(names)))
    values = ", ".join(
        f"(c{i} * 0.01)::DECIMAL(12,2)" if name in CENTS_COLUMNS else f"c{i}" for i, name in enumerate(names)
    )
    targets = ", ".join(CENTS_COLUMNS.get(name, name) for name in names)
    conn.execute(f"INSERT INTO {table} ({targets}) SELECT {values} FROM (SELECT {unnested})", [columns[n] for n in names])


def _write(conn: duckdb.DuckDBPyConnection, tables: Tables) -> None:
    conn.execute(TABLES)
    for table, columns in tables.columns.items():  # parents first: the foreign keys are checked on insert
        _insert(conn, table, columns)
    for table, comment in TABLE_COMMENTS.items():
        conn.execute(f"COMMENT ON TABLE {table} IS {_literal(comment)}")
        for column, text in COLUMN_COMMENTS[table].items():
            conn.execute(f"COMMENT ON COLUMN {table}.{column} IS {_literal(text)}")
    for view, (comment, query) in VIEWS.items():
        conn.execute(f"CREATE VIEW {view} AS {query.strip()}")
        conn.execute(f"COMMENT ON VIEW {view} IS {_literal(comment)}")


def build_demo_warehouse(path: Path, seed: int = DEFAULT_SEED) -> DemoStats:
    """(Re)build the demo warehouse at `path` from `seed`; see the module docstring."""
    started = time.perf_counter()
    path = Path(path).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    tables = generate(seed)
    building = path.with_name(f".{path.name}.building")
    for leftover in (building, building.with_name(building.name + ".wal")):
        leftover.unlink(missing_ok=True)  # an interrupted earlier build
    conn = duckdb.connect(str(building))
    try:
        conn.execute("SET enable_progress_bar = false")
        conn.execute("BEGIN")
        _write(conn, tables)
        conn.execute("COMMIT")
        conn.execute("CHECKPOINT")
    except BaseException:
        conn.close()
        building.unlink(missing_ok=True)
        raise
    conn.close()
    os.replace(building, path)
    return DemoStats(
        path=path,
        seed=seed,
        reference_date=REFERENCE_DATE,
        tables={table: tables.rows(table) for table in tables.columns},
        views=tuple(VIEWS),
        elapsed_s=round(time.perf_counter() - started, 3),
    )


def demo_credentials(path: Path) -> dict[str, Any]:
    """The credentials that register a built demo warehouse as a source (`connectors.parse_credentials` takes them)."""
    return {"type": "duckdb", "path": str(Path(path).expanduser().resolve())}


__all__ = ["DEFAULT_SEED", "DemoStats", "build_demo_warehouse", "demo_credentials"]
