"""The DuckDB connector's pure parts: credentials, type names, LIMIT pushdown, quoted setup statements, view text,
and the error mapping (fed real duckdb exception objects, as the driver raises them)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from connectors import CredentialsError, DuckDBCredentials, connector_class, parse_credentials
from connectors.duckdb.catalog import view_query
from connectors.duckdb.errors import map_error, map_file_error
from connectors.duckdb.sandbox import database_alias
from connectors.duckdb.statements import allowed_paths_sql, attach_sql, file_view_sql, push_row_limit
from connectors.duckdb.types import normalize_type
from connectors.errors import (
    NetworkError,
    NotFoundError,
    PermissionDeniedError,
    QueryCanceledError,
    QueryError,
    QueryTimeoutError,
    ReadOnlyViolation,
    UnsupportedError,
)

ROOT = Path(__file__).resolve().parents[2]


# -- credentials --------------------------------------------------------------------------------------------------
def test_credentials_take_a_path_files_or_both() -> None:
    both = parse_credentials({"type": "duckdb", "path": "w.duckdb", "files": {"orders": "o.parquet", "Events": "e.CSV.gz"}})
    assert isinstance(both, DuckDBCredentials) and both.files == {"orders": "o.parquet", "Events": "e.CSV.gz"}
    assert parse_credentials({"type": "duckdb", "files": {"x": "x.jsonl"}}).path is None
    assert parse_credentials({"type": "duckdb", "path": "w.duckdb"}).secret_values() == []


@pytest.mark.parametrize(
    ("data", "field", "says"),
    [
        ({"type": "duckdb"}, "credentials", "need a path, files, or both"),
        ({"type": "duckdb", "path": " "}, "path", "must name a DuckDB database file"),
        ({"type": "duckdb", "path": ":memory:"}, "path", "must name a DuckDB database file"),
        ({"type": "duckdb", "files": {"1st": "a.csv"}}, "files", "view name '1st'"),
        ({"type": "duckdb", "files": {"a b": "a.csv"}}, "files", "view name 'a b'"),
        ({"type": "duckdb", "files": {"pw": "/etc/passwd"}}, "files", "must end in one of"),
        ({"type": "duckdb", "files": {"A": "a.csv", "a": "b.csv"}}, "files", "differ only in case: a"),
        ({"type": "duckdb", "path": "w.duckdb", "host": "x"}, "host", "Extra inputs"),
    ],
)
def test_bad_credentials_name_the_field(data: dict, field: str, says: str) -> None:
    with pytest.raises(CredentialsError) as info:
        parse_credentials(data)
    assert info.value.details["errors"][0]["field"] == field
    assert says in info.value.message


def test_the_connector_is_registered_under_duckdb() -> None:
    from connectors.duckdb import DuckDBConnector

    assert connector_class("duckdb") is DuckDBConnector
    assert (DuckDBConnector.dialect, DuckDBConnector.source_type) == ("duckdb", "duckdb")


def test_without_the_duckdb_package_connect_names_the_extra() -> None:
    """In a fresh interpreter with `duckdb` hidden: `import connectors` works, duckdb credentials validate, and
    connect() raises MissingDriverError naming the `duckdb` extra."""
    code = (
        "import sys\n"
        "sys.modules['duckdb'] = None\n"
        "import connectors\n"
        "creds = {'type': 'duckdb', 'path': 'w.duckdb'}\n"
        "connectors.parse_credentials(creds)\n"
        "try:\n"
        "    connectors.connect(creds)\n"
        "except connectors.MissingDriverError as exc:\n"
        "    print(exc.extra, exc.details['module'], 'analyst-taskpack[duckdb]' in exc.message)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["duckdb", "duckdb", "True"]


def test_importing_connectors_does_not_import_duckdb() -> None:
    code = "import sys, connectors; print('duckdb' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


# -- types --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("data_type", "normalized"),
    [
        ("INTEGER", "integer"), ("HUGEINT", "integer"), ("UBIGINT", "integer"), ("BIGNUM", "integer"),
        ("DECIMAL(12,2)", "decimal"), ("DOUBLE", "float"), ("FLOAT", "float"), ("BOOLEAN", "boolean"),
        ("VARCHAR", "string"), ("ENUM('sad', 'ok')", "string"), ("BLOB", "binary"), ("BIT", "binary"),
        ("DATE", "date"), ("TIME", "time"), ("TIME WITH TIME ZONE", "time"), ("TIMESTAMP", "timestamp"),
        ("TIMESTAMP_NS", "timestamp"), ("TIMESTAMP WITH TIME ZONE", "timestamp_tz"), ("INTERVAL", "interval"),
        ("JSON", "json"), ("VARIANT", "json"), ("UUID", "uuid"), ("INTEGER[]", "array"), ("VARCHAR[3]", "array"),
        ("STRUCT(a INTEGER, b VARCHAR[])[]", "array"), ("STRUCT(a INTEGER, b VARCHAR[])", "struct"),
        ("MAP(VARCHAR, INTEGER)", "struct"), ("UNION(a INTEGER, b VARCHAR)", "other"), ('"NULL"', "other"),
        ("GEOMETRY", "geography"),
    ],
)
def test_duckdb_types_normalize(data_type: str, normalized: str) -> None:
    assert normalize_type(data_type) == normalized


def test_every_type_duckdb_prints_for_a_column_is_known() -> None:
    """The names come from DuckDB itself: each column type of a table using them normalizes to something other than
    'other' (UNION aside), so a renamed type in a new DuckDB release shows up here."""
    conn = duckdb.connect()
    conn.execute("CREATE TYPE mood AS ENUM ('sad', 'ok')")
    conn.execute(
        "CREATE TABLE t (a TINYINT, b SMALLINT, c INTEGER, d BIGINT, e HUGEINT, f UTINYINT, g UHUGEINT, h VARINT,"
        " i DECIMAL(5,1), j REAL, k DOUBLE, l BOOLEAN, m VARCHAR(9), n mood, o BLOB, p BIT, q DATE, r TIME,"
        " s TIMETZ, t TIMESTAMP, u TIMESTAMP_S, v TIMESTAMP_MS, w TIMESTAMP_NS, x TIMESTAMPTZ, y INTERVAL, z UUID,"
        " aa JSON, ab INTEGER[], ac INTEGER[2], ad STRUCT(x INT), ae MAP(INT, INT), af VARIANT)"
    )
    types = [row[0] for row in conn.execute("SELECT data_type FROM duckdb_columns() WHERE table_name = 't'").fetchall()]
    conn.close()
    assert len(types) == 32
    assert [t for t in types if normalize_type(t) == "other"] == []


# -- statements ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sql", "sent"),
    [
        ("SELECT 1", "SELECT 1\nLIMIT 6"),
        ("FROM t", "FROM t\nLIMIT 6"),
        ("SELECT a FROM t ORDER BY a", "SELECT a FROM t ORDER BY a\nLIMIT 6"),
        ("SELECT 1 UNION ALL SELECT 2", "SELECT 1 UNION ALL SELECT 2\nLIMIT 6"),
        ("WITH x AS (SELECT 1) SELECT * FROM x", "WITH x AS (SELECT 1) SELECT * FROM x\nLIMIT 6"),
        ("SELECT * FROM t LIMIT 100", "SELECT * FROM t LIMIT 100"),
        ("DESCRIBE t", "DESCRIBE t"),
        ("SHOW TABLES", "SHOW TABLES"),
        ("(SELECT 1)", "(SELECT 1)"),
        ("SELECT 'it''s -- not a comment'", "SELECT 'it''s -- not a comment'\nLIMIT 6"),
    ],
)
def test_row_limit_is_appended_to_queries_without_one(sql: str, sent: str) -> None:
    assert push_row_limit(sql, 5) == sent


def test_pushed_limits_are_valid_duckdb() -> None:
    conn = duckdb.connect()
    for sql in ("FROM range(10)", "SELECT * FROM range(10) OFFSET 2", "SELECT 1 UNION SELECT 2 UNION SELECT 3"):
        assert len(conn.execute(push_row_limit(sql, 1)).fetchall()) == 2, sql
    conn.close()


def test_setup_statements_quote_paths_and_names() -> None:
    path = Path("/data/it's here/w.duckdb")
    assert attach_sql(path, 'we"ird') == "ATTACH '/data/it''s here/w.duckdb' AS \"we\"\"ird\" (READ_ONLY)"
    assert file_view_sql("o", Path("/x/o'1.parquet"), "read_parquet") == (
        "CREATE TEMP VIEW \"o\" AS SELECT * FROM read_parquet('/x/o''1.parquet')"
    )
    assert allowed_paths_sql([Path("/a.csv"), Path("/b'.csv")]) == "SET allowed_paths = ['/a.csv', '/b''.csv']"


@pytest.mark.parametrize(
    ("file_name", "alias"),
    [("demo.duckdb", "demo"), ("sales.v2.db", "sales"), ("memory.duckdb", "memory_db"), ("TEMP.duckdb", "TEMP_db"), (".duckdb", "database")],
)
def test_the_database_is_attached_under_its_stem_unless_duckdb_reserves_it(file_name: str, alias: str) -> None:
    assert database_alias(Path("/x") / file_name) == alias


@pytest.mark.parametrize(
    ("stored", "query"),
    [
        ("CREATE VIEW v AS SELECT 1;", "SELECT 1"),
        ('CREATE VIEW "as"(a, b) AS SELECT x AS a, y AS b FROM t;', "SELECT x AS a, y AS b FROM t"),
        ("CREATE TEMPORARY VIEW pv AS SELECT * FROM read_parquet('/a as b.parquet');", "SELECT * FROM read_parquet('/a as b.parquet')"),
        (None, None),
    ],
)
def test_view_definitions_are_the_query_only(stored: str | None, query: str | None) -> None:
    assert view_query(stored) == query


# -- errors -------------------------------------------------------------------------------------------------------
def test_interrupts_are_cancels_on_request_and_timeouts_otherwise() -> None:
    interrupted = duckdb.InterruptException("INTERRUPT Error: Interrupted!")
    assert isinstance(map_error(interrupted, canceled=True), QueryCanceledError)
    timeout = map_error(interrupted, canceled=True, timed_out=True, timeout_s=2.5)
    assert isinstance(timeout, QueryTimeoutError) and "2.5 s" in timeout.message
    assert isinstance(map_error(interrupted), QueryTimeoutError)


@pytest.mark.parametrize(
    ("exc", "expected", "code"),
    [
        (duckdb.CatalogException("Catalog Error: Table with name nope does not exist!\nDid you mean \"pg_enum\"?"), NotFoundError, "not_found"),
        (duckdb.ParserException("Parser Error: syntax error at or near \"selec\"\n\nLINE 1: selec 1"), QueryError, "query_error"),
        (duckdb.BinderException("Binder Error: Referenced column \"x\" not found"), QueryError, "query_error"),
        (duckdb.PermissionException('Permission Error: Cannot access file "/etc/passwd" - file system operations are disabled by configuration'), PermissionDeniedError, "permission_denied"),
        (duckdb.InvalidInputException('Invalid Input Error: Cannot execute statement of type "INSERT" on database "w" which is attached in read-only mode!'), ReadOnlyViolation, "read_only_violation"),
        (duckdb.InvalidInputException('Invalid Input Error: Cannot change configuration option "threads" - the configuration has been locked'), PermissionDeniedError, "permission_denied"),
        (duckdb.InvalidInputException("Invalid Input Error: Parameter argument/count mismatch"), QueryError, "query_error"),
        (duckdb.OutOfMemoryException("Out of Memory Error: could not allocate"), QueryError, "out_of_memory"),
        (duckdb.NotImplementedException("Not implemented Error: x"), UnsupportedError, "unsupported"),
        (duckdb.ConnectionException("Connection Error: Connection already closed!"), NetworkError, "network_error"),
        (duckdb.ConversionException("Conversion Error: Could not convert string 'a' to INT32"), QueryError, "query_error"),
    ],
)
def test_query_errors_map_by_exception_class(exc: Exception, expected: type, code: str) -> None:
    error = map_error(exc)
    assert type(error) is expected and error.code == code
    assert error.details["driver_error"] == type(exc).__name__
    assert "\n" not in error.message


def test_hints_after_the_first_line_go_to_details() -> None:
    error = map_error(duckdb.CatalogException("Catalog Error: Table with name nope does not exist!\nDid you mean \"pg_enum\"?"))
    assert error.details["hint"] == 'Did you mean "pg_enum"?'


@pytest.mark.parametrize(
    ("message", "expected", "code"),
    [
        ('IO Error: Cannot open database "/x.duckdb" in read-only mode: database does not exist', NotFoundError, "not_found"),
        ('IO Error: Could not read from file "/tmp": Is a directory', NotFoundError, "not_found"),
        ('IO Error: Could not set lock on file "/x.duckdb": Conflicting lock is held in /usr/bin/python3 (PID 7)', NetworkError, "database_locked"),
        ('IO Error: Cannot open file "/x.duckdb": Permission denied', PermissionDeniedError, "permission_denied"),
        ('IO Error: The file "/x.duckdb" exists, but it is not a valid DuckDB database file!', UnsupportedError, "invalid_database_file"),
        ("IO Error: Trying to read a database file with version number 99, but we can only read version 64", UnsupportedError, "invalid_database_file"),
    ],
)
def test_open_errors_say_what_is_wrong_with_the_file(message: str, expected: type, code: str) -> None:
    error = map_error(duckdb.IOException(message), opening=True)
    assert type(error) is expected and error.code == code
    assert error.retryable is (code == "database_locked")


def test_file_view_errors_name_the_view_and_path() -> None:
    error = map_file_error(duckdb.InvalidInputException("Invalid Input Error: No magic bytes found"), view="orders", path=Path("/d/o.parquet"))
    assert isinstance(error, QueryError) and error.code == "unreadable_file"
    assert "'orders'" in error.message and error.details["path"] == "/d/o.parquet"
