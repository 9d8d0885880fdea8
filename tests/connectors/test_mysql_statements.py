"""Server flavor detection, the SQL the MySQL connector wraps a statement in, and the type mapping.

The MySQL (not MariaDB) path cannot run here (no MySQL server on this machine): its timeout is the
`max_execution_time` session variable, whose value is tested as generated; the handshake version strings are the
ones MySQL 8.0 / 5.7 and MariaDB 10.x / 11.x send.
"""

from __future__ import annotations

import pytest
import sqlglot
from pymysql.constants import FIELD_TYPE

from connectors.mysql.catalog import column_default
from connectors.mysql.statements import ServerInfo, mysql_execution_time_ms, push_row_limit, with_mariadb_timeout
from connectors.mysql.types import normalize_type, result_type_name


@pytest.mark.parametrize(
    ("handshake", "flavor", "version", "shown"),
    [
        ("5.5.5-10.11.19-MariaDB-0+deb12u1", "mariadb", (10, 11, 19), "10.11.19-MariaDB-0+deb12u1"),
        ("11.4.2-MariaDB", "mariadb", (11, 4, 2), "11.4.2-MariaDB"),
        ("8.0.36", "mysql", (8, 0, 36), "8.0.36"),
        ("5.7.44-log", "mysql", (5, 7, 44), "5.7.44-log"),
    ],
)
def test_server_flavor_and_version_from_the_handshake(handshake, flavor, version, shown):
    info = ServerInfo.parse(handshake)
    assert (info.flavor, info.version, info.version_string) == (flavor, version, shown)
    assert info.has_statement_timeout


def test_old_servers_have_no_statement_timeout_and_mysql_never_quotes_defaults():
    assert not ServerInfo.parse("5.6.51").has_statement_timeout
    assert not ServerInfo.parse("5.5.5-10.0.38-MariaDB").has_statement_timeout
    assert not ServerInfo.parse("8.0.36").quotes_column_defaults
    assert ServerInfo.parse("5.5.5-10.6.1-MariaDB").quotes_column_defaults


def test_mariadb_timeout_wraps_the_statement_and_still_parses():
    wrapped = with_mariadb_timeout("SELECT * FROM t WHERE a = 'x'", 1.5)
    assert wrapped == "SET STATEMENT max_statement_time=1.500 FOR SELECT * FROM t WHERE a = 'x'"


@pytest.mark.parametrize(("timeout", "ms"), [(1, 1000), (0.25, 250), (0.0001, 1), (None, 0), (60, 60000)])
def test_mysql_execution_time_in_milliseconds(timeout, ms):
    assert mysql_execution_time_ms(timeout) == ms


@pytest.mark.parametrize(
    ("sql", "pushed_sql"),
    [
        ("SELECT * FROM t", "SELECT * FROM t\nLIMIT 6"),
        ("SELECT * FROM t;", "SELECT * FROM t\nLIMIT 6"),
        ("SELECT a FROM t ORDER BY a -- trailing comment", "SELECT a FROM t ORDER BY a -- trailing comment\nLIMIT 6"),
        ("SELECT 1 UNION SELECT 2", "SELECT 1 UNION SELECT 2\nLIMIT 6"),
        ("WITH x AS (SELECT 1 AS a) SELECT a FROM x", "WITH x AS (SELECT 1 AS a) SELECT a FROM x\nLIMIT 6"),
    ],
)
def test_row_limit_is_appended_to_queries_without_one(sql, pushed_sql):
    assert push_row_limit(sql, 6) == (pushed_sql, True)
    tree = sqlglot.parse_one(pushed_sql, read="mysql")
    assert tree.args["limit"].expression.this == "6"  # the LIMIT bounds the outermost query


@pytest.mark.parametrize(
    ("sql", "pushed"),
    [
        ("SELECT * FROM t LIMIT 3", True),  # already within max_rows+1
        ("SELECT * FROM t LIMIT 100000", False),  # the connector cuts the stream itself
        ("SHOW TABLES", False),
        ("DESCRIBE t", False),
        ("SELECT * FROM (", False),  # unparseable: left alone
    ],
)
def test_statements_that_keep_their_text(sql, pushed):
    assert push_row_limit(sql, 6) == (sql, pushed)


@pytest.mark.parametrize(
    ("data_type", "column_type", "expected"),
    [
        ("tinyint", "tinyint(1)", "boolean"),
        ("tinyint", "tinyint(4)", "integer"),
        ("tinyint", "tinyint(1) unsigned", "integer"),
        ("bit", "bit(1)", "boolean"),
        ("bit", "bit(8)", "binary"),
        ("int", "int(11)", "integer"),
        ("bigint", "bigint(20) unsigned", "integer"),
        ("year", "year(4)", "integer"),
        ("decimal", "decimal(12,2)", "decimal"),
        ("double", "double", "float"),
        ("float", "float", "float"),
        ("varchar", "varchar(255)", "string"),
        ("enum", "enum('a','b')", "string"),
        ("set", "set('a','b')", "string"),
        ("longtext", "longtext", "string"),
        ("varbinary", "varbinary(8)", "binary"),
        ("longblob", "longblob", "binary"),
        ("date", "date", "date"),
        ("time", "time(3)", "time"),
        ("datetime", "datetime(6)", "timestamp"),
        ("timestamp", "timestamp", "timestamp_tz"),
        ("json", "json", "json"),
        ("uuid", "uuid", "uuid"),
        ("point", "point", "geography"),
        ("geometry", "geometry", "geography"),
        ("inet6", "inet6", "string"),
        ("vector", "vector(3)", "other"),
    ],
)
def test_normalize_type(data_type, column_type, expected):
    assert normalize_type(data_type, column_type) == expected


def test_mariadb_json_is_longtext_flagged_by_its_check():
    assert normalize_type("longtext", "longtext", is_json=True) == "json"


def test_result_type_names_tell_text_from_binary_by_charset():
    assert result_type_name(FIELD_TYPE.VAR_STRING, 45) == "varchar"
    assert result_type_name(FIELD_TYPE.VAR_STRING, 63) == "varbinary"
    assert result_type_name(FIELD_TYPE.BLOB, 63) == "blob"
    assert result_type_name(FIELD_TYPE.BLOB, 33) == "text"
    assert result_type_name(FIELD_TYPE.NEWDECIMAL) == "decimal"
    assert result_type_name(FIELD_TYPE.LONGLONG) == "bigint"


MARIADB = ServerInfo.parse("5.5.5-10.11.19-MariaDB")
MYSQL = ServerInfo.parse("8.0.36")


@pytest.mark.parametrize(
    ("server", "raw", "data_type", "extra", "expected"),
    [
        (MARIADB, "'new'", "varchar", "", "'new'"),
        (MARIADB, "NULL", "varchar", "", None),
        (MARIADB, None, "int", "", None),
        (MARIADB, "current_timestamp()", "timestamp", "", "current_timestamp()"),
        (MARIADB, None, "decimal", "VIRTUAL GENERATED", None),
        (MYSQL, "new", "varchar", "", "'new'"),
        (MYSQL, "it's", "varchar", "", "'it''s'"),
        (MYSQL, "0", "int", "", "0"),
        (MYSQL, None, "varchar", "", None),
        (MYSQL, "CURRENT_TIMESTAMP", "timestamp", "DEFAULT_GENERATED", "CURRENT_TIMESTAMP"),
        (MYSQL, "CURRENT_TIMESTAMP", "datetime", "", "CURRENT_TIMESTAMP"),
        (MYSQL, "NULL", "varchar", "", "'NULL'"),  # MySQL's literal string 'NULL', not "no default"
        (MYSQL, "(now() + interval 1 day)", "datetime", "DEFAULT_GENERATED", "(now() + interval 1 day)"),
    ],
)
def test_column_defaults_become_sql_text_for_both_flavors(server, raw, data_type, extra, expected):
    assert column_default(raw, data_type, extra, server) == expected

