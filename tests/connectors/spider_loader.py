"""Load the spider-dev databases into a real server, for introspection and guard tests and benchmarks.

    from tests.connectors.spider_loader import load_spider_dev
    schemas = load_spider_dev("postgresql+psycopg://postgres@127.0.0.1/test", "cpg_")   # -> ["cpg_battle_death", ...]
    schemas = load_spider_dev("mysql+pymysql://root@127.0.0.1/test", "cmy_")            # one MariaDB database each

Each spider database becomes one *schema* named `<prefix><database in lower case>`: a schema in PostgreSQL, a database
in MySQL/MariaDB (where the two are the same thing). That keeps all ten side by side in one connection, which is what
an introspection comparison wants, and table names keep their original case (`Student`, `Has_Pet`) so case handling
is exercised too.

The keys come from `data/spider-dev/mysql/*.schema.sql` (the source of truth; parsed with sqlglot),
the rows from the SQLite files. Spider's data does not always honour its own foreign keys, so rows are loaded first and
the foreign keys added afterwards without checking existing rows (PostgreSQL `NOT VALID`; MySQL `foreign_key_checks=0`).
Everything goes through SQLAlchemy, so the loader works for any URL SQLAlchemy can reach.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable

import sqlalchemy as sa
import sqlglot
from sqlglot import exp

SPIDER_DEV_DIR = Path(__file__).resolve().parents[2] / "data" / "spider-dev"
SPIDER_DATABASES = (
    "battle_death",
    "car_1",
    "concert_singer",
    "course_teach",
    "cre_Doc_Template_Mgt",
    "employee_hire_evaluation",
    "flight_2",
    "museum_visit",
    "pets_1",
    "wta_1",
)


@dataclass
class SpiderForeignKey:
    columns: list[str]
    referred_table: str
    referred_columns: list[str]


@dataclass
class SpiderTable:
    """One table as the MySQL DDL declares it (the oracle the loader builds from)."""

    name: str
    columns: list[tuple[str, exp.DataType, bool]]  # (name, sqlglot type, not null)
    primary_key: list[str] = field(default_factory=list)
    unique: list[list[str]] = field(default_factory=list)
    foreign_keys: list[SpiderForeignKey] = field(default_factory=list)


def schema_name(prefix: str, database: str) -> str:
    """The schema (MySQL: database) a spider database is loaded into."""
    return f"{prefix}{database}".lower()


def parse_spider_ddl(database: str, spider_dir: Path = SPIDER_DEV_DIR) -> list[SpiderTable]:
    """The tables of one spider database, read from its MySQL DDL with sqlglot."""
    ddl = (spider_dir / "mysql" / f"{database}.schema.sql").read_text()
    tables: list[SpiderTable] = []
    for statement in sqlglot.parse(ddl, read="mysql"):
        if not isinstance(statement, exp.Create) or not isinstance(statement.this, exp.Schema):
            continue
        table = SpiderTable(name=statement.this.this.name, columns=[])
        for item in statement.this.expressions:
            if isinstance(item, exp.ColumnDef):
                not_null = any(isinstance(c.kind, exp.NotNullColumnConstraint) for c in item.constraints)
                table.columns.append((item.name, item.kind, not_null))
            elif isinstance(item, exp.PrimaryKey):
                table.primary_key = [i.name for i in item.expressions]
            elif isinstance(item, exp.UniqueColumnConstraint):
                table.unique.append([c.name for c in item.this.expressions])
            elif isinstance(item, exp.ForeignKey):
                ref = item.args["reference"].this
                table.foreign_keys.append(
                    SpiderForeignKey(
                        columns=[i.name for i in item.expressions],
                        referred_table=ref.this.name,
                        referred_columns=[i.name for i in ref.expressions],
                    )
                )
            else:
                raise ValueError(f"{database}.{table.name}: unexpected DDL element {item.sql('mysql')!r}")
        tables.append(table)
    return tables


_INTEGERS = {exp.DataType.Type.INT, exp.DataType.Type.BIGINT, exp.DataType.Type.SMALLINT, exp.DataType.Type.TINYINT}
_FLOATS = {exp.DataType.Type.FLOAT, exp.DataType.Type.DOUBLE}


def _sqlalchemy_type(kind: exp.DataType) -> sa.types.TypeEngine[Any]:
    size = [int(p.name) for p in kind.expressions]
    t = kind.this
    if t in _INTEGERS:
        return sa.Integer()
    if t in _FLOATS:
        return sa.Float()
    if t == exp.DataType.Type.VARCHAR:
        return sa.String(*size)
    if t == exp.DataType.Type.CHAR:
        return sa.CHAR(*size)
    if t == exp.DataType.Type.TEXT:
        return sa.Text()
    if t == exp.DataType.Type.DATE:
        return sa.Date()
    if t == exp.DataType.Type.DATETIME:
        return sa.DateTime()
    raise ValueError(f"no SQLAlchemy type for spider column type {kind.sql('mysql')}")


def _parse_date(value: Any) -> date | None:
    # SQLite holds spider dates as ISO text, as YYYYMMDD integers, or as the string 'NULL'.
    if value is None:
        return None
    text = str(value).strip()
    for fmt in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return datetime.strptime(text[:10] if fmt == "%Y-%m-%d" else text, fmt).date()
        except ValueError:
            continue
    return None


def _parse_datetime(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(str(value).strip())
    except ValueError:
        return None


def _converter(kind: exp.DataType) -> Callable[[Any], Any]:
    """SQLite is typeless; coerce each value to what the declared column type accepts (unparsable -> NULL)."""
    t = kind.this
    if t == exp.DataType.Type.DATE:
        return _parse_date
    if t == exp.DataType.Type.DATETIME:
        return _parse_datetime

    def numeric(cast: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def convert(value: Any) -> Any:
            if value is None or value == "":
                return None
            try:
                return cast(value)
            except (TypeError, ValueError):
                return None

        return convert

    if t in _INTEGERS:
        return numeric(lambda v: int(float(v)) if isinstance(v, str) else int(v))
    if t in _FLOATS:
        return numeric(float)
    return lambda v: v if v is None or isinstance(v, str) else str(v)


def build_metadata(prefix: str, databases: tuple[str, ...] | list[str] = SPIDER_DATABASES) -> sa.MetaData:
    """SQLAlchemy tables (columns, primary keys, unique constraints; no foreign keys) for the spider databases."""
    metadata = sa.MetaData()
    for database in databases:
        schema = schema_name(prefix, database)
        for spec in parse_spider_ddl(database):
            columns = [
                sa.Column(
                    name, _sqlalchemy_type(kind), nullable=not not_null and name not in spec.primary_key, autoincrement=False
                )
                for name, kind, not_null in spec.columns
            ]
            constraints: list[sa.schema.Constraint] = []
            if spec.primary_key:
                constraints.append(sa.PrimaryKeyConstraint(*spec.primary_key))
            constraints += [sa.UniqueConstraint(*cols) for cols in spec.unique]
            sa.Table(spec.name, metadata, *columns, *constraints, schema=schema)
    return metadata


def _foreign_key_ddl(engine: sa.Engine, schema: str, table: str, index: int, fk: SpiderForeignKey) -> str:
    prep = engine.dialect.identifier_preparer
    q = prep.quote
    cols = ", ".join(q(c) for c in fk.columns)
    ref_cols = ", ".join(q(c) for c in fk.referred_columns)
    name = q(f"fk_{table}_{index}".lower()[:60])
    ddl = (
        f"ALTER TABLE {q(schema)}.{q(table)} ADD CONSTRAINT {name} FOREIGN KEY ({cols}) "
        f"REFERENCES {q(schema)}.{q(fk.referred_table)} ({ref_cols})"
    )
    if engine.dialect.name == "postgresql":
        ddl += " NOT VALID"  # spider rows do not always satisfy their keys; keep the key, skip the check
    return ddl


def _load_rows(conn: sa.Connection, table: sa.Table, sqlite_path: Path, specs: dict[str, SpiderTable]) -> int:
    spec = specs[table.name]
    converters = [_converter(kind) for _, kind, _ in spec.columns]
    names = [name for name, _, _ in spec.columns]
    source = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
    try:
        select = ", ".join(f'"{n}"' for n in names)
        raw = source.execute(f'SELECT {select} FROM "{table.name}"').fetchall()
    finally:
        source.close()
    rows = [{n: convert(v) for n, convert, v in zip(names, converters, row)} for row in raw]
    # Primary and unique keys are enforced; keep the first row of any duplicate so the load never fails on data.
    for key in [spec.primary_key, *spec.unique]:
        if key:
            seen: set[tuple[Any, ...]] = set()
            kept = []
            for row in rows:
                value = tuple(row[c] for c in key)
                if value in seen or (key == spec.primary_key and None in value):
                    continue
                seen.add(value)
                kept.append(row)
            rows = kept
    if rows:
        conn.execute(table.insert(), rows)
    return len(rows)


def load_spider_dev(
    engine_url: str,
    prefix: str,
    *,
    databases: tuple[str, ...] | list[str] = SPIDER_DATABASES,
    replace: bool = True,
) -> list[str]:
    """Create one schema per spider database (`<prefix><db>`), with keys and rows; return the schema names.

    `replace=True` drops and rebuilds the schemas; `replace=False` leaves a schema that already exists untouched
    (fast reuse when a previous run loaded it).
    """
    engine = sa.create_engine(engine_url)
    names = [schema_name(prefix, db) for db in databases]
    try:
        with engine.begin() as conn:
            existing = set(sa.inspect(conn).get_schema_names())
            todo = [db for db in databases if replace or schema_name(prefix, db) not in existing]
            for db in todo:
                schema = schema_name(prefix, db)
                if schema in existing:
                    if engine.dialect.name == "postgresql":
                        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
                    else:
                        conn.execute(sa.schema.DropSchema(schema))
                conn.execute(sa.schema.CreateSchema(schema))
            if engine.dialect.name in ("mysql", "mariadb"):
                conn.execute(sa.text("SET foreign_key_checks = 0"))
            metadata = build_metadata(prefix, todo)
            metadata.create_all(conn)
            for db in todo:
                schema = schema_name(prefix, db)
                specs = {spec.name: spec for spec in parse_spider_ddl(db)}
                for spec in specs.values():
                    _load_rows(conn, metadata.tables[f"{schema}.{spec.name}"], SPIDER_DEV_DIR / "sqlite" / f"{db}.sqlite", specs)
                for spec in specs.values():
                    for index, fk in enumerate(spec.foreign_keys):
                        conn.execute(sa.text(_foreign_key_ddl(engine, schema, spec.name, index, fk)))
            if engine.dialect.name == "postgresql" and todo:
                conn.execute(sa.text("ANALYZE " + ", ".join(f'"{schema_name(prefix, db)}"."{t.name}"' for db in todo for t in parse_spider_ddl(db))))
    finally:
        engine.dispose()
    return names


def drop_spider_dev(engine_url: str, prefix: str, databases: tuple[str, ...] | list[str] = SPIDER_DATABASES) -> None:
    """Remove what `load_spider_dev` created."""
    engine = sa.create_engine(engine_url)
    try:
        with engine.begin() as conn:
            existing = set(sa.inspect(conn).get_schema_names())
            for db in databases:
                schema = schema_name(prefix, db)
                if schema not in existing:
                    continue
                if engine.dialect.name == "postgresql":
                    conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
                else:
                    conn.execute(sa.schema.DropSchema(schema))
    finally:
        engine.dispose()


if __name__ == "__main__":  # python -m tests.connectors.spider_loader URL PREFIX
    import sys

    print(load_spider_dev(sys.argv[1], sys.argv[2]))
