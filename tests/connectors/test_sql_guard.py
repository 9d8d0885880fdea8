"""The read-only SQL guard: what it accepts, what it refuses, and what it says when it refuses.

No server is involved: the guard decides on the text alone (that a refused statement never reaches a server is
proved by each connector's own tests). Acceptance is proved on real queries — every spider-dev gold query, transpiled
by sqlglot from MySQL into each of our eight dialects — and refusal on a corpus of destructive or side-effecting
statements, each with the construct the refusal must name.
"""

from __future__ import annotations

import csv
import logging
import threading
from pathlib import Path

import pytest
import sqlglot

from connectors import QueryError, ReadOnlyViolation, UnsupportedError
from connectors.sql_guard import SUPPORTED_DIALECTS, check_read_only, resolve_dialect

SPIDER_QUESTIONS = Path(__file__).resolve().parents[2] / "data" / "spider-dev" / "questions.csv"
DIALECTS = ["postgres", "mysql", "redshift", "snowflake", "bigquery", "tsql", "databricks", "duckdb"]

# Gold queries sqlglot cannot transpile into a dialect (not the guard's fault); counted and kept explicit so a new
# failure shows up as a test failure rather than as a silently smaller corpus. Empty with sqlglot 30.
KNOWN_TRANSPILE_FAILURES: dict[str, set[str]] = {d: set() for d in DIALECTS}


@pytest.fixture(autouse=True)
def _quiet_sqlglot() -> None:
    # sqlglot warns "falling back to parsing as a Command" for each opaque statement in the corpus.
    logging.getLogger("sqlglot").setLevel(logging.ERROR)


def _gold_queries() -> list[str]:
    if not SPIDER_QUESTIONS.is_file():
        pytest.fail(f"spider-dev questions not found at {SPIDER_QUESTIONS}")
    with SPIDER_QUESTIONS.open(newline="") as f:
        return [row["sql"] for row in csv.DictReader(f)]


def _expected_text(sql: str) -> str:
    return sql.strip().rstrip(";").rstrip()


# -- (a) every spider-dev gold query is accepted, in every dialect ------------------------------------------------------
@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_spider_gold_query_transpiled_to_dialect_is_accepted_unchanged(dialect: str) -> None:
    queries = _gold_queries()
    assert len(queries) >= 500
    transpile_failures: list[str] = []
    refused: list[tuple[str, str]] = []
    altered: list[tuple[str, str]] = []
    for gold in queries:
        try:
            sql = sqlglot.transpile(gold, read="mysql", write=dialect)[0]
        except sqlglot.errors.SqlglotError:
            transpile_failures.append(gold)
            continue
        try:
            runnable = check_read_only(sql, dialect, timeout=60)
        except (ReadOnlyViolation, QueryError) as exc:
            refused.append((sql, exc.message))
            continue
        if runnable != _expected_text(sql):
            altered.append((sql, runnable))
    assert set(transpile_failures) == KNOWN_TRANSPILE_FAILURES[dialect], "sqlglot transpile failures changed"
    assert refused == [], f"{len(refused)} gold queries refused in {dialect}, first: {refused[:3]}"
    assert altered == [], f"the guard rewrote {len(altered)} queries: {altered[:3]}"


def test_spider_gold_queries_are_accepted_verbatim_in_their_own_mysql_text() -> None:
    queries = _gold_queries()
    refused = []
    for gold in queries:
        try:
            assert check_read_only(gold, "mysql") == _expected_text(gold)
        except (ReadOnlyViolation, QueryError) as exc:
            refused.append((gold, exc.message))
    assert refused == []


# -- (b) destructive and side-effecting statements are refused, naming the construct -------------------------------------
# (dialect, sql, construct); the timeout is 60 s for every case.
DESTRUCTIVE = [
    # data-modifying statements and where they hide
    ("postgres", "DELETE FROM singer", "DELETE"),
    ("postgres", "UPDATE singer SET age = 0", "UPDATE"),
    ("postgres", "INSERT INTO singer (name) VALUES ('x')", "INSERT"),
    ("postgres", "WITH d AS (DELETE FROM singer RETURNING *) SELECT * FROM d", "DELETE"),
    ("postgres", "WITH a AS (SELECT 1), u AS (UPDATE singer SET age = 1 RETURNING *) SELECT * FROM a", "UPDATE"),
    ("postgres", "SELECT * FROM (WITH i AS (INSERT INTO t VALUES (1) RETURNING *) SELECT * FROM i) s", "INSERT"),
    ("postgres", "SELECT * FROM (DELETE FROM singer RETURNING *) x", "DELETE"),
    ("postgres", "WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x", "INSERT"),
    ("postgres", "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET a = 1", "MERGE"),
    ("snowflake", "MERGE INTO t USING s ON t.id = s.id WHEN NOT MATCHED THEN INSERT (id) VALUES (s.id)", "MERGE"),
    ("databricks", "INSERT OVERWRITE t SELECT * FROM s", "INSERT"),
    ("mysql", "REPLACE INTO t VALUES (1)", "REPLACE"),
    ("tsql", "UPDATE TOP (10) t SET a = 1", "UPDATE"),
    # DDL and privileges
    ("postgres", "DROP TABLE singer", "DROP"),
    ("postgres", "CREATE TABLE x AS SELECT * FROM singer", "CREATE"),
    ("bigquery", "CREATE TEMP FUNCTION f() AS (1)", "CREATE"),
    ("snowflake", "ALTER SESSION SET QUERY_TAG = 'x'", "ALTER"),
    ("postgres", "TRUNCATE singer", "TRUNCATE"),
    ("mysql", "TRUNCATE TABLE singer", "TRUNCATE"),
    ("postgres", "GRANT SELECT ON singer TO public", "GRANT"),
    ("postgres", "REVOKE SELECT ON singer FROM public", "REVOKE"),
    ("postgres", "COMMENT ON TABLE singer IS 'x'", "COMMENT"),
    ("snowflake", "UNDROP TABLE t", "UNDROP"),
    # SELECT ... INTO and row locks
    ("postgres", "SELECT * INTO new_singer FROM singer", "SELECT INTO"),
    ("tsql", "SELECT * INTO #tmp FROM singer", "SELECT INTO"),
    ("mysql", "SELECT name INTO @v FROM singer LIMIT 1", "SELECT INTO"),
    ("mysql", "SELECT * FROM singer INTO OUTFILE '/tmp/singer.csv'", "SELECT INTO OUTFILE"),
    ("mysql", "SELECT * FROM singer INTO DUMPFILE '/tmp/singer.bin'", "SELECT INTO DUMPFILE"),
    ("postgres", "SELECT * FROM singer FOR UPDATE", "FOR UPDATE"),
    ("postgres", "SELECT * FROM singer FOR NO KEY UPDATE SKIP LOCKED", "FOR UPDATE"),
    ("postgres", "SELECT * FROM singer FOR SHARE", "FOR SHARE"),
    ("mysql", "SELECT * FROM singer LOCK IN SHARE MODE", "FOR SHARE"),
    ("mysql", "SELECT * FROM (SELECT * FROM singer FOR UPDATE) s", "FOR UPDATE"),
    ("tsql", "SELECT * FROM singer WITH (UPDLOCK)", "UPDLOCK"),
    ("tsql", "SELECT * FROM singer WITH (TABLOCKX, HOLDLOCK)", "TABLOCKX"),
    # EXPLAIN that executes, and several statements
    ("postgres", "EXPLAIN ANALYZE DELETE FROM singer", "DELETE"),
    ("postgres", "EXPLAIN (ANALYZE, BUFFERS) UPDATE singer SET age = 1", "UPDATE"),
    ("mysql", "EXPLAIN ANALYZE DELETE FROM singer", "DELETE"),
    ("postgres", "select 1; drop table x", "multiple statements"),
    ("mysql", "SELECT * FROM singer; DELETE FROM singer", "multiple statements"),
    ("postgres", "select 1 -- harmless\n; drop table x", "multiple statements"),
    ("postgres", "select 1 /* a */; /* b */ drop table x", "multiple statements"),
    ("tsql", "SELECT 1; EXEC xp_cmdshell 'dir'", "multiple statements"),
    ("databricks", "SHOW TABLES; DROP TABLE x", "multiple statements"),
    # comments and string escaping that hide statements
    ("mysql", "SELECT * FROM singer /*! FOR UPDATE */", "executable comment"),
    ("mysql", "SELECT 1 /*M!100000 , SLEEP(1000) */", "executable comment"),
    ("redshift", r"SELECT 'a\'; DROP TABLE singer; --'", "multiple statements"),
    ("postgres", r"SELECT 'a\', 'b; DROP TABLE singer; --'", "multiple statements"),
    # session and transaction control
    ("postgres", "SET search_path = evil", "SET"),
    ("postgres", "SET ROLE admin", "SET"),
    ("tsql", "SET NOCOUNT ON", "SET"),
    ("mysql", "USE test", "USE"),
    ("snowflake", "USE WAREHOUSE big", "USE"),
    ("postgres", "BEGIN", "BEGIN"),
    ("postgres", "COMMIT", "COMMIT"),
    ("postgres", "LOCK TABLE singer", "LOCK"),
    ("mysql", "LOCK TABLES singer READ", "LOCK TABLES"),
    ("mysql", "KILL 1", "KILL"),
    ("postgres", "LISTEN ch", "LISTEN"),
    ("postgres", "RESET ALL", "RESET"),
    # maintenance
    ("postgres", "VACUUM singer", "VACUUM"),
    ("postgres", "ANALYZE singer", "ANALYZE"),
    ("postgres", "REFRESH MATERIALIZED VIEW mv", "REFRESH"),
    ("postgres", "REINDEX TABLE singer", "REINDEX"),
    ("databricks", "OPTIMIZE events", "OPTIMIZE"),
    ("databricks", "REFRESH TABLE events", "REFRESH"),
    ("databricks", "MSCK REPAIR TABLE events", "MSCK REPAIR"),
    ("databricks", "CACHE TABLE events", "CACHE"),
    ("databricks", "VACUUM events", "VACUUM"),
    ("mysql", "FLUSH TABLES", "FLUSH"),
    # data movement and files
    ("postgres", "COPY singer TO PROGRAM 'rm -rf /'", "COPY"),
    ("postgres", "COPY (SELECT * FROM singer) TO '/tmp/s.csv'", "COPY"),
    ("databricks", "COPY INTO events FROM 's3://bucket/path' FILEFORMAT = CSV", "COPY"),
    ("snowflake", "COPY INTO @stage FROM t", "COPY"),
    ("snowflake", "PUT file:///tmp/data.csv @stage", "PUT"),
    ("snowflake", "GET @stage file:///tmp/", "GET"),
    ("snowflake", "REMOVE @stage", "REMOVE"),
    ("bigquery", "EXPORT DATA OPTIONS(uri='gs://b/*.csv', format='CSV') AS SELECT * FROM d.t", "EXPORT DATA"),
    ("redshift", "UNLOAD ('select 1') TO 's3://b/x' IAM_ROLE 'arn'", "UNLOAD"),
    ("mysql", "LOAD DATA INFILE '/tmp/x.csv' INTO TABLE singer", "LOAD DATA"),
    ("mysql", "HANDLER singer OPEN", "HANDLER"),
    ("mysql", "DO SLEEP(1000)", "DO"),
    # procedures and dynamic SQL
    ("postgres", "CALL do_things()", "CALL"),
    ("snowflake", "CALL SYSTEM$WAIT(10)", "CALL"),
    ("bigquery", "CALL ds.proc()", "CALL"),
    ("tsql", "EXEC xp_cmdshell 'dir'", "EXECUTE"),
    ("tsql", "EXECUTE sp_configure 'show advanced options', 1", "EXECUTE"),
    ("tsql", "WAITFOR DELAY '00:10:00'", "WAITFOR"),
    ("tsql", "BULK INSERT t FROM 'c:\\x.csv'", "BULK INSERT"),
    ("postgres", "DO $$ BEGIN DELETE FROM singer; END $$", "DO"),
    ("postgres", "PREPARE p AS DELETE FROM singer", "PREPARE"),
    ("bigquery", "EXECUTE IMMEDIATE 'DELETE FROM d.t WHERE TRUE'", "EXECUTE"),
    ("bigquery", "DECLARE x INT64", "DECLARE"),
    ("bigquery", "BEGIN SELECT 1; END", "multiple statements"),
    # side-effect functions
    ("postgres", "SELECT pg_sleep(1000)", "pg_sleep"),
    ("postgres", "SELECT pg_sleep(random() * 10)", "pg_sleep"),
    ("postgres", "SELECT pg_sleep_for('5 minutes')", "pg_sleep_for"),
    ("mysql", "SELECT SLEEP(1000)", "sleep"),
    ("mysql", "SELECT * FROM singer WHERE SLEEP(age)", "sleep"),
    ("snowflake", "SELECT SYSTEM$WAIT(2, 'MINUTES')", "system$wait"),
    ("postgres", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity", "pg_terminate_backend"),
    ("postgres", "SELECT pg_catalog.pg_cancel_backend(1)", "pg_cancel_backend"),
    ("postgres", "SELECT pg_reload_conf()", "pg_reload_conf"),
    ("postgres", "SELECT lo_import('/etc/passwd')", "lo_import"),
    ("postgres", "SELECT lo_export(1, '/tmp/x')", "lo_export"),
    ("postgres", "SELECT dblink_exec('dbname=x', 'DROP TABLE t')", "dblink_exec"),
    ("postgres", "SELECT * FROM dblink('dbname=x', 'SELECT 1') AS t(a int)", "dblink"),
    ("postgres", "SELECT set_config('search_path', 'evil', false)", "set_config"),
    ("postgres", "SELECT nextval('singer_id_seq')", "nextval"),
    ("postgres", "SELECT setval('singer_id_seq', 1)", "setval"),
    ("postgres", "SELECT pg_read_file('/etc/passwd')", "pg_read_file"),
    ("postgres", "SELECT pg_advisory_lock(42)", "pg_advisory_lock"),
    ("postgres", "SELECT pg_try_advisory_xact_lock(42)", "pg_try_advisory_xact_lock"),
    ("postgres", "SELECT txid_current()", "txid_current"),
    ("postgres", "SELECT * FROM pg_logical_slot_get_changes('slot', NULL, NULL)", "pg_logical_slot_get_changes"),
    ("postgres", "SELECT query_to_xml('DELETE FROM singer RETURNING 1', true, true, '')", "query_to_xml"),
    ("postgres", 'SELECT "pg_sleep"(1000)', "pg_sleep"),
    ("postgres", "WITH s AS (SELECT pg_terminate_backend(1)) SELECT * FROM s", "pg_terminate_backend"),
    ("mysql", "SELECT BENCHMARK(100000000, MD5('x'))", "benchmark"),
    ("mysql", "SELECT GET_LOCK('x', 10)", "get_lock"),
    ("mysql", "SELECT LOAD_FILE('/etc/passwd')", "load_file"),
    ("mysql", "SELECT sys_exec('rm -rf /')", "sys_exec"),
    ("tsql", "SELECT * FROM OPENROWSET('SQLNCLI', 'Server=x;', 'SELECT 1')", "openrowset"),
    ("tsql", "SELECT * FROM OPENQUERY(linked, 'DELETE FROM t')", "openquery"),
    ("tsql", "SELECT * FROM OPENDATASOURCE('SQLNCLI', 'Data Source=x').db.dbo.t", "opendatasource"),
    ("tsql", "SELECT NEXT VALUE FOR dbo.seq", "NEXT VALUE FOR"),
    ("snowflake", "SELECT SYSTEM$CANCEL_ALL_QUERIES(123)", "system$cancel_all_queries"),
    ("snowflake", "SELECT SYSTEM$ABORT_SESSION(123)", "system$abort_session"),
    ("snowflake", "SELECT seq1.NEXTVAL", "NEXTVAL"),
    ("bigquery", "SELECT * FROM EXTERNAL_QUERY('conn', 'DELETE FROM t')", "external_query"),
    ("databricks", "SELECT http_request(conn => 'c', method => 'POST', path => '/x')", "http_request"),
    ("databricks", "SELECT reflect('java.lang.System', 'exit', 0)", "reflect"),
    # DuckDB: files, extensions, other databases and settings stay out of reach
    ("duckdb", "ATTACH '/tmp/x.duckdb' AS x", "ATTACH"),
    ("duckdb", "INSTALL httpfs", "INSTALL"),
    ("duckdb", "LOAD httpfs", "LOAD"),
    ("duckdb", "COPY t TO '/tmp/t.csv'", "COPY"),
    ("duckdb", "SET threads = 1", "SET"),
    ("duckdb", "PRAGMA version", "PRAGMA"),
    ("duckdb", "EXPORT DATABASE '/tmp/x'", "EXPORT"),
    ("duckdb", "IMPORT DATABASE '/tmp/x'", "IMPORT"),
    ("duckdb", "CALL pragma_version()", "CALL"),
    ("duckdb", "SELECT * FROM read_csv('/etc/passwd')", "read_csv"),
    ("duckdb", "SELECT * FROM read_text('/etc/passwd')", "read_text"),
    ("duckdb", "SELECT * FROM glob('/etc/*')", "glob"),
    ("duckdb", "SELECT * FROM '/etc/passwd'", "file"),
    # statements sqlglot only half-recognises (parsed as a bare name): refused as not being queries
    ("postgres", "CHECKPOINT", "CHECKPOINT"),
    ("postgres", "DISCARD ALL", "DISCARD"),
    ("tsql", "DBCC CHECKDB", "DBCC"),
]


@pytest.mark.parametrize(
    ("dialect", "sql", "construct"), DESTRUCTIVE, ids=[f"{d}:{s[:50]}" for d, s, _ in DESTRUCTIVE]
)
def test_destructive_statement_is_refused_naming_its_construct(dialect: str, sql: str, construct: str) -> None:
    with pytest.raises(ReadOnlyViolation) as info:
        check_read_only(sql, dialect, timeout=60)
    assert info.value.construct == construct, info.value.message
    assert info.value.details["construct"] == construct
    assert info.value.message.startswith("read-only violation: ")


def test_destructive_corpus_is_large_and_spans_every_dialect() -> None:
    assert len(DESTRUCTIVE) >= 40
    assert {d for d, _, _ in DESTRUCTIVE} == set(DIALECTS)


def test_refusal_message_says_where_the_write_hides() -> None:
    with pytest.raises(ReadOnlyViolation) as info:
        check_read_only("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", "postgres")
    assert info.value.message == "read-only violation: DELETE inside a CTE (WITH d AS (DELETE …))"
    with pytest.raises(ReadOnlyViolation) as info:
        check_read_only("EXPLAIN ANALYZE DELETE FROM t", "postgres")
    assert "inside EXPLAIN ANALYZE" in info.value.message and "runs the statement" in info.value.message
    with pytest.raises(ReadOnlyViolation) as info:
        check_read_only("SELECT pg_sleep(1000)", "postgres", timeout=60)
    assert "beyond the 60 s timeout" in info.value.message


def test_refusal_is_a_typed_non_retryable_error() -> None:
    with pytest.raises(ReadOnlyViolation) as info:
        check_read_only("DROP TABLE singer", "postgres")
    error = info.value.to_dict()
    assert error["type"] == "ReadOnlyViolation"
    assert error["code"] == "read_only_violation"
    assert error["retryable"] is False
    assert error["details"]["construct"] == "DROP"


# -- (c) harmless edge cases stay accepted, text untouched -----------------------------------------------------------
HARMLESS = [
    ("postgres", "SELECT 'DROP TABLE singer; DELETE FROM x' AS s"),
    ("postgres", 'SELECT "delete", "update", "drop" FROM "insert"'),
    ("mysql", "SELECT `delete`, `set` FROM `into`"),
    ("tsql", "SELECT [delete], [exec] FROM [drop]"),
    ("postgres", "SELECT 1 /* ; DROP TABLE x */ AS one"),
    ("postgres", "/* leading comment */ SELECT 1"),
    ("postgres", "SELECT 1 /* nested /* comment */ ; DROP TABLE x */ AS one"),
    ("mysql", "SELECT 1 # ; DROP TABLE x\nAS one"),
    ("postgres", "SELECT 1 -- ; DROP TABLE x\nAS one"),
    ("mysql", "SELECT '/*! FOR UPDATE */' AS s"),
    ("mysql", "SELECT /*+ MAX_EXECUTION_TIME(1000) */ * FROM singer"),
    ("mysql", r"SELECT * FROM singer WHERE name = 'O\'Brien'"),
    ("postgres", r"SELECT E'tab\there'"),
    ("postgres", "SELECT $$ ; DROP TABLE x $$"),
    ("postgres", "SELECT pg_sleep(1)"),
    ("mysql", "SELECT SLEEP(0.5)"),
    ("postgres", "SELECT nextval_count FROM stats"),
    ("postgres", "SELECT update_time, deleted FROM singer WHERE inserted IS NOT NULL"),
    ("postgres", "SELECT * FROM singer TABLESAMPLE SYSTEM (10)"),
    ("postgres", "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT * FROM r"),
    ("postgres", "(SELECT 1) UNION (SELECT 2) ORDER BY 1"),
    ("postgres", "VALUES (1, 'a'), (2, 'b')"),
    ("postgres", "EXPLAIN SELECT * FROM singer"),
    ("postgres", "EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM singer"),
    ("postgres", "SHOW search_path"),
    ("postgres", "SELECT current_setting('search_path'), txid_current_if_assigned()"),
    ("mysql", "SHOW TABLES"),
    ("mysql", "SHOW CREATE TABLE singer"),
    ("mysql", "DESCRIBE singer"),
    ("mysql", "EXPLAIN FORMAT=TREE SELECT * FROM singer"),
    ("redshift", "EXPLAIN VERBOSE SELECT 1"),
    ("redshift", "SHOW TABLES FROM SCHEMA dev.public"),
    ("tsql", "SELECT TOP 10 * FROM singer WITH (NOLOCK) ORDER BY name"),
    ("tsql", "SELECT * FROM singer FOR JSON AUTO"),
    ("snowflake", "SHOW TABLES IN SCHEMA db.s"),
    ("snowflake", "DESCRIBE TABLE singer"),
    ("snowflake", "EXPLAIN USING TEXT SELECT 1"),
    ("snowflake", "SELECT SYSTEM$CLUSTERING_INFORMATION('singer'), SYSTEM$TYPEOF(1)"),
    ("snowflake", "SELECT SYSTEM$WAIT(5)"),
    ("snowflake", "SELECT * FROM singer AT(OFFSET => -60)"),
    ("bigquery", "SELECT * FROM `proj.ds.singer` WHERE _PARTITIONTIME IS NOT NULL"),
    ("databricks", "SHOW TABLES IN main.default"),
    ("databricks", "DESCRIBE TABLE EXTENDED main.default.events"),
    ("databricks", "DESCRIBE HISTORY events"),
    ("databricks", "DESCRIBE DETAIL main.default.events"),
    ("databricks", "EXPLAIN EXTENDED SELECT * FROM events"),
    ("databricks", "SELECT * FROM events VERSION AS OF 3"),
]


@pytest.mark.parametrize(("dialect", "sql"), HARMLESS, ids=[f"{d}:{s[:50]}" for d, s in HARMLESS])
def test_harmless_statement_is_accepted_and_returned_as_written(dialect: str, sql: str) -> None:
    assert check_read_only(sql, dialect, timeout=60) == sql


def test_trailing_semicolons_and_comments_are_cut_and_nothing_else_changes() -> None:
    assert check_read_only("SELECT  *\nFROM singer ;  ", "postgres") == "SELECT  *\nFROM singer"
    assert check_read_only("select 1;; -- bye", "postgres") == "select 1"
    assert check_read_only("select 1 -- note", "mysql") == "select 1"
    assert check_read_only("; select 1", "postgres") == " select 1"
    assert check_read_only("SELECT 1 /* ; DROP TABLE x */", "postgres") == "SELECT 1"


# -- decisions: sleeps, parse failures, dialect names, escaping ------------------------------------------------------
def test_sleep_is_bounded_by_the_timeout_when_one_is_given() -> None:
    assert check_read_only("SELECT pg_sleep(60)", "postgres", timeout=60)
    with pytest.raises(ReadOnlyViolation):
        check_read_only("SELECT pg_sleep(61)", "postgres", timeout=60)
    with pytest.raises(ReadOnlyViolation):
        check_read_only("SELECT SLEEP(2)", "mysql", timeout=1)
    # Without a timeout the connector's server-side statement timeout bounds a constant sleep.
    assert check_read_only("SELECT pg_sleep(30)", "postgres") == "SELECT pg_sleep(30)"
    with pytest.raises(ReadOnlyViolation, match="without a constant number"):
        check_read_only("SELECT pg_sleep(age) FROM singer", "postgres")


def test_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError):
        check_read_only("SELECT 1", "postgres", timeout=0)


def test_unparseable_sql_is_refused_as_a_query_error_not_run() -> None:
    with pytest.raises(QueryError) as info:
        check_read_only("SELECT name FROM singer WHERE (age > 1", "postgres")
    assert not isinstance(info.value, ReadOnlyViolation)
    assert info.value.code == "unparseable_sql"
    assert "could not parse" in info.value.message and info.value.details["dialect"] == "postgres"
    with pytest.raises(QueryError) as info:
        check_read_only("SELECT 'unterminated", "postgres")
    assert info.value.code == "unparseable_sql"


def test_unparseable_describe_is_accepted_only_where_describe_cannot_run_a_statement() -> None:
    # Databricks/Snowflake DESCRIBE only reads metadata; in MySQL DESCRIBE is EXPLAIN (and DESCRIBE ANALYZE runs).
    assert check_read_only("DESCRIBE DETAIL events", "databricks") == "DESCRIBE DETAIL events"
    with pytest.raises(QueryError) as info:
        check_read_only("DESCRIBE DETAIL events", "mysql")
    assert info.value.code == "unparseable_sql"
    with pytest.raises(ReadOnlyViolation):
        check_read_only("DESCRIBE DETAIL events; DROP TABLE events", "databricks")


def test_empty_sql_is_a_query_error() -> None:
    for sql in ("", "   ", ";", "-- just a comment", "/* x */ ;"):
        with pytest.raises(QueryError) as info:
            check_read_only(sql, "postgres")
        assert info.value.code == "empty_sql"
    with pytest.raises(QueryError):
        check_read_only(None, "postgres")  # type: ignore[arg-type]


def test_source_types_resolve_to_sqlglot_dialects() -> None:
    assert resolve_dialect("sqlserver") == "tsql"
    assert resolve_dialect("PostgreSQL") == "postgres"
    assert resolve_dialect("mariadb") == "mysql"
    assert SUPPORTED_DIALECTS == set(DIALECTS)
    with pytest.raises(ReadOnlyViolation):
        check_read_only("EXEC xp_cmdshell 'dir'", "sqlserver")
    assert check_read_only("SELECT TOP 1 * FROM t", "sqlserver") == "SELECT TOP 1 * FROM t"


def test_unknown_dialect_is_unsupported() -> None:
    with pytest.raises(UnsupportedError, match="oracle"):
        check_read_only("SELECT 1 FROM dual", "oracle")


def test_backslash_ambiguity_is_only_refused_when_the_other_reading_writes() -> None:
    # One statement in PostgreSQL's standard strings; two if the server escapes with backslashes.
    sql = r"SELECT 'a\', 'b; DROP TABLE singer; --'"
    with pytest.raises(ReadOnlyViolation) as info:
        check_read_only(sql, "postgres")
    assert info.value.details["ambiguous_escaping"] is True
    # A backslash whose other reading is merely invalid is harmless: the server would reject it, not run it.
    assert check_read_only(r"SELECT 'C:\'", "postgres") == r"SELECT 'C:\'"


def test_guard_is_safe_to_call_from_many_threads() -> None:
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(50):
                assert check_read_only("SELECT a FROM t WHERE b = 'x;y'", "postgres") == "SELECT a FROM t WHERE b = 'x;y'"
                with pytest.raises(ReadOnlyViolation):
                    check_read_only("SELECT 1; DELETE FROM t", "postgres")
        except BaseException as exc:  # collected, asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


# -- the allow-list design ---------------------------------------------------------------------------------------------
def test_every_sqlglot_function_class_is_reviewed_exactly_once() -> None:
    from connectors.sql_guard.typed_functions import ALLOWED_TYPED, NAMED_CALLS, REFUSED_TYPED, UNREVIEWED, all_function_classes

    assert UNREVIEWED == frozenset(), f"review these sqlglot classes: {sorted(UNREVIEWED)}"
    assert not ALLOWED_TYPED & set(REFUSED_TYPED)
    names = {c.__name__ for c in all_function_classes()}
    assert ALLOWED_TYPED <= names and set(REFUSED_TYPED) <= names, "a reviewed class no longer exists in sqlglot"
    assert {c.__name__ for c in NAMED_CALLS} <= names


@pytest.mark.parametrize(
    ("dialect", "sql", "construct"),
    [
        ("postgres", 'SELECT U&"pg\\005fterminate\\005fbackend"(pid) FROM pg_stat_activity', "pg_terminate_backend"),
        ("postgres", "SELECT U&\"pg!005fread!005ffile\" UESCAPE '!' ('/etc/passwd')", "pg_read_file"),
        ("postgres", 'SELECT U&"\\+000070g_sleep"(3000)', "pg_sleep"),
        ("postgres", 'SELECT "pg_catalog"."pg_read_file"(\'x\')', "pg_read_file"),
        ("postgres", "SELECT PG_CATALOG.PG_STAT_RESET()", "pg_stat_reset"),
        ("postgres", "SELECT * FROM pg_ls_logicalsnapdir()", "pg_ls_logicalsnapdir"),
        ("mysql", "SELECT `GET_LOCK`('x', 1)", "get_lock"),
        ("mysql", "SELECT MASTER_GTID_WAIT('0-1-1', 10)", "master_gtid_wait"),
        ("snowflake", "SELECT GETNEXTVAL(s)", "getnextval"),
        ("databricks", "SELECT try_reflect('a', 'b')", "try_reflect"),
        ("databricks", "SELECT ai_query('m', 'p')", "ai_query"),
        ("bigquery", "SELECT `ext\\x65rnal_query`('c', 'q')", "external_query"),
        ("tsql", "SELECT [openquery](x, 'y')", "openquery"),
    ],
)
def test_functions_are_compared_by_the_name_the_server_resolves(dialect: str, sql: str, construct: str) -> None:
    with pytest.raises(ReadOnlyViolation) as info:
        check_read_only(sql, dialect, timeout=60)
    assert info.value.construct == construct, info.value.message
    assert construct in info.value.message.lower() or construct.upper() in info.value.message


def test_unknown_function_is_refused_naming_it_and_how_to_allow_it() -> None:
    with pytest.raises(ReadOnlyViolation) as info:
        check_read_only("SELECT my_udf(a) FROM t", "postgres")
    assert info.value.construct == "my_udf"
    assert "my_udf()" in info.value.message and "allowed_functions" in info.value.message


def test_decoded_escapes_that_name_a_builtin_are_accepted() -> None:
    assert check_read_only('SELECT U&"\\006cower"(\'A\')', "postgres")
    assert check_read_only("SELECT U&\"!006cower\" UESCAPE '!' ('A')", "postgres")
    assert check_read_only("SELECT U&'d!0061t' UESCAPE '!'", "postgres")
    with pytest.raises(QueryError) as info:
        check_read_only('SELECT U&"\\00zz"(1)', "postgres")
    assert info.value.code == "unparseable_sql" and not isinstance(info.value, ReadOnlyViolation)


def test_quoted_names_are_case_sensitive_where_the_dialect_folds() -> None:
    assert check_read_only('SELECT "lower"(\'A\')', "postgres")
    with pytest.raises(ReadOnlyViolation) as info:
        check_read_only('SELECT "LOWER"(\'A\')', "postgres")  # a different function: PostgreSQL folds to lower case
    assert info.value.construct == '"LOWER"'
    assert check_read_only('SELECT "LOWER"(\'A\')', "snowflake")
    with pytest.raises(ReadOnlyViolation):
        check_read_only('SELECT "lower"(\'A\')', "snowflake")  # Snowflake folds to upper case
    assert check_read_only("SELECT `LOWER`('A')", "mysql")  # MySQL function names ignore case


def test_qualified_calls_pass_only_through_the_builtins_schema() -> None:
    assert check_read_only("SELECT pg_catalog.lower('A')", "postgres")
    with pytest.raises(ReadOnlyViolation) as info:
        check_read_only("SELECT public.lower('A')", "postgres")
    assert info.value.construct == "public.lower" and "user-defined" in info.value.message
    with pytest.raises(ReadOnlyViolation):
        check_read_only("SELECT compress(v) FROM t", "postgres")  # sqlglot types it, PostgreSQL has no such built-in


def test_a_source_may_allow_its_own_functions() -> None:
    with pytest.raises(ReadOnlyViolation):
        check_read_only("SELECT analytics.margin(a) FROM t", "postgres")
    sql = "SELECT analytics.margin(a), ANALYTICS.MARGIN(b) FROM t"
    assert check_read_only(sql, "postgres", allowed_functions=["analytics.margin"]) == sql
    with pytest.raises(ReadOnlyViolation):  # the bare name does not allow another schema's function
        check_read_only("SELECT other.margin(a) FROM t", "postgres", allowed_functions=["margin"])
    model = "SELECT * FROM ML.PREDICT(MODEL ds.m, TABLE ds.t)"
    with pytest.raises(ReadOnlyViolation, match="calls a model"):
        check_read_only(model, "bigquery")
    assert check_read_only(model, "bigquery", allowed_functions=["ML.PREDICT"]) == model
    with pytest.raises(ValueError):
        check_read_only("SELECT 1", "postgres", allowed_functions=["a b c d e"])


def test_tsql_statement_keywords_are_never_names() -> None:
    for sql in ("SELECT 1 DELETE FROM t COMMIT", "SELECT 1 SHUTDOWN", "SELECT * FROM t COMMIT", "SELECT 1 RECONFIGURE"):
        with pytest.raises(ReadOnlyViolation) as info:
            check_read_only(sql, "tsql")
        assert info.value.construct == "multiple statements"
        assert "T-SQL batch" in info.value.message
    for sql in ("SELECT 1 AS [delete]", 'SELECT 1 AS "commit"', "SELECT [commit] FROM [shutdown]"):
        assert check_read_only(sql, "tsql") == sql


def test_session_state_changes_are_refused() -> None:
    for dialect, sql, construct in [
        ("mysql", "SELECT @v := 1", ":="),
        ("mysql", "SELECT LAST_INSERT_ID(5)", "last_insert_id"),
        ("mysql", "SELECT s.nextval", "NEXTVAL"),
        ("mysql", "SELECT NEXT VALUE FOR s", "NEXT VALUE FOR"),
        ("mysql", "SELECT NEXTVAL(s)", "nextval"),
        ("tsql", "SELECT @v = 1", "variable assignment"),
        ("postgres", "SELECT set_config('a.b', 'c', false)", "set_config"),
        ("duckdb", "SELECT setseed(0.1)", "setseed"),
    ]:
        with pytest.raises(ReadOnlyViolation) as info:
            check_read_only(sql, dialect)
        assert info.value.construct == construct, (sql, info.value.message)
    assert check_read_only("SELECT LAST_INSERT_ID(), @v", "mysql")


def test_a_sleep_must_run_once_and_fit_the_timeout() -> None:
    assert check_read_only("SELECT pg_sleep(0.5)", "postgres", timeout=1)
    for sql, why in [
        ("SELECT pg_sleep(0.6), pg_sleep(0.6)", "beyond the 1 s timeout"),
        ("SELECT pg_sleep(0.1) FROM generate_series(1, 100)", "once per row"),
        ("SELECT pg_sleep(0.1), lower('a')", "once per row"),
        ("SELECT pg_sleep('0.1')", "constant number"),
        ("SELECT pg_sleep(1e400)", "constant number"),
    ]:
        with pytest.raises(ReadOnlyViolation, match=why):
            check_read_only(sql, "postgres", timeout=1)
    with pytest.raises(ReadOnlyViolation, match="once per row"):
        check_read_only("SHOW TABLES WHERE SLEEP(1)", "mysql", timeout=60)


def test_connector_guard_passes_the_query_timeout_and_the_sources_allowed_functions() -> None:
    from connectors.credentials import parse_credentials
    from connectors.postgres.connection import PostgresConnector

    base = {"type": "postgres", "host": "127.0.0.1", "database": "test", "username": "postgres"}
    connector = PostgresConnector(parse_credentials(base))  # opens nothing until a query runs
    assert connector.guard("SELECT pg_sleep(1)", 5) == "SELECT pg_sleep(1)"
    with pytest.raises(ReadOnlyViolation, match="timeout"):
        connector.guard("SELECT pg_sleep(30)", 5)
    with pytest.raises(ReadOnlyViolation):
        connector.guard("SELECT margin(1)", 5)
    allowed = PostgresConnector(parse_credentials({**base, "allowed_functions": ["margin"]}))
    assert allowed.guard("SELECT margin(1)", 5) == "SELECT margin(1)"


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("method", ["full", "tablesample", "random_filter", "limit"])
def test_profiler_sql_passes_the_guard_in_every_dialect(dialect: str, method: str) -> None:
    from connectors.catalog import Column, TableRef
    from connectors.profiling import SAMPLING_POLICIES, SamplingPolicy, sample_query, stats_query, top_values_query

    columns = [
        Column(ordinal=1, name="id", data_type="integer", normalized_type="integer"),
        Column(ordinal=2, name="Name", data_type="text", normalized_type="string"),
        Column(ordinal=3, name="flag", data_type="boolean", normalized_type="boolean"),
        Column(ordinal=4, name="at", data_type="timestamp", normalized_type="timestamp"),
    ]
    policy = SAMPLING_POLICIES.get(dialect, SamplingPolicy())
    sample = sample_query(TableRef(name="Orders", schema="s"), columns, method=method, row_estimate=10_000_000, sample_size=1000, policy=policy)
    top = top_values_query(columns, sample, 5, policy)
    assert top is not None
    for sql in (stats_query(columns, sample, policy).sql(dialect=dialect), top.sql(dialect=dialect)):
        assert check_read_only(sql, dialect, timeout=120) == sql
