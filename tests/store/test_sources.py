"""The registry: ids and names, validation, masking, no plaintext secret in the database, removal."""

from __future__ import annotations

import base64
import json

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from connectors import Catalog, CredentialsError, Database, Schema, Table
from runtime import schedules
from store import InvalidSourceError, SourceExistsError, SourceNotFoundError, snapshots, source_schedules, sources
from store.database import store_engine
from store.tables import data_sources
from tests.secret_scan import database_bytes, hits

PASSWORD = "reg-Pw-7f3a9c"
CREDS = {"type": "postgres", "host": "db.example", "database": "shop", "username": "reader", "password": PASSWORD}


def test_a_source_is_found_by_id_or_name_with_its_secrets_masked(store_url: str) -> None:
    added = sources.add_source("shop", CREDS, filters={"include_schemas": ["public"]}, profile=True, database_url=store_url)
    assert added.id.startswith("src_") and added.source_type == "postgres"
    by_id, by_name = sources.get_source(added.id, database_url=store_url), sources.get_source("shop", database_url=store_url)
    assert by_id == by_name == added
    assert by_id.credentials.password.get_secret_value() == PASSWORD
    assert by_id.filters is not None and by_id.filters.include_schemas == ["public"] and by_id.profile is True
    shown = by_id.public_dict()
    assert shown["credentials"]["password"] == "**********" and shown["credentials"]["host"] == "db.example"
    assert PASSWORD not in json.dumps(shown) + repr(by_id) + str(by_id) + by_id.model_dump_json()
    assert sources.resolve("shop", database_url=store_url).id == added.id
    assert [s.name for s in sources.list_sources(database_url=store_url)] == ["shop"]


def test_the_database_holds_a_fernet_token_and_never_the_password(store_url: str, secret_key: str) -> None:
    sources.add_source("tokenized", CREDS, database_url=store_url)
    with store_engine(store_url).connect() as conn:
        token = conn.execute(sa.select(data_sources.c.credentials)).scalar_one()
    assert json.loads(Fernet(secret_key).decrypt(token.encode()))["password"] == PASSWORD
    stored = database_bytes(store_url)
    assert b"tokenized" in stored and token.encode() in stored  # the scan reads the registry's rows
    assert hits(stored, PASSWORD) == []
    assert hits(base64.b64encode(b"x" + PASSWORD.encode()), PASSWORD) != []  # and would find it base64-encoded


def test_bad_names_filters_and_credentials_are_refused_naming_what_is_wrong(store_url: str) -> None:
    for name in ("", "has space", "-leading-dash", "x" * 201, "src_abc"):
        with pytest.raises(InvalidSourceError, match="invalid data source name"):
            sources.add_source(name, CREDS, database_url=store_url)
    with pytest.raises(InvalidSourceError, match="include_schema: Extra inputs"):
        sources.add_source("typo", CREDS, filters={"include_schema": ["public"]}, database_url=store_url)
    with pytest.raises(InvalidSourceError, match="exclude_tables"):
        sources.add_source("not-a-list", CREDS, filters={"exclude_tables": 3}, database_url=store_url)
    with pytest.raises(CredentialsError) as caught:
        sources.add_source("no-db", {k: v for k, v in CREDS.items() if k != "database"}, database_url=store_url)
    assert "database" in caught.value.message and PASSWORD not in caught.value.message
    with pytest.raises(CredentialsError, match="oracle"):
        sources.add_source("oracle", {"type": "oracle", "password": PASSWORD}, database_url=store_url)
    assert sources.list_sources(database_url=store_url) == []
    sources.add_source("taken", CREDS, database_url=store_url)
    with pytest.raises(SourceExistsError, match="'taken'"):
        sources.add_source("taken", CREDS, database_url=store_url)
    with pytest.raises(SourceNotFoundError, match="'nope'"):
        sources.get_source("nope", database_url=store_url)
    with pytest.raises(SourceNotFoundError):
        sources.remove_source("src_0000", database_url=store_url)


def test_replace_keeps_the_id_name_and_snapshots_and_changes_the_rest(store_url: str) -> None:
    added = sources.add_source("shop", CREDS, filters={"include_schemas": ["public"]}, database_url=store_url)
    snapshots.save_snapshot(data_source_id=added.id, catalog=_catalog("orders"), database_url=store_url)
    new_password = "replaced-Pw-51e0"
    replaced = sources.replace_source(
        "shop", {**CREDS, "host": "db2.example", "password": new_password}, profile=True, database_url=store_url
    )
    assert (replaced.id, replaced.name, replaced.created_at) == (added.id, added.name, added.created_at)
    assert replaced.updated_at >= added.updated_at
    again = sources.get_source(added.id, database_url=store_url)
    assert again == replaced
    assert again.credentials.host == "db2.example" and again.credentials.password.get_secret_value() == new_password
    assert again.filters is None and again.profile is True  # replaced, not merged
    assert [s.id for s in sources.list_sources(database_url=store_url)] == [added.id]
    assert snapshots.latest_snapshot(added.id, database_url=store_url) is not None
    stored = database_bytes(store_url)
    assert hits(stored, new_password) == [] and hits(stored, PASSWORD) == []
    # another type under the same id is allowed: the id is the source, the credentials say what it is now
    duck = sources.replace_source(added.id, {"type": "duckdb", "path": "/data/shop.duckdb"}, database_url=store_url)
    assert duck.source_type == "duckdb" and sources.resolve("shop", database_url=store_url).source_type == "duckdb"


def test_replace_refuses_an_unknown_source_and_bad_input_and_changes_nothing(store_url: str) -> None:
    with pytest.raises(SourceNotFoundError, match="'nope'"):
        sources.replace_source("nope", CREDS, database_url=store_url)
    with pytest.raises(SourceNotFoundError):
        sources.replace_source("src_0000", CREDS, database_url=store_url)
    added = sources.add_source("shop", CREDS, database_url=store_url)
    with pytest.raises(CredentialsError) as caught:
        sources.replace_source("shop", {k: v for k, v in CREDS.items() if k != "host"}, database_url=store_url)
    assert "host" in caught.value.message and PASSWORD not in caught.value.message
    with pytest.raises(InvalidSourceError, match="include_schema"):
        sources.replace_source("shop", CREDS, filters={"include_schema": ["x"]}, database_url=store_url)
    assert sources.get_source("shop", database_url=store_url) == added
    assert sources.list_sources(database_url=store_url) == [added]


def _catalog(*tables: str) -> Catalog:
    return Catalog(source_type="postgres", databases=[Database(name="d", schemas=[Schema(name="s", tables=[Table(name=t) for t in tables])])])


def test_remove_deletes_the_sources_schedule_and_snapshots_and_nothing_else(store_url: str) -> None:
    import tasks.introspect_data.task  # noqa: F401 - defines the scheduled task, as the CLI does

    keep = sources.add_source("keep", CREDS, database_url=store_url)
    drop = sources.add_source("drop", CREDS, database_url=store_url)
    for source in (keep, drop):
        source_schedules.schedule(source.id, cron="0 3 * * *", database_url=store_url)
        for n in range(2):
            snapshots.save_snapshot(data_source_id=source.id, catalog=_catalog(f"t{n}"), database_url=store_url)
    removed = sources.remove_source("drop", database_url=store_url)
    assert removed.id == drop.id and removed.snapshots_deleted == 2 and removed.schedule_id is not None
    assert [s.deduplication_key for s in schedules.list(database_url=store_url)] == [keep.id]
    assert snapshots.list_snapshots(drop.id, database_url=store_url) == []
    assert len(snapshots.list_snapshots(keep.id, database_url=store_url)) == 2
    assert [s.name for s in sources.list_sources(database_url=store_url)] == ["keep"]
    with pytest.raises(SourceNotFoundError):
        sources.resolve(drop.id, database_url=store_url)


def test_remove_deletes_the_agents_metrics_dashboards_and_chats_of_that_source_only(store_url: str) -> None:
    from store import chats, dashboards, examples, metrics

    keep = sources.add_source("keep", CREDS, database_url=store_url)
    drop = sources.add_source("drop", CREDS, database_url=store_url)
    for source in (keep, drop):
        metric = metrics.create_metric(
            name="revenue", description="sum", sql="SELECT 1 AS x", data_source_id=source.id, database_url=store_url
        )
        metrics.modify_metric(metric.id, name="revenue v2", database_url=store_url)
        dashboards.create_dashboard(name="board", metric_ids=[metric.id], data_source_id=source.id, database_url=store_url)
        chats.ensure_chat(f"chat-{source.name}", data_source_id=source.id, database_url=store_url)
        chats.add_turn(f"chat-{source.name}", run_id=f"run-{source.name}", question="q?", database_url=store_url)
        examples.add_example(source.id, "How many?", "SELECT count(*) FROM t", database_url=store_url)
    removed = sources.remove_source("drop", database_url=store_url)
    assert (removed.metrics_deleted, removed.dashboards_deleted, removed.chats_deleted) == (1, 1, 1)
    assert metrics.list_metrics(data_source_id=drop.id, database_url=store_url) == []
    assert dashboards.list_dashboards(data_source_id=drop.id, database_url=store_url) == []
    assert chats.list_chats(data_source_id=drop.id, database_url=store_url) == []
    assert chats.turn_for_run("run-drop", database_url=store_url) is None
    assert [m.name for m in metrics.list_metrics(data_source_id=keep.id, database_url=store_url)] == ["revenue v2"]
    assert len(dashboards.list_dashboards(data_source_id=keep.id, database_url=store_url)) == 1
    assert chats.turn_for_run("run-keep", database_url=store_url) is not None
    assert examples.list_examples(drop.id, database_url=store_url) == []
    assert len(examples.list_examples(keep.id, database_url=store_url)) == 1
