"""`taskpack sources`, every command, on a SQLite and on a PostgreSQL runtime database, against the real PostgreSQL
and MariaDB: the happy path, the bad input (one line, exit code 2, no traceback), the secret scans, diffs, schedules
and key rotation."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import Result
from cryptography.fernet import Fernet, InvalidToken

from runtime import RunStatus, Worker, runs, schedules
from runtime.backend import reset_backends
from store import snapshots, sources
from store.database import store_engine
from store.secrets import ENV_KEY, ENV_PREVIOUS
from store.tables import data_sources
from tests.cli.conftest import ChangingSource, Taskpack
from tests.connectors.postgres_fixtures import scram_server  # noqa: F401 - fixture
from tests.runtime.conftest import make_database
from tests.secret_scan import database_bytes, hits

MASK = "**********"
SCHEDULED_TASK = "introspect-data-scheduled"


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    return result


def one_line_error(result: Result, code: int, *fragments: str) -> str:
    """The command failed with `code`, printed exactly one line on stderr naming what was wrong, and no traceback."""
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # a handled exit, not an exception escaping
    line = result.stderr.strip()
    assert line.startswith("error: ") and "\n" not in line, result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in line, line
    return line


def run_id_of(result: Result) -> str:
    match = re.search(r"\brun (run_[0-9a-f]+)", result.output)
    assert match, result.output
    return match.group(1)


def write_json(path: Path, data: Any) -> str:
    path.write_text(json.dumps(data))
    return str(path)


def introspect(taskpack: Taskpack, ref: str, *extra: str) -> Any:
    result = taskpack("sources", "introspect", ref, "--wait", *extra)
    run = runs.retrieve(run_id_of(result))
    assert result.exit_code == (0 if run.status is RunStatus.COMPLETED else 1), result.output
    return run


# -- the whole life of a source ----------------------------------------------------------------------------------------
def test_a_source_from_registration_to_removal(
    taskpack: Taskpack, worker: Worker, pg_changing: ChangingSource, mariadb_changing: ChangingSource, tmp_path: Path
) -> None:
    outputs: list[str] = []

    def tp(*args: str, input: str | None = None) -> Result:
        result = taskpack(*args, input=input)
        outputs.append(result.output)
        return result

    # add: from a file (with filters) and from stdin (--json)
    creds_file = write_json(tmp_path / "pg.json", pg_changing.credentials)
    filters_file = write_json(tmp_path / "filters.json", {"include_schemas": [pg_changing.schema]})
    pg_id = ok(tp("sources", "add", "warehouse", "--credentials-file", creds_file, "--filters-file", filters_file)).stdout.strip()
    assert re.fullmatch(r"src_[0-9a-f]{16}", pg_id)
    my_id = json.loads(ok(tp("sources", "add", "shop-db", "--credentials-file", "-", "--json", input=json.dumps(mariadb_changing.credentials))).stdout)["id"]

    # list / show: by id or name, secrets masked
    listed = json.loads(ok(tp("sources", "list", "--json")).stdout)
    assert [(s["id"], s["name"], s["source_type"]) for s in listed] == [(pg_id, "warehouse", "postgres"), (my_id, "shop-db", "mysql")]
    assert [s["credentials"]["password"] for s in listed] == [MASK, MASK]
    assert listed[1]["credentials"]["username"] == mariadb_changing.credentials["username"]
    table = ok(taskpack("sources", "list")).stdout
    assert pg_id in table and my_id in table and "shop-db" in table
    shown = json.loads(ok(tp("sources", "show", "warehouse", "--json")).stdout)
    assert shown == json.loads(ok(tp("sources", "show", pg_id, "--json")).stdout)
    assert shown["credentials"]["password"] == MASK and shown["filters"]["include_schemas"] == [pg_changing.schema]
    assert shown["schedule"] is None and shown["latest_snapshot"] is None
    assert MASK in ok(tp("sources", "show", "shop-db")).stdout

    # test
    tested = ok(tp("sources", "test", "shop-db")).stdout
    assert "ok: shop-db (mysql" in tested and "is read-only" in tested and "warning" not in tested
    tested = ok(tp("sources", "test", pg_id)).stdout
    assert "ok: warehouse (postgres" in tested
    assert "warning: the role postgres may do more than read: superuser, can_write" in tested

    # nothing introspected yet: catalog and diff say so (exit 1)
    one_line_error(tp("sources", "catalog", "warehouse"), 1, "no snapshot yet", "taskpack sources introspect warehouse")
    one_line_error(tp("sources", "diff", "warehouse"), 1, "no snapshot yet")

    # introspect: the run's payload carries the id only; the worker decrypts the credentials
    first = {ref: introspect(taskpack, ref) for ref in ("warehouse", my_id)}
    for (ref, run), source_id in zip(first.items(), (pg_id, my_id)):
        assert run.status is RunStatus.COMPLETED, run.error
        assert run.payload == {"data_source_id": source_id, "profile": False}
        assert run.output["diff"] is None  # a source's first snapshot
    catalog = json.loads(ok(tp("sources", "catalog", "warehouse", "--json")).stdout)
    assert catalog["id"] == first["warehouse"].output["snapshot_id"] and catalog["data_source_id"] == pg_id
    database = catalog["catalog"]["databases"][0]["name"]
    tables = {t["name"]: t for s in catalog["catalog"]["databases"][0]["schemas"] for t in s["tables"]}
    assert sorted(tables) == ["customers", "order_count", "orders"] and tables["order_count"]["kind"] == "view"
    text = ok(tp("sources", "catalog", "shop-db")).stdout
    assert "customers" in text and "order_count" in text and first[my_id].output["snapshot_id"] in text

    # change both schemas (add a table, drop a column, change a type); introspect again (MariaDB with --profile)
    pg_changing.change()
    mariadb_changing.change()
    second = {"warehouse": introspect(taskpack, "warehouse"), my_id: introspect(taskpack, my_id, "--profile")}
    summary = {"tables_added": 1, "tables_removed": 0, "columns_added": 0, "columns_removed": 1, "columns_changed": 1}
    for ref, run in second.items():
        assert run.status is RunStatus.COMPLETED, run.error
        assert run.output["diff"] == {"from_snapshot": first[ref].output["snapshot_id"], **summary}
        assert run.metadata["diff"] == run.output["diff"]
    assert second[my_id].payload["profile"] is True and second[my_id].output["profiled_tables"] == 3

    # diff --json: exactly the three changes, names fully qualified
    s = f"{database}.{pg_changing.schema}"
    assert json.loads(ok(tp("sources", "diff", "warehouse", "--json")).stdout) == {
        "from_snapshot": first["warehouse"].output["snapshot_id"],
        "to_snapshot": second["warehouse"].output["snapshot_id"],
        "tables_added": [f"{s}.refunds"],
        "tables_removed": [],
        "columns_added": [],
        "columns_removed": [f"{s}.customers.legacy_code"],
        "columns_changed": [{"column": f"{s}.orders.amount", "changes": {"type": ["integer", "text"]}}],
    }
    my_diff = json.loads(ok(tp("sources", "diff", "shop-db", "--json")).stdout)
    my_prefix = f"{json.loads(ok(tp('sources', 'catalog', 'shop-db', '--json')).stdout)['catalog']['databases'][0]['name']}.{mariadb_changing.schema}"
    assert (my_diff["tables_added"], my_diff["tables_removed"], my_diff["columns_added"], my_diff["columns_removed"]) == (
        [f"{my_prefix}.refunds"], [], [], [f"{my_prefix}.customers.legacy_code"]
    )
    [changed] = my_diff["columns_changed"]
    assert changed["column"] == f"{my_prefix}.orders.amount" and list(changed["changes"]) == ["type"]
    assert changed["changes"]["type"][0].startswith("int") and changed["changes"]["type"][1] == "text"
    text = ok(tp("sources", "diff", "warehouse")).stdout
    assert f"+ table  {s}.refunds" in text and f"- column {s}.customers.legacy_code" in text
    assert f"~ column {s}.orders.amount: type 'integer' → 'text'" in text
    old, new = first["warehouse"].output["snapshot_id"], second["warehouse"].output["snapshot_id"]
    back = json.loads(ok(tp("sources", "diff", "warehouse", "--from", new, "--to", old, "--json")).stdout)
    assert back["tables_removed"] == [f"{s}.refunds"] and back["columns_added"] == [f"{s}.customers.legacy_code"]
    assert back["columns_changed"][0]["changes"] == {"type": ["text", "integer"]}
    one_line_error(tp("sources", "diff", "warehouse", "--from", "snap_nope"), 2, "snap_nope")
    one_line_error(tp("sources", "diff", "warehouse", "--to", first[my_id].output["snapshot_id"]), 2, "no snapshot with id")

    # schedule: one per source, replaced on re-schedule
    def source_schedules() -> list[Any]:
        return [x for x in schedules.list(database_url=taskpack.url) if x.task_id == SCHEDULED_TASK]

    ok(tp("sources", "schedule", "warehouse", "--cron", "0 3 * * *", "--timezone", "Europe/Paris"))
    [only] = source_schedules()
    assert (only.deduplication_key, only.external_id, only.cron, only.timezone) == (pg_id, pg_id, "0 3 * * *", "Europe/Paris")
    ok(tp("sources", "schedule", pg_id, "--cron", "30 4 * * 1"))
    [replaced] = source_schedules()
    assert (replaced.id, replaced.cron, replaced.timezone) == (only.id, "30 4 * * 1", "UTC")
    ok(tp("sources", "schedule", "shop-db", "--cron", "0 5 * * *"))
    assert sorted(x.deduplication_key for x in source_schedules()) == sorted([pg_id, my_id])
    assert json.loads(ok(tp("sources", "show", "warehouse", "--json")).stdout)["schedule"]["cron"] == "30 4 * * 1"
    assert "30 4 * * 1" in ok(taskpack("sources", "list")).stdout
    ok(tp("sources", "unschedule", "shop-db"))
    assert [x.deduplication_key for x in source_schedules()] == [pg_id]
    one_line_error(tp("sources", "unschedule", "shop-db"), 1, "has no schedule")

    # remove: the source, its schedule and its snapshots; the other source untouched
    removed = ok(tp("sources", "remove", "warehouse")).stdout
    assert "2 snapshots" in removed and replaced.id in removed
    assert source_schedules() == []
    assert snapshots.list_snapshots(pg_id, database_url=taskpack.url) == []
    assert len(snapshots.list_snapshots(my_id, database_url=taskpack.url)) == 2
    one_line_error(tp("sources", "show", "warehouse"), 2, "no data source with id or name 'warehouse'")
    assert [s["name"] for s in json.loads(ok(tp("sources", "list", "--json")).stdout)] == ["shop-db"]

    # no password anywhere: not in any output, not in the runtime database (file bytes, or every PostgreSQL table)
    for password in (pg_changing.password, mariadb_changing.password):
        assert all(password not in out for out in outputs)
    stored = database_bytes(taskpack.url)
    assert b"shop-db" in stored and first[my_id].id.encode() in stored  # the scan reads the registry and the runs
    assert hits(stored, pg_changing.password) == [] and hits(stored, mariadb_changing.password) == []


# -- wrong passwords -----------------------------------------------------------------------------------------------------
def test_wrong_passwords_fail_once_with_auth_error_and_no_password_is_stored(
    taskpack: Taskpack, worker: Worker, scram_server: dict[str, Any], mariadb_changing: ChangingSource
) -> None:
    """The shared PostgreSQL trusts every login, so the PostgreSQL case uses the scram-sha-256 throwaway cluster."""
    right_pg = {"type": "postgres", "ssl_mode": "disable", "connect_timeout": 3, **scram_server}
    wrong = {"pg": f"wrongPg-{secrets.token_hex(8)}", "my": f"wrongMy-{secrets.token_hex(8)}"}
    registered = {
        "pg-right": right_pg,
        "pg-wrong": {**right_pg, "password": wrong["pg"]},
        "my-right": mariadb_changing.credentials,
        "my-wrong": {**mariadb_changing.credentials, "password": wrong["my"]},
    }
    for name, creds in registered.items():
        ok(taskpack("sources", "add", name, "--credentials-file", "-", input=json.dumps(creds)))
    outputs = []
    for name in registered:
        tested = taskpack("sources", "test", name)
        outputs.append(tested.output)
        if name.endswith("right"):
            ok(tested)
            run = introspect(taskpack, name)
            assert run.status is RunStatus.COMPLETED, run.error
        else:
            one_line_error(tested, 1, "AuthError (auth_failed)")
            run = introspect(taskpack, name)
            assert run.status is RunStatus.FAILED and run.attempts == 1
            assert run.error is not None and run.error.type == "AuthError"
            shown = taskpack("runs", "show", run.id, "--json")
            outputs.append(shown.output)
            assert json.loads(shown.stdout)["run"]["error"]["type"] == "AuthError"
    passwords = [scram_server["password"], mariadb_changing.password, *wrong.values()]
    stored = database_bytes(taskpack.url)
    assert b"pg-wrong" in stored and b"AuthError" in stored  # the scan reads the registry and the failed runs
    for password in passwords:
        assert hits(stored, password) == []
        assert all(password not in out for out in outputs)


# -- bad input -------------------------------------------------------------------------------------------------------------
def test_bad_input_is_one_clear_line_and_exit_code_2(taskpack: Taskpack, tmp_path: Path) -> None:
    for command in (["show"], ["test"], ["introspect"], ["catalog"], ["diff"], ["unschedule"], ["remove"],
                    ["schedule", "--cron", "0 3 * * *"]):
        one_line_error(taskpack("sources", command[0], "nope", *command[1:]), 2, "no data source with id or name 'nope'")
    one_line_error(taskpack("sources", "show", "src_0123456789abcdef"), 2, "'src_0123456789abcdef'")

    secret = f"leak-{secrets.token_hex(6)}"
    good = {"type": "postgres", "host": "127.0.0.1", "database": "test", "username": "postgres", "password": secret}
    add = ("sources", "add")
    one_line_error(taskpack(*add, "x", "--credentials-file", str(tmp_path / "missing.json")), 2, "cannot read the credentials file", "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text(f'{{"type": "postgres", "password": "{secret}",')
    for result in (taskpack(*add, "x", "--credentials-file", str(broken)), taskpack(*add, "x", "--credentials-file", "-", input=broken.read_text())):
        line = one_line_error(result, 2, "is not valid JSON", "line 1")
        assert secret not in result.output and secret not in line
    one_line_error(taskpack(*add, "x", "--credentials-file", "-", input=""), 2, "from stdin is not valid JSON")
    no_db = {k: v for k, v in good.items() if k != "database"}
    result = taskpack(*add, "x", "--credentials-file", "-", input=json.dumps(no_db))
    one_line_error(result, 2, "invalid postgres credentials", "database")
    assert secret not in result.output
    one_line_error(taskpack(*add, "x", "--credentials-file", "-", input=json.dumps({**good, "port": "nope"})), 2, "port")
    one_line_error(taskpack(*add, "x", "--credentials-file", "-", input=json.dumps({**good, "type": "oracle"})), 2, "unknown credentials type 'oracle'")
    one_line_error(taskpack(*add, "x", "--credentials-file", "-", input=json.dumps([good])), 2, "credentials must be an object")
    one_line_error(taskpack(*add, "bad name", "--credentials-file", "-", input=json.dumps(good)), 2, "invalid data source name")
    one_line_error(taskpack(*add, "src_mine", "--credentials-file", "-", input=json.dumps(good)), 2, "reserved for ids")
    filters = write_json(tmp_path / "filters.json", {"include_schema": ["public"]})
    one_line_error(taskpack(*add, "x", "--credentials-file", "-", "--filters-file", filters, input=json.dumps(good)), 2, "include_schema")
    (tmp_path / "filters-broken.json").write_text("{")
    one_line_error(taskpack(*add, "x", "--credentials-file", "-", "--filters-file", str(tmp_path / "filters-broken.json"), input=json.dumps(good)),
                   2, "filters", "not valid JSON")
    no_secret_option = taskpack(*add, "x", "--password", secret)
    assert no_secret_option.exit_code == 2 and "No such option" in no_secret_option.output  # secrets never on the command line
    assert json.loads(ok(taskpack("sources", "list", "--json")).stdout) == []  # none of the above registered anything

    ok(taskpack(*add, "real", "--credentials-file", "-", input=json.dumps(good)))
    one_line_error(taskpack(*add, "real", "--credentials-file", "-", input=json.dumps(good)), 2, "'real' exists already")
    one_line_error(taskpack("sources", "schedule", "real", "--cron", "sometimes"), 2, "invalid cron expression 'sometimes'")
    one_line_error(taskpack("sources", "schedule", "real", "--cron", "0 3 * * *", "--timezone", "Mars/Olympus"), 2, "unknown timezone 'Mars/Olympus'")
    one_line_error(taskpack("sources", "schedule", "real", "--cron", "61 3 * * *"), 2, "minute '61' is not valid")
    one_line_error(taskpack("sources", "schedule", "real", "--cron", "0 3 31 2 *"), 2, "never fires")
    assert schedules.list(database_url=taskpack.url) == []
    one_line_error(taskpack("sources", "diff", "real", "--to", "snap_nope"), 2, "snap_nope")
    one_line_error(taskpack("sources", "unschedule", "real"), 1, "has no schedule")
    assert secret not in ok(taskpack("sources", "show", "real")).output


# -- key rotation ------------------------------------------------------------------------------------------------------------
def test_rotate_key_reencrypts_so_old_keys_can_go(taskpack: Taskpack, monkeypatch: pytest.MonkeyPatch) -> None:
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    monkeypatch.setenv(ENV_KEY, old_key)
    password = f"rotPw-{secrets.token_hex(6)}"
    creds = {"type": "mysql", "host": "127.0.0.1", "username": "u", "password": password}
    source_id = ok(taskpack("sources", "add", "rot", "--credentials-file", "-", input=json.dumps(creds))).stdout.strip()

    monkeypatch.setenv(ENV_KEY, new_key)
    for command in (("show", "rot"), ("list",), ("test", "rot"), ("rotate-key",)):
        one_line_error(taskpack("sources", *command), 2, "cannot be decrypted", ENV_PREVIOUS, source_id)

    monkeypatch.setenv(ENV_PREVIOUS, f"{Fernet.generate_key().decode()},{old_key}")  # before rotation: read via PREVIOUS
    assert json.loads(ok(taskpack("sources", "show", "rot", "--json")).stdout)["credentials"]["password"] == MASK
    assert "1 data source with the current key (TASKPACK_SECRET_KEY)" in ok(taskpack("sources", "rotate-key")).stdout

    monkeypatch.delenv(ENV_PREVIOUS)  # after: the current key alone reads everything
    assert sources.get_source("rot", database_url=taskpack.url).credentials.password.get_secret_value() == password
    with store_engine(taskpack.url).connect() as conn:
        token = conn.execute(sa.select(data_sources.c.credentials)).scalar_one().encode()
    assert json.loads(Fernet(new_key).decrypt(token))["password"] == password
    with pytest.raises(InvalidToken):
        Fernet(old_key).decrypt(token)

    monkeypatch.setenv(ENV_KEY, Fernet.generate_key().decode())  # a lost key does not block removing the source
    assert "removed rot" in ok(taskpack("sources", "remove", "rot")).stdout


def test_a_postgresql_store_without_a_key_fails_every_command_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite generates its key file; a PostgreSQL runtime database needs TASKPACK_SECRET_KEY."""
    monkeypatch.delenv(ENV_KEY, raising=False)
    monkeypatch.setenv("TASKPACK_PROJECT_ROOT", str(tmp_path))
    url, drop = make_database("postgres", tmp_path)
    taskpack = Taskpack(url=url, kind="postgres")
    try:
        for command in (("list",), ("show", "x"), ("rotate-key",), ("catalog", "x"), ("remove", "x")):
            one_line_error(taskpack("sources", *command), 2, f"{ENV_KEY} is not set")
        creds = json.dumps({"type": "mysql", "host": "h", "username": "u"})
        one_line_error(taskpack("sources", "add", "x", "--credentials-file", "-", input=creds), 2, f"{ENV_KEY} is not set")
        assert not (tmp_path / ".taskpack").exists()
    finally:
        reset_backends()
        drop()


# -- the installed command ----------------------------------------------------------------------------------------------------
def test_the_installed_taskpack_command_reads_stdin_and_fails_without_a_traceback(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "taskpack"
    env = {k: v for k, v in os.environ.items() if k not in (ENV_KEY, ENV_PREVIOUS)}
    env["TASKPACK_PROJECT_ROOT"] = str(tmp_path)
    url = f"sqlite:///{tmp_path / 'installed.sqlite'}"

    def run(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(exe), "sources", *args, "--database-url", url], input=input, capture_output=True, text=True, env=env, timeout=120)

    password = f"subPw-{secrets.token_hex(6)}"
    added = run("add", "piped", "--credentials-file", "-", input=json.dumps({"type": "mysql", "host": "h", "username": "u", "password": password}))
    assert added.returncode == 0, added.stderr
    assert re.fullmatch(r"src_[0-9a-f]{16}", added.stdout.strip())
    assert json.loads(run("list", "--json").stdout)[0]["credentials"]["password"] == MASK
    missing = run("show", "nope")
    assert missing.returncode == 2 and missing.stdout == ""
    assert missing.stderr.strip() == "error: no data source with id or name 'nope'"
    broken = run("add", "x", "--credentials-file", "-", input="{")
    assert broken.returncode == 2 and "Traceback" not in broken.stderr and len(broken.stderr.strip().splitlines()) == 1
    assert (tmp_path / ".taskpack" / "secret.key").stat().st_mode & 0o777 == 0o600
    assert hits(database_bytes(url), password) == []
