"""The statement-level policy, as data: which statements read, which tree nodes write, lock hints, batch keywords.

Kept apart from the walker (`checker.py`) so a reviewer reads the policy in one place. Functions have their own lists
(`typed_functions`, `builtins`). The guard is the first line of defence, not the only one: connectors also open
read-only sessions where the source has them.
"""

from __future__ import annotations

from sqlglot import exp

# Keywords that may lead a read-only statement (used to classify SQL sqlglot could not parse).
READ_LEADERS = frozenset({"SELECT", "WITH", "VALUES", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "FROM", "("})

# Statements sqlglot keeps as an opaque `exp.Command` that are still read-only (EXPLAIN is checked recursively).
READ_ONLY_COMMANDS = frozenset({"SHOW", "DESCRIBE", "DESC"})

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
    "Lock": "FOR UPDATE",  # FOR SHARE when not an update lock, see checker._construct
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
    "Command": "COMMAND",  # the real keyword is reported, see checker._construct
    "Summarize": "SUMMARIZE",
}

# Besides those: every class sqlglot defines for DDL and DML statements (its `expressions/ddl.py` and `dml.py`), so a
# statement kind added by a sqlglot upgrade is refused before anyone reviews it. These few live there but are parts of
# reads: the DESCRIBE and SHOW statements themselves, DuckDB list comprehensions, `$tag$` strings, CHARACTER SET in
# casts.
_READ_PARTS_IN_DDL_MODULES = frozenset({"Describe", "Show", "Comprehension", "Heredoc", "CharacterSet"})


def _statement_classes() -> tuple[type[exp.Expression], ...]:
    found = []
    for value in vars(exp).values():
        module = getattr(value, "__module__", "")
        if (
            isinstance(value, type)
            and issubclass(value, exp.Expression)
            and module.rsplit(".", 1)[-1] in ("ddl", "dml")
            and value.__name__ not in _READ_PARTS_IN_DDL_MODULES
        ):
            found.append(value)
    return tuple(found)


DENIED_NODE_TYPES: tuple[type[exp.Expression], ...] = tuple(dict.fromkeys(_types(*DENIED_NODES) + _statement_classes()))

# Node classes allowed at the top of the tree (Pivot: DuckDB's `PIVOT t ON c USING agg` statement, a read).
READ_STATEMENT_TYPES: tuple[type[exp.Expression], ...] = _types("Query", "Values", "Show", "Describe", "Pivot")

# SQL Server table hints that take update/exclusive locks or hold shared locks beyond the row being read.
TSQL_LOCK_HINTS = frozenset(
    {"UPDLOCK", "XLOCK", "TABLOCK", "TABLOCKX", "HOLDLOCK", "PAGLOCK", "SERIALIZABLE", "REPEATABLEREAD"}
)

# In SQL sqlglot could not parse: these keywords right after "(" start a nested write (`FROM (DELETE ...)`).
NESTED_WRITE_KEYWORDS = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE"})

# T-SQL runs statements one after another without a separator, so in a batch these words start a new statement
# wherever they stand: `SELECT 1 DELETE FROM t COMMIT` is three statements, not a SELECT with aliases. Unquoted, they
# are refused anywhere in a T-SQL text (as a name they must be quoted, `[delete]`). The reserved words, and the
# statement keywords that are not reserved (THROW, SEND, RECEIVE, GET, MOVE, ENABLE, DISABLE).
TSQL_STATEMENT_KEYWORDS = frozenset(
    """
    ALTER BACKUP BEGIN BREAK BULK CHECKPOINT CLOSE COMMIT CONTINUE CREATE DBCC DEALLOCATE DECLARE DELETE DENY DISABLE
    DROP DUMP ENABLE EXEC EXECUTE EXIT GET GOTO GRANT IF INSERT KILL LOAD MERGE MOVE OPEN PRINT RAISERROR READTEXT
    RECEIVE RECONFIGURE RESTORE RETURN REVERT REVOKE ROLLBACK SAVE SEND SET SETUSER SHUTDOWN THROW TRAN TRANSACTION
    TRUNCATE UPDATE UPDATETEXT USE WAITFOR WHILE WRITETEXT
    """.split()
)
