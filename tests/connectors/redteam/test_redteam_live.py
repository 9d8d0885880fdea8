"""Every PostgreSQL, MariaDB and DuckDB attack of the corpus, run for real against a canary database: no effect.

The guard should refuse each before it reaches the server; these tests do not rely on that: they send each attack
through the real path and then look at the canary (rows, sequence, locks, the victim session, statistics, settings,
files, time slept). A harmless keyword alias is run too, to prove the live path does execute what the guard accepts.
"""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa

from connectors import connect
from tests.conftest import MYSQL_HOST, MYSQL_PORT, MYSQL_USER, PG_HOST, PG_PORT, PG_USER
from tests.connectors.redteam.corpus import CORPUS, HARMLESS_KEYWORD_ALIASES
from tests.connectors.redteam.live import Outcome, run_duckdb, run_mysql, run_postgres


@pytest.fixture(autouse=True)
def _quiet_sqlglot() -> None:
    logging.getLogger("sqlglot").setLevel(logging.ERROR)


def _assert_no_effect(outcomes: list[Outcome], dialect: str) -> None:
    attacks = [a for a in CORPUS if a.dialect == dialect]
    assert len(outcomes) == len(attacks) > 0
    with_effect = [(o.attack.sql, o.effects) for o in outcomes if o.effects]
    assert with_effect == [], f"attacks with an effect on the canary: {with_effect}"
    ran = [o.attack.sql for o in outcomes if not o.refused_by]
    assert ran == [], f"attacks the guard and the server both let run: {ran}"
    assert all(o.refused_by == "guard" for o in outcomes), [
        (o.attack.sql, o.refused_by, o.message) for o in outcomes if o.refused_by != "guard"
    ]


def test_postgres_attacks_have_no_effect_on_a_canary_database(postgres_url: str) -> None:
    outcomes = run_postgres([a for a in CORPUS if a.dialect == "postgres"], PG_HOST, PG_PORT, PG_USER)
    _assert_no_effect(outcomes, "postgres")


def test_mariadb_attacks_have_no_effect_on_a_canary_database(mysql_url: str) -> None:
    password = sa.engine.make_url(mysql_url).password or ""
    outcomes = run_mysql([a for a in CORPUS if a.dialect == "mysql"], MYSQL_HOST, MYSQL_PORT, MYSQL_USER, password)
    _assert_no_effect(outcomes, "mysql")


def test_duckdb_attacks_have_no_effect_on_a_canary_file(tmp_path) -> None:
    outcomes = run_duckdb([a for a in CORPUS if a.dialect == "duckdb"], str(tmp_path))
    _assert_no_effect(outcomes, "duckdb")


def test_the_live_path_runs_what_the_guard_accepts(postgres_url: str, mysql_url: str) -> None:
    """The canary checks would be meaningless if nothing could run: a keyword alias runs and reads back."""
    aliases = dict(HARMLESS_KEYWORD_ALIASES)
    pg = {"type": "postgres", "host": PG_HOST, "port": PG_PORT, "database": "test", "username": PG_USER, "ssl_mode": "disable"}
    with connect(pg) as connector:
        result = connector.query(aliases["postgres"])
        assert result.rows == [[1]] and result.columns[0].name == "commit"
        assert connector.query("SELECT pg_sleep(0.2)", timeout=2).row_count == 1
    my = {"type": "mysql", "host": MYSQL_HOST, "port": MYSQL_PORT, "database": "test", "username": MYSQL_USER}
    with connect(my) as connector:
        result = connector.query(aliases["mysql"])
        assert result.rows == [[1]] and result.columns[0].name.upper() == "COMMIT"


def test_the_canary_checks_see_an_effect_when_the_guard_is_switched_off(postgres_url: str, mysql_url: str, tmp_path, monkeypatch) -> None:
    """With a guard that lets everything through, the same runners report the effects: the checks above can fail."""
    from connectors.base import Connector
    from tests.connectors.redteam import live
    from tests.connectors.redteam.corpus import Attack

    monkeypatch.setattr(Connector, "guard", lambda self, sql, timeout=None: sql)
    monkeypatch.setattr(live, "check_read_only", lambda sql, dialect, timeout=None: sql)
    pg = run_postgres(
        [
            Attack("postgres", "locks", "SELECT pg_advisory_lock(4242)"),
            Attack("postgres", "server_control", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'victim%'"),
        ],
        PG_HOST, PG_PORT, PG_USER,
    )
    assert [o.refused_by for o in pg] == ["", ""]
    assert any("advisory locks" in e for e in pg[0].effects), pg[0].effects
    assert any("victim" in e for e in pg[1].effects), pg[1].effects
    password = sa.engine.make_url(mysql_url).password or ""
    my = run_mysql([Attack("mysql", "locks", "SELECT GET_LOCK('redteam', 0)"), Attack("mysql", "session_state", "SELECT @v := 1")],
                   MYSQL_HOST, MYSQL_PORT, MYSQL_USER, password)
    assert any("named lock" in e for e in my[0].effects), my[0].effects
    assert any("session state" in e for e in my[1].effects), my[1].effects
    duck = run_duckdb([Attack("duckdb", "sequences", "SELECT nextval('canary_seq')"), Attack("duckdb", "session_state", "SET threads = 1")], str(tmp_path))
    assert any("sequence" in e for e in duck[0].effects), duck[0].effects
    assert any("settings" in e for e in duck[1].effects), duck[1].effects
