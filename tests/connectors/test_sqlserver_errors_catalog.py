"""SQL Server error classification and catalog assembly, from recorded driver output (no server runs here).

Errors: `pyodbc.Error` instances built exactly as pyodbc raises them — `args = (sqlstate, message)` with the message in
pyodbc's `[STATE] [driver][SQL Server]text (native) (SQLFunction)` format; the texts and numbers are SQL Server's
(18456 login failed, 4060 cannot open database, 229 permission denied, ...).

Catalog: `SQLServerCatalogReader` is fed rows shaped like the five `sys.*` queries return them (same column order),
for a small schema with a composite primary key, a composite foreign key, a view, an indexed view, an external table,
an alias type and MS_Description comments; the test checks the assembled `Catalog` and the constant round trips.
"""

from __future__ import annotations

import pytest

pyodbc = pytest.importorskip("pyodbc")

from connectors import (  # noqa: E402
    AuthError,
    CatalogFilters,
    NetworkError,
    NotFoundError,
    PermissionDeniedError,
    QueryCanceledError,
    QueryError,
    QueryTimeoutError,
    ReadOnlyViolation,
    UnsupportedError,
)
from connectors.sqlserver.catalog import (  # noqa: E402
    COLUMNS_SQL,
    FOREIGN_KEYS_SQL,
    PRIMARY_KEYS_SQL,
    RELATIONS_SQL,
    VIEW_DEFINITIONS_SQL,
    SQLServerCatalogReader,
)
from connectors.sqlserver.errors import map_error, native_errors  # noqa: E402

SECRET = "Sup3r-Secret-77"


def _err(cls: type, state: str, *records: tuple[str, int], function: str = "SQLDriverConnect", driver: str = "FreeTDS"):
    text = "; ".join(f"[{state}] [{driver}][SQL Server]{msg} ({native}) ({function})" for msg, native in records)
    return cls(state, text)


@pytest.mark.parametrize(
    ("exc", "connecting", "expected", "retryable"),
    [
        (_err(pyodbc.InterfaceError, "28000", ("Login failed for user 'analyst'.", 18456)), True, AuthError, False),
        (
            _err(
                pyodbc.InterfaceError,
                "42000",
                ('Cannot open database "nope" requested by the login. The login failed.', 4060),
                ("Login failed for user 'analyst'.", 18456),
                driver="Microsoft][ODBC Driver 18 for SQL Server",
            ),
            True,
            NotFoundError,
            False,
        ),
        (_err(pyodbc.OperationalError, "08S01", ("Unable to connect: Adaptive Server is unavailable or does not exist", 20009)), True, NetworkError, True),
        (_err(pyodbc.OperationalError, "08001", ("Unable to connect to data source", 0)), True, NetworkError, True),
        (_err(pyodbc.OperationalError, "HYT00", ("Login timeout expired", 0)), True, NetworkError, True),
        (
            _err(pyodbc.ProgrammingError, "42000", ("The SELECT permission was denied on the object 'salary', database 'hr', schema 'dbo'.", 229), function="SQLExecDirectW"),
            False,
            PermissionDeniedError,
            False,
        ),
        (
            _err(pyodbc.ProgrammingError, "42000", ("The SELECT permission was denied on the column 'ssn' of the object 'person'.", 230), function="SQLExecDirectW"),
            False,
            PermissionDeniedError,
            False,
        ),
        (_err(pyodbc.OperationalError, "HYT00", ("Timeout expired", 0), function="SQLExecDirectW"), False, QueryTimeoutError, False),
        (_err(pyodbc.OperationalError, "HYT01", ("Connection timeout expired", 0), function="SQLExecDirectW"), False, QueryTimeoutError, False),
        (_err(pyodbc.ProgrammingError, "42S02", ("Invalid object name 'singers'.", 208), function="SQLExecDirectW"), False, QueryError, False),
        (_err(pyodbc.ProgrammingError, "42000", ("Incorrect syntax near 'FORM'.", 102), function="SQLExecDirectW"), False, QueryError, False),
        (_err(pyodbc.OperationalError, "40001", ("Transaction (Process ID 52) was deadlocked on lock resources with another process and has been chosen as the deadlock victim. Rerun the transaction.", 1205), function="SQLExecDirectW"), False, QueryError, True),
        (_err(pyodbc.OperationalError, "08S01", ("Communication link failure", 0), function="SQLExecDirectW"), False, NetworkError, True),
        (_err(pyodbc.ProgrammingError, "42000", ("Failed to update database \"hr\" because the database is read-only.", 3906), function="SQLExecDirectW"), False, ReadOnlyViolation, False),
        (_err(pyodbc.OperationalError, "42000", ("Database 'db' on server 'x' is not currently available. Please retry the connection later.", 40613)), True, NetworkError, True),
        (pyodbc.Error("01000", "[01000] [unixODBC][Driver Manager]Can't open lib 'ODBC Driver 18 for SQL Server' : file not found (0) (SQLDriverConnect)"), True, UnsupportedError, False),
    ],
)
def test_driver_errors_map_to_the_right_class(exc: Exception, connecting: bool, expected: type, retryable: bool) -> None:
    error = map_error(exc, secrets=[SECRET], connecting=connecting)
    assert type(error) is expected, error
    assert error.retryable is retryable
    assert "[SQL Server]" not in error.message and "(SQLExecDirectW)" not in error.message


def test_canceled_statement_is_canceled_unless_the_watchdog_fired() -> None:
    exc = _err(pyodbc.OperationalError, "HY008", ("Operation canceled", 0), function="SQLExecDirectW")
    assert type(map_error(exc, secrets=[], canceled=True)) is QueryCanceledError
    assert type(map_error(exc, secrets=[], canceled=True, timed_out=True)) is QueryTimeoutError
    assert type(map_error(exc, secrets=[], timed_out=True, timeout_s=5)) is QueryTimeoutError


def test_native_error_numbers_are_read_from_every_record() -> None:
    exc = _err(pyodbc.InterfaceError, "42000", ("Cannot open database", 4060), ("Login failed", 18456))
    assert native_errors(exc) == [4060, 18456]
    assert map_error(exc, secrets=[]).details["native_error"] == 4060


def test_a_secret_echoed_by_the_server_is_redacted() -> None:
    exc = _err(pyodbc.ProgrammingError, "42000", (f"Incorrect syntax near '{SECRET}'.", 102), function="SQLExecDirectW")
    error = map_error(exc, secrets=[SECRET])
    assert SECRET not in error.message and "**********" in error.message


# -- catalog assembly from recorded rows -------------------------------------------------------------------------------
RECORDED = {
    RELATIONS_SQL: [
        # schema, object_id, name, type, is_external, is_indexed_view, rows, size_bytes, comment
        ("dbo", 10, "singer", "U ", False, False, 6, 16384, "People who sing"),
        ("dbo", 11, "concert", "U ", False, False, 9, 16384, None),
        ("dbo", 12, "singer_in_concert", "U ", False, False, 12, 8192, None),
        ("dbo", 13, "v_stadium", "V ", False, False, None, None, None),
        ("dbo", 14, "v_totals", "V ", False, True, 3, 8192, None),
        ("lake", 15, "events", "U ", True, False, 0, 0, None),
        ("empty", None, None, None, None, None, None, None, None),
    ],
    COLUMNS_SQL: [
        # object_id, ordinal, name, type_name, base_type, max_length, precision, scale, nullable, default, comment
        (10, 1, "singer_id", "int", None, 4, 10, 0, False, None, None),
        (10, 2, "name", "nvarchar", None, 100, 0, 0, True, None, "Stage name"),
        (10, 3, "phone", "Phone", "varchar", 20, 0, 0, True, None, None),
        (10, 4, "fee", "decimal", None, 9, 10, 2, True, "((0))", None),
        (11, 1, "concert_id", "int", None, 4, 10, 0, False, None, None),
        (11, 2, "year", "nvarchar", None, -1, 0, 0, True, None, None),
        (12, 1, "concert_id", "int", None, 4, 10, 0, False, None, None),
        (12, 2, "singer_id", "int", None, 4, 10, 0, False, None, None),
        (13, 1, "name", "nvarchar", None, 100, 0, 0, True, None, None),
        (14, 1, "total", "bigint", None, 8, 19, 0, True, None, None),
        (15, 1, "at", "datetime2", None, 8, 27, 7, True, None, None),
        (99, 1, "orphan", "int", None, 4, 10, 0, True, None, None),  # an object the filters dropped
    ],
    PRIMARY_KEYS_SQL: [
        (10, "PK_singer", "singer_id"),
        (11, "PK_concert", "concert_id"),
        (12, "PK_sic", "concert_id"),
        (12, "PK_sic", "singer_id"),
    ],
    FOREIGN_KEYS_SQL: [
        (12, "FK_sic_concert", "concert_id", "dbo", "concert", "concert_id"),
        (12, "FK_sic_singer", "singer_id", "dbo", "singer", "singer_id"),
    ],
    VIEW_DEFINITIONS_SQL: [
        (13, "CREATE VIEW v_stadium AS SELECT name FROM stadium"),
        (14, "CREATE VIEW v_totals WITH SCHEMABINDING AS SELECT COUNT_BIG(*) AS total FROM dbo.concert"),
    ],
}


def _reader() -> tuple[SQLServerCatalogReader, list[str]]:
    sent: list[str] = []

    def run(sql: str):
        sent.append(sql)
        return RECORDED[sql]

    return SQLServerCatalogReader(run=run, database="concert_singer", server_version="16.0.1000.6"), sent


def test_catalog_is_assembled_from_five_bulk_queries() -> None:
    reader, sent = _reader()
    catalog = reader.read()
    assert catalog.round_trips == 5 and len(sent) == 5
    assert catalog.source_type == "sqlserver" and catalog.server_version == "16.0.1000.6"
    db = catalog.database("concert_singer")
    assert [s.name for s in db.schemas] == ["dbo", "lake", "empty"]

    singer = db.schema("dbo").table("singer")
    assert singer.kind == "table" and singer.row_count == 6 and singer.size_bytes == 16384
    assert singer.comment == "People who sing" and singer.primary_key == ["singer_id"]
    assert [(c.name, c.data_type, c.normalized_type, c.nullable) for c in singer.columns] == [
        ("singer_id", "int", "integer", False),
        ("name", "nvarchar(50)", "string", True),
        ("phone", "Phone", "string", True),
        ("fee", "decimal(10,2)", "decimal", True),
    ]
    assert singer.column("name").comment == "Stage name" and singer.column("fee").default == "((0))"
    assert db.schema("dbo").table("concert").column("year").data_type == "nvarchar(max)"

    link = db.schema("dbo").table("singer_in_concert")
    assert link.primary_key == ["concert_id", "singer_id"]
    assert [(fk.name, fk.columns, fk.referred_schema, fk.referred_table, fk.referred_columns) for fk in link.foreign_keys] == [
        ("FK_sic_concert", ["concert_id"], "dbo", "concert", ["concert_id"]),
        ("FK_sic_singer", ["singer_id"], "dbo", "singer", ["singer_id"]),
    ]

    view = db.schema("dbo").table("v_stadium")
    assert view.kind == "view" and view.row_count is None and view.view_definition.startswith("CREATE VIEW v_stadium")
    indexed = db.schema("dbo").table("v_totals")
    assert indexed.kind == "materialized_view" and indexed.row_count == 3
    assert db.schema("lake").table("events").kind == "external"
    assert db.schema("lake").table("events").column("at").normalized_type == "timestamp"


def test_filters_narrow_the_catalog_without_more_round_trips() -> None:
    reader, sent = _reader()
    catalog = reader.read(CatalogFilters(include_schemas=["dbo"], exclude_tables=["v_*"]))
    names = sorted(t.name for _, _, t in catalog.iter_tables())
    assert names == ["concert", "singer", "singer_in_concert"]
    assert len(sent) == 4  # no view selected: no view-definition query
    reader, sent = _reader()
    assert reader.read(CatalogFilters(exclude_databases=["concert_*"])).databases == [] and sent == []


def test_progress_reports_each_stage() -> None:
    reader, _ = _reader()
    stages: list[str] = []
    reader.read(progress=lambda stage, fields: stages.append(stage))
    assert stages == ["relations", "columns", "keys", "views", "done"]
