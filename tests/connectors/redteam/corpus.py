"""The red-team corpus: statements an attacker (or a confused model) would try, every one of which must be refused.

Data, not tests: `test_redteam_corpus.py` runs each through the guard, `test_redteam_live.py` runs the PostgreSQL,
MariaDB and DuckDB ones against canary databases through the real connector path and proves nothing happened, and
`bench/sql_guard_bench.py` counts them by class. Objects the statements name exist in the canary databases:
table `canary(id, v)`, sequence `canary_seq`, and (PostgreSQL) a session whose application_name starts `victim`.
Files named are under /tmp/redteam_*; none may appear, none may be read.
"""

from __future__ import annotations

from dataclasses import dataclass

CLASSES = (
    "escapes",
    "comments",
    "aliases",
    "statements",
    "spellings",
    "session_state",
    "locks",
    "sleeps",
    "files",
    "network",
    "sequences",
    "model_calls",
    "server_control",
    "hidden_writes",
    "dynamic_sql",
)


@dataclass(frozen=True)
class Attack:
    dialect: str
    klass: str
    sql: str
    #: what it would do if it ran (for the report)
    intent: str = ""
    #: the expected outcome; every case in this corpus must be refused by the guard
    expected: str = "refused"


def _pg_u(name: str) -> str:
    """`pg_sleep` -> `U&"pg\\005fsleep"`: every underscore as a Unicode escape."""
    return 'U&"' + name.replace("_", "\\005f") + '"'


def _pg_uescape(name: str) -> str:
    return 'U&"' + name.replace("_", "!005f") + "\" UESCAPE '!'"


def _pg_u6(name: str) -> str:
    return 'U&"' + "".join(f"\\+{ord(c):06x}" for c in name) + '"'


def _spellings_pg(name: str, args: str) -> list[str]:
    """Ways to call one PostgreSQL function by another spelling."""
    return [
        f"SELECT {name}({args})",
        f"SELECT pg_catalog.{name}({args})",
        f'SELECT "pg_catalog"."{name}"({args})',
        f'SELECT "{name}"({args})',
        f"SELECT {name.upper()}({args})",
        f"SELECT {_pg_u(name)}({args})",
        f"SELECT {_pg_uescape(name)}({args})",
        f"SELECT {_pg_u6(name)}({args})",
        f"SELECT pg_catalog.{_pg_u(name)}({args})",
        f"SELECT {name} /* gap */ ({args})",
    ]


_PG_DANGER = [
    ("pg_terminate_backend", "pid) FROM pg_stat_activity WHERE application_name LIKE 'victim%' AND (1=1", "server_control", "kills the victim session"),
    ("pg_cancel_backend", "pid) FROM pg_stat_activity WHERE application_name LIKE 'victim%' AND (1=1", "server_control", "cancels the victim's query"),
    ("pg_read_file", "'/etc/passwd'", "files", "reads a server file"),
    ("pg_ls_dir", "'.'", "files", "lists the data directory"),
    ("pg_reload_conf", "", "server_control", "reloads the configuration"),
    ("pg_advisory_lock", "4242", "locks", "takes a session lock that outlives the query"),
    ("pg_sleep", "30", "sleeps", "sleeps past the timeout"),
    ("nextval", "'canary_seq'", "sequences", "advances a sequence"),
    ("set_config", "'work_mem', '1GB', false", "session_state", "changes a session setting"),
]

POSTGRES: list[Attack] = []
for _name, _args, _klass, _intent in _PG_DANGER:
    for _i, _sql in enumerate(_spellings_pg(_name, _args)):
        _k = "escapes" if "U&" in _sql else "comments" if "/*" in _sql else "spellings" if _i else _klass
        POSTGRES.append(Attack("postgres", _k, _sql, _intent))

POSTGRES += [
    Attack("postgres", k, s, i)
    for k, s, i in [
        ("server_control", "SELECT pg_stat_reset()", "resets statistics"),
        ("server_control", "SELECT pg_stat_reset_shared('bgwriter')", "resets statistics"),
        ("server_control", "SELECT pg_stat_reset_single_table_counters('canary'::regclass)", "resets statistics"),
        ("server_control", "SELECT pg_stat_reset_slru(NULL)", "resets statistics"),
        ("files", "SELECT * FROM pg_ls_logicalsnapdir()", "lists a server directory"),
        ("files", "SELECT * FROM pg_ls_waldir()", "lists a server directory"),
        ("files", "SELECT pg_read_binary_file('/etc/hostname')", "reads a server file"),
        ("files", "SELECT pg_stat_file('/etc/passwd')", "reads file metadata"),
        ("files", "SELECT * FROM pg_hba_file_rules", "reads pg_hba.conf"),
        ("files", "SELECT * FROM pg_catalog.pg_file_settings", "reads postgresql.conf"),
        ("files", 'SELECT * FROM "pg_ident_file_mappings"', "reads pg_ident.conf"),
        ("files", "SELECT lo_import('/etc/passwd')", "reads a file into a large object"),
        ("files", "SELECT lo_export(1, '/tmp/redteam_lo')", "writes a file"),
        ("files", "COPY canary TO '/tmp/redteam_copy.csv'", "writes a file"),
        ("files", "COPY (SELECT 1) TO PROGRAM 'touch /tmp/redteam_prog'", "runs a program"),
        ("locks", "SELECT pg_try_advisory_lock(4242)", "takes a session lock"),
        ("locks", "SELECT pg_advisory_xact_lock_shared(4242)", "takes a lock"),
        ("locks", "SELECT * FROM canary FOR UPDATE", "row locks"),
        ("locks", "SELECT * FROM canary FOR KEY SHARE", "row locks"),
        ("locks", "LOCK TABLE canary IN ACCESS EXCLUSIVE MODE", "table lock"),
        ("sleeps", "SELECT pg_sleep(1) FROM generate_series(1, 30)", "one sleep per row"),
        ("sleeps", "SELECT pg_sleep(id) FROM canary", "sleep from data"),
        ("sleeps", "SELECT pg_sleep('30')", "string-typed sleep"),
        ("sleeps", "SELECT pg_sleep(1e400)", "infinite sleep"),
        ("sleeps", "SELECT pg_sleep_for('30 seconds')", "interval sleep"),
        ("sleeps", "SELECT pg_sleep(20), pg_sleep(20)", "two sleeps summing past the timeout"),
        ("sleeps", "SELECT * FROM canary, LATERAL pg_sleep(1)", "sleep per row in FROM"),
        ("sequences", "SELECT setval('canary_seq', 100)", "sets a sequence"),
        ("sequences", "SELECT nextval('canary_seq'::regclass)", "advances a sequence"),
        ("sequences", "SELECT txid_current()", "assigns a transaction id"),
        ("session_state", "SET work_mem = '1GB'", "session setting"),
        ("session_state", "SET SESSION AUTHORIZATION postgres", "changes the role"),
        ("session_state", "RESET ALL", "resets settings"),
        ("session_state", "SELECT set_config('default_transaction_read_only', 'off', false)", "turns the read-only default off"),
        ("session_state", "SELECT setseed(0.5)", "seeds the session's random numbers"),
        ("session_state", "SELECT pg_notify('ch', 'x')", "sends a notification"),
        ("network", "SELECT * FROM dblink('dbname=test', 'SELECT 1') AS t(a int)", "another database"),
        ("network", "SELECT dblink_exec('dbname=test', 'DELETE FROM canary')", "remote write"),
        ("dynamic_sql", "SELECT query_to_xml('SELECT pg_advisory_lock(4242)', true, true, '')", "runs SQL from a string"),
        ("dynamic_sql", "DO $$ BEGIN DELETE FROM canary; END $$", "anonymous code block"),
        ("dynamic_sql", "PREPARE p AS DELETE FROM canary", "prepared write"),
        ("dynamic_sql", "CALL some_procedure()", "procedure"),
        ("hidden_writes", "WITH d AS (DELETE FROM canary RETURNING *) SELECT * FROM d", "data-modifying CTE"),
        ("hidden_writes", "SELECT * INTO canary_copy FROM canary", "SELECT INTO"),
        ("hidden_writes", "EXPLAIN ANALYZE DELETE FROM canary", "EXPLAIN ANALYZE runs it"),
        ("hidden_writes", "EXPLAIN (ANALYZE) WITH d AS (UPDATE canary SET v = 'x' RETURNING 1) SELECT * FROM d", "EXPLAIN ANALYZE runs it"),
        ("hidden_writes", "SELECT * FROM (INSERT INTO canary VALUES (99, 'x') RETURNING *) s", "write in a subquery"),
        ("hidden_writes", "CREATE TABLE redteam_t AS SELECT 1", "DDL"),
        ("statements", "SELECT 1; DELETE FROM canary", "second statement"),
        ("statements", "SELECT 1;DELETE FROM canary;", "second statement"),
        ("statements", "SELECT 1 /* ; */ ; DROP TABLE canary", "second statement after a comment"),
        ("statements", "SELECT 1 -- x\n; UPDATE canary SET v = 'x'", "second statement after a line comment"),
        ("statements", "BEGIN; DELETE FROM canary; COMMIT", "transaction control"),
        ("statements", "COMMIT", "ends the read-only transaction"),
        ("escapes", r"SELECT 'a\'; DELETE FROM canary; --'", "backslash-quoted string hiding a statement"),
        ("escapes", r"SELECT E'\''; DELETE FROM canary; --'", "escape string hiding a statement"),
        ("escapes", "SELECT U&'\\0027'; DELETE FROM canary", "Unicode string then a statement"),
        ("escapes", 'SELECT U&"\\0070g_sleep"(30)', "escaped first letter"),
        ("escapes", 'SELECT U&"PG\\005FSLEEP"(1)', "upper-case quoted after decoding is another function"),
        ("escapes", 'SELECT u&"pg\\005fsleep"(30)', "lower-case u&"),
        ("escapes", 'SELECT U&"pg\\005fsleep" UESCAPE \'\\\'(30)', "UESCAPE naming the default"),
        ("spellings", 'SELECT "PG_SLEEP"(1)', "quoted upper case is another function"),
        ("spellings", 'SELECT "Lower"(v) FROM canary', "quoted mixed case is a user function"),
        ("spellings", "SELECT public.lower(v) FROM canary", "user schema function"),
        ("spellings", "SELECT public.evil()", "user-defined function"),
        ("spellings", "SELECT * FROM public.evil()", "user-defined table function"),
        ("spellings", "SELECT compress(v) FROM canary", "name sqlglot types but PostgreSQL lacks: a UDF"),
        ("comments", "SELECT 1 /* nested /* comment */ ; DELETE FROM canary; /* */ */ ; DELETE FROM canary", "nesting confusion"),
        ("comments", "/* hi */ DELETE FROM canary", "comment before a write"),
    ]
]

MYSQL: list[Attack] = [
    Attack("mysql", k, s, i)
    for k, s, i in [
        ("sleeps", "SELECT SLEEP(30)", "sleeps past the timeout"),
        ("sleeps", "SELECT sleep (30)", "space before the parenthesis"),
        ("sleeps", "SELECT `SLEEP`(30)", "backticked"),
        ("sleeps", "SELECT test.sleep(30)", "qualified"),
        ("sleeps", "SHOW TABLES WHERE SLEEP(30)", "sleep inside SHOW ... WHERE"),
        ("sleeps", "SHOW DATABASES WHERE SLEEP(1)", "sleep per row in SHOW"),
        ("sleeps", "SELECT SLEEP(1) FROM canary", "sleep per row"),
        ("sleeps", "SELECT * FROM canary WHERE SLEEP(1) = 0", "sleep per row in WHERE"),
        ("sleeps", "SELECT SLEEP(id) FROM canary", "sleep from data"),
        ("sleeps", "SELECT BENCHMARK(10000000000, MD5('x'))", "CPU burn"),
        ("sleeps", "DO SLEEP(30)", "DO statement"),
        ("sleeps", "SELECT SLEEP('30')", "string-typed sleep"),
        ("sleeps", "SELECT SLEEP(0x1E)", "hex-typed sleep"),
        ("locks", "SELECT GET_LOCK('redteam', 0)", "named lock that outlives the query"),
        ("locks", "SELECT `get_lock`('redteam', 0)", "named lock, backticked"),
        ("locks", "SELECT test.GET_LOCK('redteam', 0)", "named lock, qualified"),
        ("locks", "SELECT * FROM canary FOR UPDATE", "row locks"),
        ("locks", "SELECT * FROM canary LOCK IN SHARE MODE", "row locks"),
        ("locks", "LOCK TABLES canary WRITE", "table lock"),
        ("locks", "SELECT RELEASE_ALL_LOCKS()", "releases locks"),
        ("locks", "HANDLER canary OPEN", "handler"),
        ("session_state", "SELECT @v := 1", "assigns a user variable"),
        ("session_state", "SELECT @v := v FROM canary", "assigns per row"),
        ("session_state", "SELECT id FROM canary WHERE (@v := id) > 0", "assignment in WHERE"),
        ("session_state", "SELECT 1 INTO @v", "SELECT INTO a variable"),
        ("session_state", "SET @v = 1", "SET"),
        ("session_state", "SET SESSION sql_mode = ''", "session setting"),
        ("session_state", "SELECT LAST_INSERT_ID(42)", "sets LAST_INSERT_ID"),
        ("session_state", "SELECT last_insert_id(id) FROM canary", "sets LAST_INSERT_ID per row"),
        ("session_state", "USE mysql", "changes database"),
        ("sequences", "SELECT NEXTVAL(canary_seq)", "advances a sequence"),
        ("sequences", "SELECT NEXT VALUE FOR canary_seq", "advances a sequence"),
        ("sequences", "SELECT canary_seq.nextval", "advances a sequence"),
        ("sequences", "SELECT SETVAL(canary_seq, 100)", "sets a sequence"),
        ("sequences", "SELECT `nextval`(canary_seq)", "advances a sequence, backticked"),
        ("server_control", "SELECT MASTER_GTID_WAIT('0-1-100', 30)", "waits on replication"),
        ("server_control", "SELECT MASTER_POS_WAIT('log', 4, 30)", "waits on replication"),
        ("server_control", "KILL 1", "kills a connection"),
        ("server_control", "FLUSH TABLES", "flushes"),
        ("server_control", "SHUTDOWN", "stops the server"),
        ("files", "SELECT LOAD_FILE('/etc/passwd')", "reads a server file"),
        ("files", "SELECT `load_file`('/etc/passwd')", "reads a server file, backticked"),
        ("files", "SELECT * FROM canary INTO OUTFILE '/tmp/redteam_out.csv'", "writes a file"),
        ("files", "SELECT v FROM canary INTO DUMPFILE '/tmp/redteam_dump'", "writes a file"),
        ("files", "LOAD DATA INFILE '/etc/passwd' INTO TABLE canary", "reads a file into a table"),
        ("files", "SELECT sys_exec('touch /tmp/redteam_exec')", "shell command UDF"),
        ("comments", "SELECT 1 /*! , SLEEP(30) */", "executable comment"),
        ("comments", "SELECT 1 /*!50000 , GET_LOCK('redteam', 0) */", "versioned executable comment"),
        ("comments", "SELECT 1 /*M! , SLEEP(30) */", "MariaDB executable comment"),
        ("comments", "SELECT * FROM canary /*!FOR UPDATE*/", "lock in an executable comment"),
        ("comments", "SELECT 1 ---1; DELETE FROM canary", "dash without space is not a comment in MySQL"),
        ("comments", "SELECT 1 # x\n; DELETE FROM canary", "hash comment then a statement"),
        ("comments", "SELECT 1 /* /* */ ; DELETE FROM canary; /* */", "MySQL does not nest comments"),
        ("escapes", r"SELECT 'a\'; DELETE FROM canary; -- '", "backslash-quoted string hiding a statement"),
        ("escapes", "SELECT 'a'';' ; DELETE FROM canary", "doubled quote then a statement"),
        ("escapes", r"SELECT 'x\\'; DELETE FROM canary; -- '", "escaped backslash then a statement"),
        ("escapes", "SELECT `sle``ep`(30)", "doubled backtick in a function name"),
        ("escapes", 'SELECT "a\\"; DELETE FROM canary; -- "', "double-quoted string hiding a statement"),
        ("statements", "SELECT 1; DELETE FROM canary", "second statement"),
        ("statements", "SELECT 1; SELECT SLEEP(30)", "second statement"),
        ("statements", "DELETE FROM canary", "write"),
        ("statements", "REPLACE INTO canary VALUES (1, 'x')", "write"),
        ("hidden_writes", "WITH d AS (SELECT 1) DELETE FROM canary", "write after WITH"),
        ("hidden_writes", "EXPLAIN ANALYZE DELETE FROM canary", "EXPLAIN ANALYZE runs it"),
        ("hidden_writes", "ANALYZE TABLE canary", "writes statistics"),
        ("hidden_writes", "CREATE TEMPORARY TABLE redteam_t AS SELECT 1", "DDL"),
        ("dynamic_sql", "PREPARE s FROM 'DELETE FROM canary'", "prepared write"),
        ("dynamic_sql", "EXECUTE s", "executes a prepared statement"),
        ("dynamic_sql", "CALL some_procedure()", "procedure"),
        ("spellings", "SELECT test.canary_fn()", "user-defined function"),
        ("spellings", "SELECT SlEeP(30)", "mixed case"),
        ("spellings", "SELECT evil_udf(1)", "unknown function"),
        ("network", "SELECT * FROM canary_federated_link", "reads nothing remote by itself (not refused)"),
    ]
]
# The last one is a plain table read: a FEDERATED table is the DBA's decision, not an attack the guard can see.
MYSQL = [a for a in MYSQL if a.klass != "network"]

DUCKDB: list[Attack] = [
    Attack("duckdb", k, s, i)
    for k, s, i in [
        ("files", "SELECT * FROM read_csv('/etc/passwd')", "reads a file"),
        ("files", "SELECT * FROM read_csv_auto('/etc/passwd')", "reads a file"),
        ("files", "SELECT * FROM read_text('/etc/passwd')", "reads a file"),
        ("files", "SELECT * FROM read_blob('/etc/passwd')", "reads a file"),
        ("files", "SELECT * FROM read_json('/etc/passwd')", "reads a file"),
        ("files", "SELECT * FROM read_parquet('/tmp/redteam.parquet')", "reads a file"),
        ("files", "SELECT * FROM parquet_scan('/tmp/redteam.parquet')", "reads a file"),
        ("files", "SELECT * FROM glob('/etc/*')", "lists files"),
        ("files", "SELECT * FROM '/etc/passwd'", "replacement scan on a path"),
        ("files", 'SELECT * FROM "/etc/passwd"', "replacement scan on a quoted path"),
        ("files", "SELECT * FROM 'data.csv'", "replacement scan on a relative path"),
        ("files", "FROM '/etc/hostname'", "FROM-first replacement scan"),
        ("files", "PIVOT '/etc/passwd' ON column0 USING count(*)", "replacement scan in a PIVOT statement"),
        ("files", "SELECT * FROM sniff_csv('/etc/passwd')", "reads a file"),
        ("files", "SELECT * FROM main.read_csv('/etc/passwd')", "qualified file reader"),
        ("files", 'SELECT * FROM "READ_CSV"(\'/etc/passwd\')', "quoted file reader"),
        ("files", "COPY canary TO '/tmp/redteam_copy.csv'", "writes a file"),
        ("files", "COPY canary FROM '/etc/passwd'", "reads a file into a table"),
        ("files", "EXPORT DATABASE '/tmp/redteam_export'", "writes files"),
        ("files", "IMPORT DATABASE '/tmp/redteam_export'", "reads files"),
        ("files", "SELECT * FROM parquet_metadata('/tmp/redteam.parquet')", "reads a file"),
        ("network", "ATTACH '/tmp/redteam_other.duckdb' AS other", "attaches another database"),
        ("network", "ATTACH 'dbname=test' AS pg (TYPE postgres)", "attaches a server"),
        ("network", "DETACH canary_db", "detaches"),
        ("network", "INSTALL httpfs", "installs an extension"),
        ("network", "LOAD httpfs", "loads an extension"),
        ("network", "SELECT * FROM read_csv('https://example.com/x.csv')", "network read"),
        ("network", "SELECT * FROM postgres_scan('dbname=test', 'public', 'canary')", "another database"),
        ("network", "SELECT * FROM sqlite_scan('/tmp/redteam.db', 't')", "another database file"),
        ("session_state", "SET threads = 1", "setting"),
        ("session_state", "SET GLOBAL enable_external_access = true", "setting"),
        ("session_state", "RESET threads", "setting"),
        ("session_state", "PRAGMA threads = 1", "pragma"),
        ("session_state", "PRAGMA enable_profiling", "pragma"),
        ("session_state", "SELECT setseed(0.5)", "seeds random numbers"),
        ("session_state", "SELECT current_setting('threads')", "reads settings (secrets live there)"),
        ("session_state", "SELECT * FROM duckdb_settings()", "reads settings"),
        ("session_state", "SELECT * FROM duckdb_secrets()", "reads secrets"),
        ("session_state", "USE memory", "changes database"),
        ("session_state", "SET VARIABLE x = 1", "session variable"),
        ("sequences", "SELECT nextval('canary_seq')", "advances a sequence"),
        ("sequences", "SELECT NEXTVAL('canary_seq')", "advances a sequence"),
        ("sequences", "SELECT main.nextval('canary_seq')", "advances a sequence, qualified"),
        ("sequences", 'SELECT "nextval"(\'canary_seq\')', "advances a sequence, quoted"),
        ("dynamic_sql", "CALL pragma_version()", "CALL"),
        ("dynamic_sql", "SELECT * FROM query('DELETE FROM canary')", "SQL from a string"),
        ("dynamic_sql", "SELECT * FROM query_table('canary')", "table named by a string"),
        ("dynamic_sql", "CHECKPOINT", "writes the database"),
        ("dynamic_sql", "SELECT * FROM checkpoint()", "writes the database"),
        ("hidden_writes", "CREATE TABLE redteam_t AS SELECT 1", "DDL"),
        ("hidden_writes", "CREATE MACRO redteam_m() AS 1", "DDL"),
        ("hidden_writes", "INSERT INTO canary VALUES (99, 'x')", "write"),
        ("hidden_writes", "WITH d AS (SELECT 1) DELETE FROM canary", "write"),
        ("hidden_writes", "UPDATE canary SET v = 'x'", "write"),
        ("hidden_writes", "SUMMARIZE SELECT * FROM read_csv('/etc/passwd')", "file read in SUMMARIZE"),
        ("statements", "SELECT 1; DELETE FROM canary", "second statement"),
        ("statements", "SELECT 1; ATTACH '/tmp/redteam_other.duckdb'", "second statement"),
        ("comments", "SELECT 1 /* x /* y */ ; DELETE FROM canary; */ ; DELETE FROM canary", "nesting confusion"),
        ("spellings", "SELECT evil_macro()", "unknown function"),
        ("spellings", "SELECT getenv('HOME')", "environment"),
    ]
]

REDSHIFT: list[Attack] = [
    Attack("redshift", k, s, i)
    for k, s, i in [
        ("server_control", "SELECT pg_terminate_backend(1)", "kills a session"),
        ("server_control", "SELECT pg_catalog.pg_cancel_backend(1)", "cancels a query"),
        ("session_state", "SELECT set_config('search_path', 'x', false)", "setting"),
        ("session_state", "SET search_path = x", "setting"),
        ("files", "UNLOAD ('SELECT 1') TO 's3://b/x' IAM_ROLE 'arn'", "writes to S3"),
        ("files", "COPY canary FROM 's3://b/x' IAM_ROLE 'arn'", "reads from S3"),
        ("sleeps", "SELECT pg_sleep(30)", "sleep"),
        ("escapes", 'SELECT U&"pg\\005fsleep"(30)', "Unicode-escaped name on the PostgreSQL stand-in"),
        ("escapes", r"SELECT 'a\'; DELETE FROM canary; --'", "backslash-quoted string"),
        ("comments", "SELECT 1 /* a /* b */ ; DELETE FROM canary; /* */", "nesting confusion"),
        ("sequences", "SELECT nextval('canary_seq')", "sequence"),
        ("statements", "SELECT 1; DELETE FROM canary", "second statement"),
        ("spellings", "SELECT f_udf(1)", "user-defined function"),
        ("hidden_writes", "SELECT * INTO TEMP t FROM canary", "SELECT INTO"),
    ]
]

SNOWFLAKE: list[Attack] = [
    Attack("snowflake", k, s, i)
    for k, s, i in [
        ("sequences", "SELECT canary_seq.NEXTVAL", "sequence"),
        ("sequences", "SELECT GETNEXTVAL(canary_seq)", "sequence"),
        ("sequences", "SELECT s.nextval FROM canary s", "sequence spelled as a column"),
        ("model_calls", "SELECT SNOWFLAKE.CORTEX.COMPLETE('mistral-large', 'hi')", "model call"),
        ("model_calls", "SELECT SNOWFLAKE.CORTEX.SUMMARIZE(v) FROM canary", "model call"),
        ("model_calls", "SELECT AI_COMPLETE('m', 'p')", "model call"),
        ("model_calls", "SELECT AI_CLASSIFY(v, ['a', 'b']) FROM canary", "model call"),
        ("model_calls", "SELECT AI_FILTER(PROMPT('x {0}', v)) FROM canary", "model call"),
        ("model_calls", "SELECT COMPLETE('m', 'p')", "model call"),
        ("server_control", "SELECT SYSTEM$CANCEL_ALL_QUERIES(1)", "cancels queries"),
        ("server_control", "SELECT SYSTEM$ABORT_SESSION(1)", "aborts a session"),
        ("server_control", "SELECT SYSTEM$CANCEL_QUERY('id')", "cancels a query"),
        ("sleeps", "SELECT SYSTEM$WAIT(2, 'MINUTES')", "sleep"),
        ("sleeps", "SELECT SYSTEM$WAIT(1) FROM canary", "sleep per row"),
        ("files", "SELECT $1 FROM @mystage/file.csv", "stage file"),
        ("files", "SELECT * FROM @~", "user stage"),
        ("files", "LIST @mystage", "lists a stage"),
        ("files", "GET @mystage file:///tmp/", "downloads"),
        ("files", "PUT file:///etc/passwd @mystage", "uploads"),
        ("files", "SELECT GET_PRESIGNED_URL(@mystage, 'x')", "file URL"),
        ("files", "SELECT TO_FILE('@mystage/x')", "file reference"),
        ("files", "SELECT * FROM TABLE(INFER_SCHEMA(LOCATION => '@mystage'))", "reads stage files"),
        ("files", "COPY INTO @mystage FROM canary", "writes files"),
        ("session_state", "ALTER SESSION SET QUERY_TAG = 'x'", "session setting"),
        ("session_state", "SET v = 1", "session variable"),
        ("session_state", "USE ROLE accountadmin", "changes role"),
        ("dynamic_sql", "EXECUTE IMMEDIATE 'DELETE FROM canary'", "dynamic SQL"),
        ("dynamic_sql", "CALL SYSTEM$WAIT(10)", "CALL"),
        ("dynamic_sql", "SELECT IDENTIFIER('SYSTEM$WAIT')(600)", "function named by a string"),
        ("dynamic_sql", "SELECT * FROM TABLE(RESULT_SCAN(LAST_QUERY_ID()))", "reads earlier results"),
        ("spellings", 'SELECT "lower"(v) FROM canary', "quoted lower case is a user function in Snowflake"),
        ("spellings", "SELECT my_db.my_schema.my_udf(1)", "user-defined function"),
        ("spellings", 'SELECT "SYSTEM$CANCEL_ALL_QUERIES"(1)', "quoted system function"),
        ("statements", "SELECT 1; DROP TABLE canary", "second statement"),
        ("statements", "BEGIN SELECT 1; END", "scripting block"),
        ("comments", "SELECT 1 // x\n; DELETE FROM canary", "double-slash comment then a statement"),
        ("comments", "SELECT 1 /* a /* b */ ; DELETE FROM canary; /* */", "nesting confusion"),
        ("hidden_writes", "MERGE INTO canary USING s ON canary.id = s.id WHEN MATCHED THEN DELETE", "write"),
        ("hidden_writes", "UNDROP TABLE canary", "DDL"),
    ]
]

BIGQUERY: list[Attack] = [
    Attack("bigquery", k, s, i)
    for k, s, i in [
        ("model_calls", "SELECT * FROM ML.PREDICT(MODEL ds.m, TABLE ds.canary)", "model call"),
        ("model_calls", "SELECT * FROM ML.GENERATE_TEXT(MODEL ds.llm, TABLE ds.canary)", "model call"),
        ("model_calls", "SELECT ML.GENERATE_TEXT(MODEL ds.llm, TABLE ds.canary)", "model call"),
        ("model_calls", "SELECT AI.GENERATE('hello')", "model call"),
        ("model_calls", "SELECT AI.GENERATE_BOOL('is it?')", "model call"),
        ("model_calls", "SELECT * FROM ML.GENERATE_EMBEDDING(MODEL ds.e, TABLE ds.canary)", "model call"),
        ("model_calls", "SELECT * FROM AI.FORECAST(TABLE ds.canary, data_col => 'v', timestamp_col => 't')", "model call"),
        ("network", "SELECT * FROM EXTERNAL_QUERY('conn', 'DELETE FROM t')", "external database"),
        ("network", "SELECT `ext\\x65rnal_query`('conn', 'SELECT 1')", "escaped name"),
        ("network", "SELECT proj.ds.remote_fn(1)", "remote function"),
        ("network", "SELECT `proj.ds.remote_fn`(1)", "remote function, quoted whole"),
        ("dynamic_sql", "EXECUTE IMMEDIATE 'DELETE FROM ds.canary WHERE TRUE'", "dynamic SQL"),
        ("dynamic_sql", "CALL ds.proc()", "procedure"),
        ("dynamic_sql", "BEGIN SELECT 1; END", "script"),
        ("session_state", "DECLARE x INT64", "variable"),
        ("session_state", "SET @@dataset_id = 'x'", "system variable"),
        ("files", "EXPORT DATA OPTIONS(uri='gs://b/*.csv', format='CSV') AS SELECT * FROM ds.canary", "writes files"),
        ("files", "LOAD DATA INTO ds.canary FROM FILES(format='CSV', uris=['gs://b/x.csv'])", "reads files"),
        ("spellings", "SELECT SAFE.EXTERNAL_QUERY('c', 'q')", "SAFE. prefix on an external call"),
        ("spellings", "SELECT net.evil('x')", "unknown namespaced name"),
        ("statements", "SELECT 1; DELETE FROM ds.canary WHERE TRUE", "second statement"),
        ("comments", "SELECT 1 # x\n; DELETE FROM ds.canary WHERE TRUE", "hash comment then a statement"),
        ("comments", "SELECT 1 /* a /* b */ ; DELETE FROM ds.canary WHERE TRUE; /* */", "nesting confusion"),
        ("hidden_writes", "CREATE TEMP FUNCTION f() AS (1)", "DDL"),
        ("hidden_writes", "INSERT INTO ds.canary VALUES (1, 'x')", "write"),
    ]
]

TSQL: list[Attack] = [
    Attack("tsql", k, s, i)
    for k, s, i in [
        ("aliases", "SELECT 1 DELETE FROM canary COMMIT", "three statements in one batch"),
        ("aliases", "SELECT 1 SHUTDOWN", "stops the server"),
        ("aliases", "SELECT 1 CHECKPOINT", "checkpoint"),
        ("aliases", "SELECT 1 RECONFIGURE", "reconfigure"),
        ("aliases", "SELECT * FROM canary COMMIT", "COMMIT as a table alias"),
        ("aliases", "SELECT v FROM canary c WHERE 1 = 1 DELETE FROM canary", "write after WHERE"),
        ("aliases", "SELECT 1 AS x UPDATE canary SET v = 'x'", "write after an alias"),
        ("aliases", "SELECT 1 x EXEC xp_cmdshell 'dir'", "procedure after an alias"),
        ("aliases", "SELECT 1 WAITFOR DELAY '00:10:00'", "wait"),
        ("aliases", "SELECT 1 KILL 52", "kills a session"),
        ("aliases", "SELECT 1 x INSERT INTO canary VALUES (1, 'x')", "write"),
        ("aliases", "SELECT 1 DECLARE @x INT", "declare"),
        ("aliases", "SELECT 1 SET NOCOUNT ON", "setting"),
        ("aliases", "SELECT 1 BEGIN TRAN", "transaction"),
        ("aliases", "SELECT 1 ROLLBACK", "transaction"),
        ("aliases", "SELECT 1 THROW 50000, 'x', 1", "throw"),
        ("aliases", "SELECT 1 x TRUNCATE TABLE canary", "truncate"),
        ("aliases", "SELECT 1 DROP TABLE canary", "drop"),
        ("aliases", "SELECT 1 [x] MERGE canary USING s ON 1 = 1 WHEN MATCHED THEN DELETE;", "merge"),
        ("aliases", "SELECT 1 RECEIVE * FROM q", "dequeues messages"),
        ("aliases", "SELECT 1 DBCC DROPCLEANBUFFERS", "DBCC"),
        ("aliases", "SELECT 1 GRANT CONTROL TO public", "grant"),
        ("session_state", "SELECT @v = 1", "variable assignment"),
        ("session_state", "SET ANSI_NULLS OFF", "setting"),
        ("session_state", "USE master", "changes database"),
        ("sequences", "SELECT NEXT VALUE FOR dbo.canary_seq", "sequence"),
        ("sequences", "SELECT NEXT VALUE FOR canary_seq OVER (ORDER BY id) FROM canary", "sequence"),
        ("locks", "SELECT * FROM canary WITH (UPDLOCK)", "update lock"),
        ("locks", "SELECT * FROM canary WITH (TABLOCKX, HOLDLOCK)", "exclusive lock"),
        ("locks", "SELECT * FROM canary WITH (XLOCK)", "exclusive lock"),
        ("files", "SELECT * FROM OPENROWSET(BULK 'C:\\Windows\\win.ini', SINGLE_CLOB) AS x", "reads a file"),
        ("files", "SELECT * FROM sys.fn_get_audit_file('C:\\x\\*', DEFAULT, DEFAULT)", "reads files"),
        ("files", "BULK INSERT canary FROM 'c:\\x.csv'", "reads a file"),
        ("network", "SELECT * FROM OPENQUERY(linked, 'DELETE FROM t')", "linked server"),
        ("network", "SELECT * FROM OPENDATASOURCE('SQLNCLI', 'Data Source=x').db.dbo.t", "ad-hoc connection"),
        ("network", "SELECT * FROM OPENROWSET('SQLNCLI', 'Server=x;', 'SELECT 1')", "ad-hoc connection"),
        ("dynamic_sql", "EXEC('DELETE FROM canary')", "dynamic SQL"),
        ("dynamic_sql", "EXEC sp_executesql N'DELETE FROM canary'", "dynamic SQL"),
        ("dynamic_sql", "EXEC xp_cmdshell 'dir'", "shell"),
        ("sleeps", "WAITFOR DELAY '00:10:00'", "wait"),
        ("spellings", "SELECT dbo.evil(1)", "user-defined function"),
        ("spellings", "SELECT [dbo].[evil](1)", "user-defined function, bracketed"),
        ("spellings", "SELECT [xp_cmdshell]('dir')", "bracketed procedure name"),
        ("escapes", "SELECT [pg]]x](1)", "bracket escape in a function name"),
        ("statements", "SELECT 1; DELETE FROM canary", "second statement"),
        ("comments", "SELECT 1 --x\rDELETE FROM canary", "carriage return ends a comment"),
        ("hidden_writes", "SELECT * INTO #t FROM canary", "SELECT INTO"),
        ("hidden_writes", "WITH d AS (SELECT 1 a) DELETE FROM canary", "write after WITH"),
    ]
]

DATABRICKS: list[Attack] = [
    Attack("databricks", k, s, i)
    for k, s, i in [
        ("model_calls", "SELECT ai_query('databricks-llama', 'hi')", "model call"),
        ("model_calls", "SELECT ai_gen('hi')", "model call"),
        ("model_calls", "SELECT ai_classify(v, ARRAY('a', 'b')) FROM canary", "model call"),
        ("model_calls", "SELECT ai_summarize(v) FROM canary", "model call"),
        ("model_calls", "SELECT AI_QUERY('m', 'p')", "model call, upper case"),
        ("model_calls", "SELECT `ai_query`('m', 'p')", "model call, backticked"),
        ("model_calls", "SELECT * FROM vector_search(index => 'i', query => 'q')", "model endpoint"),
        ("network", "SELECT http_request(conn => 'c', method => 'POST', path => '/x')", "HTTP"),
        ("network", "SELECT reflect('java.lang.Runtime', 'getRuntime')", "Java"),
        ("network", "SELECT try_reflect('java.lang.System', 'exit', 0)", "Java"),
        ("network", "SELECT java_method('java.lang.System', 'exit', 0)", "Java"),
        ("network", "SELECT system.ai.python_exec('print(1)')", "UC function"),
        ("files", "SELECT * FROM csv.`/etc/passwd`", "reads a path"),
        ("files", "SELECT * FROM parquet.`s3://bucket/x`", "reads a path"),
        ("files", "SELECT * FROM text.`/etc/hostname`", "reads a path"),
        ("files", "SELECT * FROM read_files('/Volumes/x')", "reads files"),
        ("files", "SELECT * FROM read_kafka(bootstrapServers => 'x')", "reads a stream"),
        ("files", "LIST 's3://bucket/'", "lists files"),
        ("files", "COPY INTO canary FROM 's3://b/x' FILEFORMAT = CSV", "reads files"),
        ("session_state", "SELECT secret('scope', 'key')", "reads a secret"),
        ("session_state", "SET spark.sql.ansi.enabled = false", "setting"),
        ("session_state", "SET VAR x = 1", "variable"),
        ("session_state", "USE CATALOG other", "changes catalog"),
        ("hidden_writes", "OPTIMIZE canary", "rewrites files"),
        ("hidden_writes", "VACUUM canary", "deletes files"),
        ("hidden_writes", "CACHE TABLE canary", "caches"),
        ("hidden_writes", "ANALYZE TABLE canary COMPUTE STATISTICS", "writes statistics"),
        ("hidden_writes", "INSERT OVERWRITE canary SELECT * FROM canary", "write"),
        ("statements", "SELECT 1; DROP TABLE canary", "second statement"),
        ("comments", "SELECT 1 /* a /* b */ ; DROP TABLE canary; */ ; DROP TABLE canary", "nesting confusion"),
        ("spellings", "SELECT main.default.my_udf(1)", "user-defined function"),
    ]
]

# Not attacks: one statement to their server although a keyword stands where T-SQL would start a new statement. MySQL,
# MariaDB and PostgreSQL need a semicolon between statements (and the drivers send one statement), so COMMIT here is a
# column alias. The live test runs them and reads the alias back.
HARMLESS_KEYWORD_ALIASES: list[tuple[str, str]] = [("mysql", "SELECT 1 COMMIT"), ("postgres", "SELECT 1 AS commit")]

CORPUS: list[Attack] = POSTGRES + MYSQL + DUCKDB + REDSHIFT + SNOWFLAKE + BIGQUERY + TSQL + DATABRICKS
LIVE_DIALECTS = ("postgres", "mysql", "duckdb")
