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
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # the canary removed, nothing written beside it


def test_the_live_path_runs_what_the_guard_accepts(postgres_url: str, mysql_url: str, tmp_path) -> None:
    """The canary checks would be meaningless if nothing could run: a keyword alias runs and reads back."""
    from tests.connectors.redteam.corpus import Attack

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
    # DuckDB: the runner's own check queries go through the guard and the connector, and read the canary's rows
    duck = run_duckdb([Attack("duckdb", "harmless", "SELECT count(*) AS commit FROM canary")], str(tmp_path))
    assert duck[0].refused_by == "" and duck[0].effects == []


def test_the_canary_checks_see_an_effect_when_the_guard_is_switched_off(postgres_url: str, mysql_url: str, tmp_path, monkeypatch) -> None:
    """With a guard that lets everything through, the same runners report the effects: the checks above can fail.

    DuckDB's sandbox stops most single statements on its own; what it cannot stop is a session detaching the canary
    and attaching it again read-write (the worker's user may write the file it created), which the checks must see
    at every step: a database attached, the session moved off the canary, the canary gone, then the file written."""
    from connectors.base import Connector
    from tests.connectors.redteam.corpus import Attack

    monkeypatch.setattr(Connector, "guard", lambda self, sql, timeout=None: sql)
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
    steps = ["ATTACH ':memory:' AS scratch", "USE scratch", "DETACH canary_off", f"ATTACH '{tmp_path / 'canary_off.duckdb'}' AS reopened",
             "INSERT INTO reopened.main.canary VALUES (4, 'delta')"]
    duck = run_duckdb([Attack("duckdb", "session_state", step) for step in steps], str(tmp_path), name="canary_off")
    assert [o.refused_by for o in duck] == ["", "", "", "", ""], [(o.attack.sql, o.message) for o in duck]
    assert any(e.startswith("databases changed") for e in duck[0].effects), duck[0].effects
    assert any(e.startswith("session changed") for e in duck[1].effects), duck[1].effects
    assert any(e.startswith("rows changed") and "unreadable" in e for e in duck[2].effects), duck[2].effects
    assert any(e.startswith("sandbox changed") for e in duck[3].effects), duck[3].effects  # a read-write database
    assert any(e.startswith("file changed") for e in duck[4].effects), duck[4].effects
