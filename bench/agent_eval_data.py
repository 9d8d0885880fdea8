"""Spider-layout datasets as the analyst agent sees a warehouse: `connectors.Catalog` models, profiles, values.

A dataset folder holds `sqlite/<db>.sqlite` and `questions.csv` (database, question, sql); a pool folder holds
`<db>.schema.sql` MySQL DDL files. Both become databases of ONE catalog (schema `main` each, the way SQLite names its
only schema); a database present in both is read from the SQLite file, which also has data to profile.

Profiles come from the project's own profiler (`connectors.profiling.profile_table`, top 5 values per column as the
introspection task keeps them), run on the SQLite file. Distinct values of low-cardinality text columns are read
separately: that is the value index the catalog search matches question literals against.
"""

from __future__ import annotations

import csv
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import sqlalchemy as sa
import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from connectors.catalog import (
    Catalog,
    Column,
    Database,
    ForeignKey,
    NormalizedType,
    Schema,
    Table,
    TableProfile,
    TableRef,
)
from connectors.profiling import profile_table
from connectors.results import QueryResult, ResultColumn
from tasks.analyst_agent.search import ColumnValues, TableKey

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATASET = REPO / "data" / "spider-dev"
DEFAULT_POOL = REPO / "data" / "spider-schemas"
SCHEMA = "main"
#: text columns with at most this many distinct values have all of them indexed
LOW_CARDINALITY = 100


class DatasetError(ValueError):
    """A dataset or pool folder that is not laid out as expected (named in the message)."""


@dataclass(frozen=True)
class Question:
    database: str
    question: str
    sql: str
    gold: frozenset[str]  # lowercase table names of the question's database


@dataclass
class Dataset:
    catalog: Catalog
    profiles: list[TableProfile]
    values: list[ColumnValues]
    questions: list[Question]
    sqlite_files: dict[str, Path] = field(default_factory=dict)
    load_seconds: float = 0.0


# -- types ------------------------------------------------------------------------------------------------------------
def normalized_type(data_type: exp.DataType | str) -> NormalizedType:
    """A declared SQL type (parsed by sqlglot, MySQL/SQLite spelling) in the shared vocabulary."""
    if isinstance(data_type, str):
        if not data_type.strip():
            return "other"
        try:
            data_type = exp.DataType.build(data_type, dialect="mysql")
        except (SqlglotError, ValueError):
            return "other"
    kind = data_type.this
    T = exp.DataType.Type
    if kind in (T.BOOLEAN, T.BIT):
        return "boolean"
    if kind in exp.DataType.INTEGER_TYPES or kind == T.YEAR:
        return "integer"
    if kind in (T.DECIMAL, T.MONEY, T.SMALLMONEY, T.BIGDECIMAL):
        return "decimal"
    if kind in exp.DataType.REAL_TYPES:
        return "float"
    if kind in exp.DataType.TEXT_TYPES or kind in (T.ENUM, T.SET):
        return "string"
    if kind in exp.DataType.BINARY_TYPES:
        return "binary"
    if kind == T.DATE:
        return "date"
    if kind == T.TIME:
        return "time"
    if kind in (T.DATETIME, T.TIMESTAMP):
        return "timestamp"
    if kind == T.JSON:
        return "json"
    return "other"


# -- catalogs ---------------------------------------------------------------------------------------------------------
def sqlite_database(path: Path, name: str | None = None) -> Database:
    """One SQLite file as a catalog database, read through SQLAlchemy's inspector (columns, keys, views)."""
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        inspector = sa.inspect(engine)
        tables: list[Table] = []
        names = [(n, "table") for n in inspector.get_table_names()] + [(n, "view") for n in inspector.get_view_names()]
        for table_name, kind in names:
            columns = [
                Column(
                    ordinal=i + 1,
                    name=col["name"],
                    data_type=str(col["type"]),
                    normalized_type=normalized_type(str(col["type"])),
                    nullable=bool(col.get("nullable", True)),
                    comment=col.get("comment"),
                )
                for i, col in enumerate(inspector.get_columns(table_name))
            ]
            foreign_keys = [
                ForeignKey(
                    name=fk.get("name"),
                    columns=fk["constrained_columns"],
                    referred_table=fk["referred_table"],
                    referred_columns=fk["referred_columns"],
                )
                for fk in inspector.get_foreign_keys(table_name)
            ]
            tables.append(
                Table(
                    name=table_name,
                    kind=kind,  # type: ignore[arg-type]
                    columns=columns,
                    primary_key=inspector.get_pk_constraint(table_name).get("constrained_columns") or [],
                    foreign_keys=foreign_keys,
                    view_definition=inspector.get_view_definition(table_name) if kind == "view" else None,
                )
            )
    finally:
        engine.dispose()
    return Database(name=name or path.stem, schemas=[Schema(name=SCHEMA, tables=tables)])


def _identifier_names(nodes: Iterable[exp.Expression]) -> list[str]:
    return [n.name for n in nodes]


def ddl_database(path: Path) -> Database:
    """A `<db>.schema.sql` file of MySQL CREATE TABLE statements as a catalog database (columns, keys, comments)."""
    name = path.name.removesuffix(".schema.sql")
    try:
        statements = sqlglot.parse(path.read_text(encoding="utf-8"), read="mysql")
    except SqlglotError as error:
        raise DatasetError(f"{path.name}: not MySQL DDL sqlglot can read ({error})") from None
    tables: list[Table] = []
    for statement in statements:
        if not isinstance(statement, exp.Create) or not isinstance(statement.this, exp.Schema):
            continue
        schema = statement.this
        columns: list[Column] = []
        primary_key: list[str] = []
        foreign_keys: list[ForeignKey] = []
        for item in schema.expressions:
            if isinstance(item, exp.ColumnDef):
                kind = item.args.get("kind")
                comment = None
                for constraint in item.constraints:
                    if isinstance(constraint.kind, exp.PrimaryKeyColumnConstraint):
                        primary_key.append(item.name)
                    elif isinstance(constraint.kind, exp.CommentColumnConstraint):
                        comment = constraint.kind.this.name
                columns.append(
                    Column(
                        ordinal=len(columns) + 1,
                        name=item.name,
                        data_type=kind.sql(dialect="mysql") if kind else "",
                        normalized_type=normalized_type(kind) if kind else "other",
                        comment=comment,
                    )
                )
            elif isinstance(item, exp.PrimaryKey):
                primary_key.extend(_identifier_names(item.expressions))
            elif isinstance(item, exp.ForeignKey):
                reference = item.args["reference"].this
                referred = reference.this if isinstance(reference, exp.Schema) else reference
                foreign_keys.append(
                    ForeignKey(
                        columns=_identifier_names(item.expressions),
                        referred_table=referred.name,
                        referred_columns=_identifier_names(reference.expressions)
                        if isinstance(reference, exp.Schema)
                        else [],
                    )
                )
        tables.append(Table(name=schema.this.name, columns=columns, primary_key=primary_key, foreign_keys=foreign_keys))
    if not tables:
        raise DatasetError(f"{path.name}: no CREATE TABLE statement")
    return Database(name=name, schemas=[Schema(name=SCHEMA, tables=tables)])


# -- profiles and values ----------------------------------------------------------------------------------------------
def _sqlite_query(conn: sqlite3.Connection):
    def run(sql: str, max_rows: int, timeout: float) -> QueryResult:
        start = time.perf_counter()
        cursor = conn.execute(sql)
        rows = cursor.fetchmany(max_rows + 1)
        return QueryResult(
            columns=[ResultColumn(name=d[0], type="") for d in cursor.description or []],
            rows=[list(r) for r in rows[:max_rows]],
            row_count=min(len(rows), max_rows),
            truncated=len(rows) > max_rows,
            elapsed_ms=(time.perf_counter() - start) * 1000,
        )

    return run


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def profile_sqlite(path: Path, database: Database) -> tuple[list[TableProfile], list[ColumnValues]]:
    """Profiles of every table (the project's profiler, on SQLite) and the distinct values of its low-cardinality
    text columns."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.text_factory = lambda b: b.decode("utf-8", errors="replace")
    query = _sqlite_query(conn)
    profiles: list[TableProfile] = []
    values: list[ColumnValues] = []
    try:
        for schema in database.schemas:
            for table in schema.tables:
                if table.kind != "table" or not table.columns:
                    continue
                rows = conn.execute(f"SELECT COUNT(*) FROM {_quote(table.name)}").fetchone()[0]
                profile = profile_table(  # SQLite knows one database and schema per file: name the table alone
                    query,
                    "sqlite",
                    TableRef(name=table.name),
                    table.columns,
                    row_estimate=rows,
                    primary_key=table.primary_key,
                )
                profile = profile.model_copy(update={"database": database.name, "schema_": schema.name})
                profiles.append(profile)
                for col in profile.columns:
                    if (
                        col.normalized_type != "string"
                        or not col.distinct_count
                        or col.distinct_count > LOW_CARDINALITY
                    ):
                        continue
                    rows = conn.execute(
                        f"SELECT DISTINCT {_quote(col.name)} FROM {_quote(table.name)} "
                        f"WHERE {_quote(col.name)} IS NOT NULL LIMIT {LOW_CARDINALITY + 1}"
                    ).fetchall()
                    distinct = [str(r[0]) for r in rows if str(r[0]).strip()]
                    if distinct and len(distinct) <= LOW_CARDINALITY:
                        key = TableKey(database.name, schema.name, table.name)
                        values.append(ColumnValues(table=key, column=col.name, values=distinct))
    finally:
        conn.close()
    return profiles, values


# -- questions and gold tables ---------------------------------------------------------------------------------------
def gold_tables(sql: str) -> frozenset[str]:
    """Lowercase names of the tables a gold query reads (CTE names excluded), parsed as MySQL by sqlglot."""
    try:
        tree = sqlglot.parse_one(sql, read="mysql")
    except SqlglotError as error:
        raise DatasetError(f"gold SQL sqlglot cannot read: {sql!r} ({error})") from None
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    return frozenset(t.name.lower() for t in tree.find_all(exp.Table) if t.name and t.name.lower() not in ctes)


def read_questions(path: Path, databases: Sequence[str] | None = None) -> list[Question]:
    if not path.is_file():
        raise DatasetError(f"no questions file at {path}")
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"database", "question", "sql"} - set(reader.fieldnames or [])
        if missing:
            raise DatasetError(f"{path.name}: missing column(s) {', '.join(sorted(missing))}")
        rows = list(reader)
    wanted = set(databases) if databases else None
    return [
        Question(database=r["database"], question=r["question"], sql=r["sql"], gold=gold_tables(r["sql"]))
        for r in rows
        if wanted is None or r["database"] in wanted
    ]


def load_dataset(
    dataset: Path = DEFAULT_DATASET,
    pool: Path | None = None,
    *,
    databases: Sequence[str] | None = None,
    with_profiles: bool = True,
) -> Dataset:
    """The dataset's databases (and the pool's, when given) as one catalog, with profiles, values and questions.

    `databases` narrows the dataset's databases (the pool, when given, is always loaded whole)."""
    started = time.perf_counter()
    sqlite_dir = dataset / "sqlite"
    if not sqlite_dir.is_dir():
        raise DatasetError(f"{dataset} has no sqlite/ folder")
    files = {p.stem: p for p in sorted(sqlite_dir.glob("*.sqlite"))}
    if databases:
        unknown = sorted(set(databases) - set(files))
        if unknown:
            raise DatasetError(f"database(s) not in {sqlite_dir}: {', '.join(unknown)}")
        files = {name: files[name] for name in databases}
    if not files:
        raise DatasetError(f"{sqlite_dir} holds no .sqlite file")

    catalog_dbs: dict[str, Database] = {}
    profiles: list[TableProfile] = []
    values: list[ColumnValues] = []
    for name, path in files.items():
        db = sqlite_database(path, name)
        catalog_dbs[name] = db
        if with_profiles:
            p, v = profile_sqlite(path, db)
            profiles.extend(p)
            values.extend(v)
    if pool is not None:
        ddl_files = sorted(pool.glob("*.schema.sql"))
        if not ddl_files:
            raise DatasetError(f"{pool} holds no <db>.schema.sql file")
        for path in ddl_files:
            name = path.name.removesuffix(".schema.sql")
            if name not in catalog_dbs:  # a database present in both counts once (the SQLite copy has data)
                catalog_dbs[name] = ddl_database(path)
    questions = read_questions(dataset / "questions.csv", list(files))
    catalog = Catalog(source_type="spider", databases=list(catalog_dbs.values()))
    _check_gold(catalog, questions)
    return Dataset(
        catalog=catalog,
        profiles=profiles,
        values=values,
        questions=questions,
        sqlite_files=files,
        load_seconds=time.perf_counter() - started,
    )


def _check_gold(catalog: Catalog, questions: list[Question]) -> None:
    """Every gold table must exist in its database, or recall would be measured against a table nobody can find."""
    tables: dict[str, set[str]] = {}
    for db, _, table in catalog.iter_tables():
        tables.setdefault(db.name, set()).add(table.name.lower())
    for q in questions:
        missing = q.gold - tables.get(q.database, set())
        if missing:
            raise DatasetError(f"gold table(s) {sorted(missing)} of {q.question!r} not in database {q.database}")


__all__ = [
    "DEFAULT_DATASET",
    "DEFAULT_POOL",
    "Dataset",
    "DatasetError",
    "Question",
    "ddl_database",
    "gold_tables",
    "load_dataset",
    "normalized_type",
    "profile_sqlite",
    "read_questions",
    "sqlite_database",
]
