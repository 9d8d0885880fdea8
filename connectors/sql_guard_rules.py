"""What the SQL guard refuses, as data: dialect names, statement kinds, side-effect functions, lock hints.

Kept apart from `sql_guard.py` (the checking logic) so a reviewer can read the whole policy in one place and add a
function or a dialect without touching the walker. Function names are matched case-insensitively, with any schema
qualifier dropped (`pg_catalog.pg_sleep` is `pg_sleep`). The function lists are the union over all dialects: a
name that is dangerous in one warehouse is not a legitimate different function in another.

The guard is the first line of defence, not the only one: a user-defined function can write data and no list can
know that, so connectors also open read-only sessions where the source has them.
"""

from __future__ import annotations

from sqlglot import exp

# Our source types and common spellings -> sqlglot dialect names.
DIALECT_ALIASES: dict[str, str] = {
    "postgres": "postgres",
    "postgresql": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
    "redshift": "redshift",
    "snowflake": "snowflake",
    "bigquery": "bigquery",
    "tsql": "tsql",
    "sqlserver": "tsql",
    "mssql": "tsql",
    "databricks": "databricks",
    "duckdb": "duckdb",
}

# Keywords that may lead a read-only statement (used to classify SQL sqlglot could not parse).
READ_LEADERS = frozenset({"SELECT", "WITH", "VALUES", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "FROM", "("})

# Statements sqlglot keeps as an opaque `exp.Command` that are still read-only (EXPLAIN is checked recursively).
READ_ONLY_COMMANDS = frozenset({"SHOW", "DESCRIBE", "DESC"})

# Dialects where DESCRIBE only ever reads metadata (Databricks DESCRIBE DETAIL/HISTORY/QUERY, Snowflake DESC ...), so a
# DESCRIBE sqlglot cannot parse is still accepted. Not MySQL: there DESCRIBE is EXPLAIN, and DESCRIBE ANALYZE runs.
DESCRIBE_ONLY_READS = frozenset({"databricks", "snowflake"})

# Tokens that may sit between EXPLAIN and the explained statement, across our dialects
# (PostgreSQL/Redshift ANALYZE VERBOSE, MySQL FORMAT=TREE ANALYZE, Databricks EXTENDED/CODEGEN/COST/FORMATTED,
# Snowflake USING TEXT|JSON|TABULAR). A parenthesised PostgreSQL option list is skipped separately.
EXPLAIN_OPTION_WORDS = frozenset(
    {
        "ANALYZE",
        "ANALYSE",
        "VERBOSE",
        "EXTENDED",
        "CODEGEN",
        "COST",
        "FORMATTED",
        "FORMAT",
        "=",
        "TREE",
        "JSON",
        "TRADITIONAL",
        "USING",
        "TEXT",
        "TABULAR",
    }
)

# Two-word statement names, so a refusal says "LOAD DATA" rather than "LOAD".
MULTIWORD_STATEMENTS = frozenset(
    {
        ("LOAD", "DATA"),
        ("LOAD", "XML"),
        ("BULK", "INSERT"),
        ("SECURITY", "LABEL"),
        ("EXECUTE", "IMMEDIATE"),
        ("EXPORT", "DATA"),
        ("COPY", "INTO"),
        ("INSERT", "OVERWRITE"),
        ("REFRESH", "MATERIALIZED"),
        ("MSCK", "REPAIR"),
        ("ADD", "JAR"),
        ("ALTER", "SESSION"),
        ("CREATE", "TABLE"),
        ("CREATE", "VIEW"),
        ("DROP", "TABLE"),
    }
)


def _types(*names: str) -> tuple[type[exp.Expression], ...]:
    # getattr: a class missing from an older/newer sqlglot must not break the import.
    return tuple(t for t in (getattr(exp, n, None) for n in names) if isinstance(t, type))


# Expression classes refused wherever they appear in the tree, with the construct name a refusal reports.
DENIED_NODES: dict[str, str] = {
    "Insert": "INSERT",
    "Update": "UPDATE",
    "Delete": "DELETE",
    "Merge": "MERGE",
    "Copy": "COPY",
    "Create": "CREATE",
    "Drop": "DROP",
    "Alter": "ALTER",
    "TruncateTable": "TRUNCATE",
    "Grant": "GRANT",
    "Revoke": "REVOKE",
    "Into": "SELECT INTO",
    "Lock": "FOR UPDATE",  # FOR SHARE when not an update lock, see sql_guard._construct
    "Set": "SET",
    "Use": "USE",
    "Transaction": "BEGIN",
    "Commit": "COMMIT",
    "Rollback": "ROLLBACK",
    "Analyze": "ANALYZE",
    "Pragma": "PRAGMA",
    "Kill": "KILL",
    "Put": "PUT",
    "Get": "GET",
    "Export": "EXPORT DATA",
    "Refresh": "REFRESH",
    "Cache": "CACHE",
    "Uncache": "UNCACHE",
    "Undrop": "UNDROP",
    "Comment": "COMMENT",
    "Declare": "DECLARE",
    "Execute": "EXECUTE",
    "LoadData": "LOAD DATA",
    "Attach": "ATTACH",
    "Detach": "DETACH",
    "Install": "INSTALL",
    "NextValueFor": "NEXT VALUE FOR",
    "ListStage": "LIST",
    "Command": "COMMAND",  # the real keyword is reported, see sql_guard._construct
}
DENIED_NODE_TYPES: tuple[type[exp.Expression], ...] = _types(*DENIED_NODES)

# Node classes allowed at the top of the tree.
READ_STATEMENT_TYPES: tuple[type[exp.Expression], ...] = _types("Query", "Values", "Show", "Describe")

# Functions with side effects (writes, locks, server control, file or network access, running SQL from a string).
DENIED_FUNCTIONS: dict[str, str] = {
    # PostgreSQL / Redshift: server control
    "pg_terminate_backend": "terminates another session",
    "pg_cancel_backend": "cancels another session's query",
    "pg_reload_conf": "reloads the server configuration",
    "pg_rotate_logfile": "rotates the server log",
    "pg_promote": "promotes a standby",
    "pg_switch_wal": "forces a WAL switch",
    "pg_create_restore_point": "writes a WAL restore point",
    "pg_backup_start": "starts a backup",
    "pg_backup_stop": "stops a backup",
    "pg_start_backup": "starts a backup",
    "pg_stop_backup": "stops a backup",
    "pg_wal_replay_pause": "pauses WAL replay",
    "pg_wal_replay_resume": "resumes WAL replay",
    "pg_create_physical_replication_slot": "creates a replication slot",
    "pg_create_logical_replication_slot": "creates a replication slot",
    "pg_drop_replication_slot": "drops a replication slot",
    "pg_copy_physical_replication_slot": "creates a replication slot",
    "pg_copy_logical_replication_slot": "creates a replication slot",
    "pg_replication_slot_advance": "advances a replication slot",
    "pg_logical_slot_get_changes": "consumes a replication slot's changes",
    "pg_logical_slot_get_binary_changes": "consumes a replication slot's changes",
    "pg_logical_emit_message": "writes to the WAL",
    "pg_log_backend_memory_contexts": "writes to the server log",
    "pg_stat_reset": "resets statistics",
    "pg_stat_reset_shared": "resets statistics",
    "pg_stat_reset_single_table_counters": "resets statistics",
    "pg_stat_reset_single_function_counters": "resets statistics",
    "pg_stat_reset_slru": "resets statistics",
    "pg_stat_statements_reset": "resets statistics",
    "pg_import_system_collations": "creates collations",
    "pg_notify": "sends a notification",
    "set_config": "changes a server setting",
    # PostgreSQL: sequences and transaction ids (writes)
    "nextval": "advances a sequence",
    "setval": "sets a sequence",
    "txid_current": "assigns a transaction id",
    "pg_current_xact_id": "assigns a transaction id",
    # PostgreSQL: large objects and server files
    "lo_import": "reads a server file into a large object",
    "lo_export": "writes a server file",
    "lo_unlink": "deletes a large object",
    "lo_create": "creates a large object",
    "lo_creat": "creates a large object",
    "lo_from_bytea": "creates a large object",
    "lo_put": "writes a large object",
    "lo_truncate": "truncates a large object",
    "lo_open": "opens a large object",
    "lo_write": "writes a large object",
    "pg_read_file": "reads a server file",
    "pg_read_binary_file": "reads a server file",
    "pg_ls_dir": "lists a server directory",
    "pg_ls_logdir": "lists a server directory",
    "pg_ls_waldir": "lists a server directory",
    "pg_ls_tmpdir": "lists a server directory",
    "pg_ls_archive_statusdir": "lists a server directory",
    "pg_stat_file": "reads server file metadata",
    "pg_file_write": "writes a server file",
    "pg_file_rename": "renames a server file",
    "pg_file_unlink": "deletes a server file",
    # PostgreSQL: SQL run from a string (the guard cannot check what the string says)
    "query_to_xml": "runs SQL given as a string",
    "query_to_xmlschema": "runs SQL given as a string",
    "query_to_xml_and_xmlschema": "runs SQL given as a string",
    "cursor_to_xml": "reads from a cursor",
    # PostgreSQL: sleeps the guard cannot bound
    "pg_sleep_for": "sleeps for an interval",
    "pg_sleep_until": "sleeps until a time",
    # MySQL / MariaDB
    "benchmark": "burns server CPU",
    "get_lock": "takes a named lock",
    "release_lock": "releases a named lock",
    "release_all_locks": "releases named locks",
    "load_file": "reads a server file",
    "sys_exec": "runs a shell command",
    "sys_eval": "runs a shell command",
    "master_pos_wait": "waits on replication",
    "source_pos_wait": "waits on replication",
    "wait_for_executed_gtid_set": "waits on replication",
    "wait_until_sql_thread_after_gtids": "waits on replication",
    # SQL Server: remote/ad-hoc data access (runs SQL elsewhere or reads files)
    "openrowset": "opens an ad-hoc remote connection or file",
    "openquery": "runs SQL on a linked server",
    "opendatasource": "opens an ad-hoc remote connection",
    "xp_cmdshell": "runs a shell command",
    # BigQuery: SQL run on an external database
    "external_query": "runs SQL on an external database",
    # Databricks / Spark
    "http_request": "sends an HTTP request",
    "reflect": "calls a Java method",
    "java_method": "calls a Java method",
}

# Functions refused by prefix (`dblink_exec`, `pg_advisory_xact_lock_shared`, SQL Server `xp_*` / `sp_*`).
DENIED_FUNCTION_PREFIXES: dict[str, str] = {
    "dblink": "runs SQL on another database",
    "pg_advisory_": "takes an advisory lock",
    "pg_try_advisory_": "takes an advisory lock",
    "pg_replication_origin_": "changes replication state",
    "xp_": "extended stored procedure",
    "sp_": "system stored procedure",
}

# Sleep functions: accepted only with a constant argument that fits the timeout. Value: (argument index of the
# amount, index of an optional unit argument or None).
SLEEP_FUNCTIONS: dict[str, tuple[int, int | None]] = {
    "pg_sleep": (0, None),
    "sleep": (0, None),
    "system$wait": (0, 1),
}
SLEEP_UNITS_S: dict[str, float] = {
    "MILLISECONDS": 0.001,
    "SECONDS": 1.0,
    "MINUTES": 60.0,
    "HOURS": 3600.0,
    "DAYS": 86400.0,
}

# Snowflake SYSTEM$ functions: refused unless the name starts with one of these read-only prefixes
# (SYSTEM$CANCEL_*, SYSTEM$ABORT_*, SYSTEM$SET_*, SYSTEM$PIPE_FORCE_RESUME, ... are refused).
SNOWFLAKE_READ_ONLY_SYSTEM_PREFIXES: tuple[str, ...] = (
    "system$allowlist",
    "system$whitelist",
    "system$behavior_change_bundle_status",
    "system$clustering_depth",
    "system$clustering_information",
    "system$clustering_ratio",
    "system$current_user_task_name",
    "system$estimate_",
    "system$explain_",
    "system$get_",
    "system$is_",
    "system$last_change_commit_time",
    "system$list_",
    "system$pipe_status",
    "system$query_reference",
    "system$reference",
    "system$show_",
    "system$stream_get_table_timestamp",
    "system$stream_has_data",
    "system$task_runtime_info",
    "system$typeof",
    "system$wait",  # bounded like a sleep, see SLEEP_FUNCTIONS
)

# SQL Server table hints that take update/exclusive locks or hold shared locks beyond the row being read.
TSQL_LOCK_HINTS = frozenset(
    {"UPDLOCK", "XLOCK", "TABLOCK", "TABLOCKX", "HOLDLOCK", "PAGLOCK", "SERIALIZABLE", "REPEATABLEREAD"}
)

# In SQL sqlglot could not parse: these keywords right after "(" start a nested write (`FROM (DELETE ...)`).
NESTED_WRITE_KEYWORDS = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE"})
