"""What the guard must know about each dialect's own reading of SQL text, beyond what sqlglot's tokenizer knows.

A name in SQL is only what the server makes of it: PostgreSQL folds an unquoted name to lower case and keeps a quoted
one as written (so `"LOWER"(x)` is not `lower(x)`), Snowflake folds to upper case, MySQL, SQL Server, BigQuery,
Databricks and DuckDB compare function names without regard to case. A built-in may be called through a schema that
holds the built-ins (`pg_catalog.lower`); any other qualifier names a user-defined function. Where the server's reading
of the text depends on a setting or is not documented beyond doubt, the guard reads the text both ways.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

#: how the server compares a function name: fold unquoted names to lower / upper case and keep quoted ones as written,
#: or ignore case altogether
NameFolding = Literal["lower", "upper", "insensitive"]


@dataclass(frozen=True)
class DialectRules:
    #: sqlglot's name for the dialect
    sqlglot: str
    folding: NameFolding
    #: qualifiers under which a built-in may be called (`pg_catalog.lower(x)`), canonical (folded) form
    builtin_schemas: frozenset[tuple[str, ...]] = frozenset()
    #: the other STRING_ESCAPES a server setting can switch to (PostgreSQL standard_conforming_strings, MySQL
    #: NO_BACKSLASH_ESCAPES); a SQL text with a backslash must be read-only in that reading too
    alternative_string_escapes: tuple[str, ...] | None = None
    #: the server's block-comment nesting is not documented beyond doubt: a text with two `/*` is read both ways
    nesting_uncertain: bool = False
    #: `U&"..."` identifiers (PostgreSQL); "both": the server may not know them, so read the text with and without
    unicode_identifiers: Literal["no", "yes", "both"] = "no"
    #: statements follow one another without a separator (T-SQL batches): a statement keyword is never a name
    statements_need_no_separator: bool = False
    #: the server runs the contents of `/*! ... */` comments (MySQL, MariaDB)
    executable_comments: bool = False
    #: DESCRIBE only reads metadata here, so a DESCRIBE sqlglot cannot parse is still accepted
    describe_only_reads: bool = False
    #: quoted identifiers may hold backslash escapes (`\x41`), decoded by the server (BigQuery)
    backslash_escaped_identifiers: bool = False
    #: dotted names of namespaced built-ins are kept whole (`NET.HOST`, `HLL_COUNT.MERGE` in BigQuery)
    namespaced_builtins: bool = False
    #: file-format names that read a path when used as a schema (`csv.`/path``, Databricks)
    path_reading_schemas: frozenset[str] = field(default_factory=frozenset)
    #: system views that read server files when queried (PostgreSQL's configuration files), by folded name
    file_reading_relations: frozenset[str] = field(default_factory=frozenset)


RULES: dict[str, DialectRules] = {
    "postgres": DialectRules(
        "postgres",
        "lower",
        builtin_schemas=frozenset({("pg_catalog",)}),
        alternative_string_escapes=("'", "\\"),  # standard_conforming_strings = off
        unicode_identifiers="yes",
        file_reading_relations=frozenset({"pg_file_settings", "pg_hba_file_rules", "pg_ident_file_mappings"}),
    ),
    "redshift": DialectRules(
        "redshift",
        "lower",
        builtin_schemas=frozenset({("pg_catalog",)}),
        alternative_string_escapes=("'",),  # standard strings (and the PostgreSQL stand-in the Redshift tests use)
        nesting_uncertain=True,
        unicode_identifiers="both",  # Redshift has no U&"...", the PostgreSQL stand-in does
    ),
    "mysql": DialectRules(
        "mysql",
        "insensitive",
        alternative_string_escapes=("'", '"'),  # sql_mode NO_BACKSLASH_ESCAPES
        executable_comments=True,
    ),
    "snowflake": DialectRules("snowflake", "upper", nesting_uncertain=True, describe_only_reads=True),
    "bigquery": DialectRules(
        "bigquery",
        "insensitive",
        nesting_uncertain=True,
        backslash_escaped_identifiers=True,
        namespaced_builtins=True,
    ),
    "tsql": DialectRules("tsql", "insensitive", builtin_schemas=frozenset({("sys",)}), statements_need_no_separator=True),
    "databricks": DialectRules(
        "databricks",
        "insensitive",
        nesting_uncertain=True,
        describe_only_reads=True,
        path_reading_schemas=frozenset(
            {"csv", "json", "parquet", "orc", "avro", "text", "binaryfile", "delta", "xml", "iceberg", "hudi", "jdbc"}
        ),
    ),
    "duckdb": DialectRules("duckdb", "insensitive", builtin_schemas=frozenset({("main",), ("pg_catalog",), ("system", "main")})),
}

# Our source types and common spellings -> the guard's dialect names.
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

SUPPORTED_DIALECTS = frozenset(DIALECT_ALIASES.values())
