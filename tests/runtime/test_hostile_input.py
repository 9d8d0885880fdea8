"""Hostile input at every door, on SQLite and PostgreSQL: a typed error naming the field, and nothing stored.

Then the other side: rows that should never have been stored (written behind the runtime's back) must not break a
listing or `runs show`.
"""

from __future__ import annotations

import base64
import collections
import json
import pickle
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from runtime import InputError, PayloadError, RunStatus, ScheduleError, TriggerOptionsError, runs, schedules, tasks
from runtime.backend import get_backend, reset_backends
from runtime.cli import app
from runtime.definitions import get_task
from runtime.store import task_definitions
from tests.runtime import secret_tasks  # noqa: F401  (defines t-signing, t-loose)
from tests.runtime.raw_store import enqueue_unchecked, set_columns, set_stored_inputs, stored_rows

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def deep_list(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


def refused(db_url: str, call: Callable[[], Any], error: type[Exception], field: str, fragment: str) -> InputError:
    before = stored_rows(db_url)
    with pytest.raises(error) as info:
        call()
    exc = info.value
    assert isinstance(exc, InputError) and exc.field == field, (exc, getattr(exc, "field", None))
    assert str(exc).startswith(field) or f" {field}:" in str(exc), str(exc)
    assert fragment in str(exc), str(exc)
    assert len(str(exc)) < 600  # never echoes a megabyte of input
    assert stored_rows(db_url) == before, "a refused input left rows behind"
    return exc


HOSTILE_PAYLOADS = [
    (deep_list(100_000), "payload", "nested deeper than 64 levels"),
    ({"n": 10**5000}, "payload.n", "signed 64-bit range"),
    ({"s": "a\x00b"}, "payload.s", "NUL"),
    ({"s": ["ok", "\ud800"]}, "payload.s[1]", "lone surrogate"),
    ({"k\x00": 1}, 'payload["k\\u0000"]', "NUL"),
    ({"x": float("nan")}, "payload.x", "NaN"),
    ({"blob": "x" * (3 * 1024 * 1024 + 1)}, "payload", "over the 3.0 MB limit"),
    ({"o": object()}, "payload", "cannot be encoded as JSON"),
]


def test_hostile_payloads_are_refused_and_nothing_is_stored(db_url: str) -> None:
    for payload, field, fragment in HOSTILE_PAYLOADS:
        refused(db_url, lambda: tasks.trigger("t-echo", payload, database_url=db_url), PayloadError, field, fragment)


HOSTILE_OPTIONS = [
    ({"delay": "99999999999999999999d"}, "delay", "at most 365 days"),
    ({"ttl": 10**30}, "ttl", "at most 365 days"),
    ({"max_duration": "9999d"}, "max_duration", "at most 365 days"),
    ({"idempotency_key_ttl": float("inf")}, "idempotency_key_ttl", "at most 365 days"),
    ({"idempotency_key": "k" * 10_000}, "idempotency_key", "at most 256 characters, got 10000"),
    ({"idempotency_key": "a\x00b"}, "idempotency_key", "NUL"),
    ({"concurrency_key": "c" * 1000}, "concurrency_key", "at most 256 characters"),
    ({"concurrency_key": "\udc80"}, "concurrency_key", "lone surrogate"),
    ({"tags": ["fine", "t\x00"]}, "tags[1]", "NUL"),
    ({"tags": ["t" * 129]}, "tags[0]", "at most 128 characters"),
    ({"metadata": {"m": "x\x00"}}, "metadata.m", "NUL"),
    ({"metadata": {"n": 2**64}}, "metadata.n", "signed 64-bit range"),
    ({"max_attempts": 10**30}, "max_attempts", "from 1 to 100"),
]


def test_hostile_trigger_options_are_refused_and_nothing_is_stored(db_url: str) -> None:
    for options, field, fragment in HOSTILE_OPTIONS:
        refused(db_url, lambda: tasks.trigger("t-echo", {"ok": 1}, database_url=db_url, **options), TriggerOptionsError, field, fragment)
    for task_id, fragment in (("t-echo\x00", "NUL"), ("x" * 1000, "at most 200 characters"), ("\ud800", "lone surrogate")):
        refused(db_url, lambda: tasks.trigger(task_id, {}, database_url=db_url), TriggerOptionsError, "task_id", fragment)


def test_limits_at_the_edge_are_accepted_on_both_backends(db_url: str) -> None:
    handle = tasks.trigger(
        "t-echo",
        {"n": 2**63 - 1, "m": -(2**63), "deep": deep_list(62)},
        idempotency_key="k" * 256,
        concurrency_key="c" * 256,
        tags=["t" * 128] * 10,
        delay="365d",
        ttl="365d",
        database_url=db_url,
    )
    run = runs.retrieve(handle.id, database_url=db_url)
    assert run.status is RunStatus.DELAYED and run.idempotency_key == "k" * 256 and run.payload["n"] == 2**63 - 1


def test_a_batch_with_one_bad_item_creates_no_run(db_url: str) -> None:
    items = [{"n": 1}, {"n": 2}, {"payload": {"s": "\x00"}}, {"n": 4}]
    exc = refused(db_url, lambda: tasks.batch_trigger("t-echo", items, database_url=db_url), PayloadError, "items[2].payload.s", "NUL")
    assert str(exc).startswith("items[2].payload.s: contains a NUL")
    bad_option = [{"payload": {"n": 1}, "options": {"idempotency_key": "k" * 300}}]
    refused(db_url, lambda: tasks.batch_trigger("t-echo", bad_option, database_url=db_url), TriggerOptionsError, "items[0].idempotency_key", "at most 256")


HOSTILE_SCHEDULES = [
    ({"external_id": "e" * 1000}, "external_id", "at most 128 characters, got 1000"),
    ({"external_id": "e\x00"}, "external_id", "NUL"),
    ({"deduplication_key": "d" * 1000}, "deduplication_key", "at most 256 characters"),
    ({"timezone": "A" * 1000}, "timezone", "at most 64 characters"),
    ({"timezone": "../../../../etc/passwd"}, "timezone", "unknown timezone"),
    ({"cron": "0 3 * * *\x00"}, "cron", "NUL"),
    ({"task": "t\x00"}, "task", "NUL"),
]


def test_hostile_schedule_fields_are_refused(db_url: str) -> None:
    for options, field, fragment in HOSTILE_SCHEDULES:
        args = {"task": "t-echo", "cron": "0 3 * * *", **options}
        refused(db_url, lambda: schedules.create(database_url=db_url, **args), ScheduleError, field, fragment)
    assert schedules.create(task="t-echo", cron="0 3 * * *", external_id="e" * 128, deduplication_key="d" * 256, database_url=db_url).external_id == "e" * 128


def test_lookups_with_impossible_ids_are_clear_errors_not_driver_errors(db_url: str) -> None:
    from runtime import RunNotFoundError

    for bad in ("run_\x00", "\ud800", "r" * 5000):
        with pytest.raises(RunNotFoundError):
            runs.retrieve(bad, database_url=db_url)
        with pytest.raises(RunNotFoundError):
            runs.cancel(bad, database_url=db_url)
        with pytest.raises(ScheduleError, match="no schedule"):
            schedules.delete(bad, database_url=db_url)
    with pytest.raises(InputError, match="tag: contains a NUL"):
        runs.list(tag="x\x00", database_url=db_url)
    with pytest.raises(InputError, match="cursor"):
        runs.list(cursor=base64.urlsafe_b64encode(b"1|run_\x00").decode(), database_url=db_url)
    for status in ("SLEEPING", ["COMPLETED", "x\x00" * 1000]):
        with pytest.raises(InputError) as caught:
            runs.list(status=status, database_url=db_url)
        assert caught.value.field == "status" and "expected one of QUEUED, PENDING_VERSION" in str(caught.value)
        assert "SLEEPING" not in str(caught.value) and "\x00" not in str(caught.value)


# -- schema_task payloads, validated when the run is triggered -------------------------------------------------------
def test_schema_task_payload_is_refused_at_trigger_naming_each_field(db_url: str) -> None:
    exc = refused(db_url, lambda: tasks.trigger("t-schema", {"name": "", "times": 9}, database_url=db_url), PayloadError, "payload.name", "payload.times")
    assert [e["field"] for e in exc.errors] == ["payload.name", "payload.times"]
    secret = "sm-should-never-echo-77"
    exc = refused(
        db_url,
        lambda: tasks.trigger("t-signing", {"account": "", "signing_material": secret, "passwrd": "typo-secret-99"}, database_url=db_url),
        PayloadError,
        "payload.account",
        "payload.passwrd: Extra inputs are not permitted",
    )
    assert secret not in str(exc) and "typo-secret-99" not in str(exc) and secret not in json.dumps(exc.errors)


def test_valid_schema_task_payload_is_accepted(db_url: str) -> None:
    handle = tasks.trigger("t-signing", {"account": "acme", "signing_material": "sm-1", "retries": "2"}, database_url=db_url)
    assert runs.retrieve(handle.id, database_url=db_url).status is RunStatus.QUEUED


def _publish(db_url: str, task_id: str) -> None:
    """What a worker does at start: store the task's definition (with its payload's JSON Schema) for other processes."""
    backend = get_backend(db_url)
    with backend.engine.begin() as conn:
        conn.execute(sa.insert(task_definitions).values(id=task_id, definition=get_task(task_id).describe(), updated_at=time.time()))


def _trigger_elsewhere(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a process that does not define the task: only the stored definition is known there."""
    return subprocess.run(
        [sys.executable, "-m", "runtime.cli", "trigger", *args, "--database-url", db_url],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )


def test_a_process_that_only_knows_the_stored_schema_refuses_invalid_payloads(db_url: str) -> None:
    _publish(db_url, "t-signing")
    stored = get_backend(db_url)
    with stored.engine.connect() as conn:
        definition = conn.execute(sa.select(task_definitions.c.definition).where(task_definitions.c.id == "t-signing")).scalar_one()
    definition = definition if isinstance(definition, dict) else json.loads(definition)
    assert definition["payload_schema"]["properties"]["signing_material"]["writeOnly"] is True
    reset_backends()  # the other process writes; drop our pooled connections to the SQLite file first

    before = stored_rows(db_url)
    bad = _trigger_elsewhere(db_url, "t-signing", "-p", json.dumps({"account": "", "retries": 9, "passwrd": "typo-secret-1"}))
    assert bad.returncode == 2, bad.stderr
    lines = [line for line in bad.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in bad.stderr, bad.stderr
    for fragment in ("payload.account: must have at least 1 characters", "payload.retries: must be <= 5", "payload.signing_material: field required", "payload.passwrd: extra field not permitted"):
        assert fragment in lines[0], lines[0]
    assert "typo-secret-1" not in bad.stderr + bad.stdout
    reset_backends()
    assert stored_rows(db_url) == before

    good = _trigger_elsewhere(db_url, "t-signing", "-p", json.dumps({"account": "acme", "signing_material": "sm-2", "retries": "3"}))
    assert good.returncode == 0, good.stderr  # "3" for an integer: pydantic accepts it, so the stored schema must too
    reset_backends()
    assert stored_rows(db_url) != before


# -- the CLI: exit 2, one line, no traceback -----------------------------------------------------------------------------
def _cli(*args: str) -> Any:
    result = runner.invoke(app, list(args))
    reset_backends()
    return result


def assert_clean_refusal(result: Any, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # not an uncaught error
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_cli_refuses_each_hostile_input_with_one_line_and_exit_2(db_url: str, tmp_path: Path) -> None:
    latin1 = tmp_path / "latin1.json"
    latin1.write_bytes('{"name": "café"}'.encode("latin-1"))
    before = stored_rows(db_url)
    reset_backends()
    trigger = ["trigger", "t-echo", "--database-url", db_url, "-m", "tests.runtime.sample_tasks"]
    assert_clean_refusal(_cli(*trigger, "-p", "[" * 100_000 + "]" * 100_000), "--payload: nested deeper than 64 levels")
    assert_clean_refusal(_cli(*trigger, "-p", '{"n": ' + "9" * 5000 + "}"), "--payload: an integer with 5000 digits", "64-bit")
    assert_clean_refusal(_cli(*trigger, "-p", f"@{latin1}"), "--payload: not UTF-8 text (byte 0xe9 at offset 13)")
    assert_clean_refusal(_cli(*trigger, "-p", f"@{tmp_path / 'missing.json'}"), "--payload: cannot read")
    assert_clean_refusal(_cli(*trigger, "-p", '{"s": "a\\u0000b"}'), "--payload.s: contains a NUL")
    assert_clean_refusal(_cli(*trigger, "-p", '{"s": "\\ud800"}'), "--payload.s: contains a lone surrogate (U+D800)")
    assert_clean_refusal(_cli(*trigger, "--delay", "99999999999999999999d"), "delay: at most 365 days")
    assert_clean_refusal(_cli(*trigger, "--idempotency-key", "k" * 10_000), "idempotency_key: at most 256 characters, got 10000")
    assert_clean_refusal(_cli(*trigger, "-t", "[/]" * 50), "tags[0]: at most 128 characters")  # markup in the input is inert
    assert_clean_refusal(_cli("trigger", "t-schema", "--database-url", db_url, "-m", "tests.runtime.sample_tasks", "-p", '{"name": ""}'), "payload.name")
    assert_clean_refusal(
        _cli("schedules", "create", "--task", "t-echo", "--cron", "0 3 * * *", "--external-id", "e" * 1000, "--database-url", db_url),
        "external_id: at most 128 characters, got 1000",
    )
    assert stored_rows(db_url) == before


# -- rows that should not exist do not break listings ----------------------------------------------------------------------
def _undecodable_pickle() -> str:
    """A stored value whose class no process can import (a module renamed since the row was written)."""
    data = pickle.dumps(collections.OrderedDict(secret="pickled-secret-value"))
    return base64.b64encode(data.replace(b"collections", b"collectionz")).decode()


def test_listing_survives_every_kind_of_broken_row(db_url: str) -> None:
    good = tasks.trigger("t-echo", {"fine": True}, database_url=db_url).id
    surrogate = enqueue_unchecked(db_url, "t-echo", {"s": "bad \ud800 text", "password": "pw-in-raw-row"})
    garbled_input = enqueue_unchecked(db_url, "t-echo", {"x": 1})
    set_stored_inputs(db_url, garbled_input, "%%% not base64 %%%")
    bad_output = enqueue_unchecked(db_url, "t-echo", {"x": 2})
    set_columns(db_url, bad_output, status="SUCCESS", output=_undecodable_pickle())
    bad_error = enqueue_unchecked(db_url, "t-echo", {"x": 3})
    set_columns(db_url, bad_error, status="ERROR", error=_undecodable_pickle())
    bad_attrs = enqueue_unchecked(db_url, "t-echo", {"x": 4})
    backend = get_backend(db_url)
    with backend.sys_engine.begin() as conn:  # SQLite: text that is not JSON; PostgreSQL (jsonb): JSON that is not an object
        raw = "{not json" if backend.is_sqlite else "[1, 2]"
        value = ":raw" if backend.is_sqlite else "CAST(:raw AS jsonb)"
        table = "workflow_status" if backend.is_sqlite else "dbos.workflow_status"
        conn.execute(sa.text(f"UPDATE {table} SET attributes = {value} WHERE workflow_uuid = :id"), {"raw": raw, "id": bad_attrs})
    reset_backends()

    page = runs.list(database_url=db_url, limit=50)
    by_id = {run.id: run for run in page.data}
    assert set(by_id) == {good, surrogate, garbled_input, bad_output, bad_error, bad_attrs}
    assert by_id[good].warnings == [] and by_id[good].payload == {"fine": True}
    assert by_id[surrogate].payload == {"s": "bad \ufffd text", "password": "[REDACTED]"}
    assert by_id[garbled_input].payload == "[could not be decoded]" and "payload could not be decoded" in by_id[garbled_input].warnings[0]
    assert by_id[bad_output].output == "[could not be decoded]" and "output" in by_id[bad_output].warnings[0]
    assert by_id[bad_error].error.type == "UndecodableError"
    assert by_id[bad_attrs].warnings and by_id[bad_attrs].status is RunStatus.CRASHED
    dumped = page.model_dump_json()  # the JSON writer that crashed on the surrogate
    assert "pickled-secret-value" not in dumped and "pw-in-raw-row" not in dumped and "%%% not base64" not in dumped

    listed = _cli("runs", "list", "--json", "--database-url", db_url)
    assert listed.exit_code == 0, listed.output
    assert {r["id"] for r in json.loads(listed.stdout)["data"]} == set(by_id)
    assert "warning: run" in listed.stderr and "pickled-secret-value" not in listed.output
    table = _cli("runs", "list", "--database-url", db_url)
    assert table.exit_code == 0, table.output
    for run_id in by_id:
        for args in (["runs", "show", run_id, "--database-url", db_url], ["runs", "show", run_id, "--json", "--database-url", db_url]):
            shown = _cli(*args)
            assert shown.exit_code == 0, (run_id, shown.output)
            assert "pickled-secret-value" not in shown.output and "pw-in-raw-row" not in shown.output
    replay = _cli("runs", "replay", garbled_input, "--database-url", db_url)
    assert replay.exit_code == 2 and "could not be decoded" in replay.stderr


def test_runs_show_prints_hostile_text_inertly(db_url: str) -> None:
    run_id = tasks.trigger("t-echo", {"markup": "[/] [bold]x[/bold] [link=http://evil]y[/link]", "escape": "\x1b[2J\x1b[31mred"}, database_url=db_url).id
    reset_backends()
    shown = _cli("runs", "show", run_id, "--database-url", db_url)
    assert shown.exit_code == 0, shown.output
    assert "[/] [bold]x[/bold]" in shown.stdout  # shown as typed, not interpreted (an unmatched [/] used to crash)
    assert "\x1b" not in shown.stdout and "\\u001b[2J" in shown.stdout
