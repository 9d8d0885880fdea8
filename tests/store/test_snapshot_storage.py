"""How a snapshot's catalog is stored: written as pydantic writes it (by orjson, from the models' dicts) and compressed, read back equal, an unchanged
catalog recognised by its digest without reading the previous one, and snapshots stored by older releases (defaults
written out, no digest; or every default left out) still compared correctly. Sharing an unchanged catalog's body: test_snapshot_sharing.py."""

from __future__ import annotations

import hashlib
import json
import typing
import zlib

from datetime import date, datetime

import pytest
from blake3 import blake3
import sqlalchemy as sa
from pydantic import BaseModel, Field, TypeAdapter, computed_field

from connectors import Catalog, Column, Database, ForeignKey, Schema, Table
from store.catalog_bodies import databases_json, plain_json_models
from store import snapshots
from store.database import store_engine
from store.tables import snapshots as snapshots_table


def col(name: str, data_type: str = "integer", **extra: object) -> Column:
    return Column(ordinal=1, name=name, data_type=data_type, normalized_type="other", **extra)


def catalog(*tables: Table) -> Catalog:
    return Catalog(source_type="postgres", databases=[Database(name="db", schemas=[Schema(name="s", tables=list(tables))])])


ORDERS = Table(
    name="orders",
    columns=[col("id", nullable=False), col("total", "numeric(12,2)", default="0", comment="gross"), col("note", "text")],
    primary_key=["id"],
    row_count=12,
)
ITEMS = Table(name="items", kind="view", columns=[col("order_id")], view_definition="select 1")


def stored_row(url: str, snapshot_id: str) -> dict:  # type: ignore[type-arg]
    t = snapshots_table
    with store_engine(url).connect() as conn:
        row = conn.execute(
            sa.select(sa.cast(t.c.catalog, sa.Text).label("catalog"), t.c.catalog_zlib, t.c.catalog_ref, t.c.catalog_digest)
            .where(t.c.id == snapshot_id)
        ).one()
        text = snapshots.stored_catalog_text(row).decode()
    return {"text": text, "digest": row.catalog_digest, "json_column": row.catalog, "packed": row.catalog_zlib,
            "ref": row.catalog_ref}


def test_every_none_able_field_of_a_stored_catalog_defaults_to_none() -> None:
    """Why the snapshots stored without their None values (releases before orjson wrote them) lose nothing: a field
    left out reads back as its default."""
    seen: set[type[BaseModel]] = set()
    wrong: list[str] = []

    def walk(model: type[BaseModel]) -> None:
        if model in seen:
            return
        seen.add(model)
        for name, field in model.model_fields.items():
            args = typing.get_args(field.annotation)
            default = field.get_default(call_default_factory=True)
            if (type(None) in args or field.annotation is typing.Any) and default is not None:
                wrong.append(f"{model.__name__}.{name} = {default!r}")
            for inner in (field.annotation, *args, *(a for arg in args for a in typing.get_args(arg))):
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    walk(inner)

    walk(Database)
    assert {m.__name__ for m in seen} == {"Database", "Schema", "Table", "Column", "ForeignKey"}
    assert wrong == []


def test_the_stored_catalog_is_what_pydantic_writes_and_reads_back_equal(store_url: str) -> None:
    original = catalog(ORDERS, ITEMS)
    snap = snapshots.save_snapshot(data_source_id="src", catalog=original, database_url=store_url)
    row = stored_row(store_url, snap)
    pydantic_text = TypeAdapter(list[Database]).dump_json(original.databases)
    assert row["text"].encode().endswith(b',"databases":' + pydantic_text + b"}")  # byte for byte, None values included
    stored = json.loads(row["text"])
    orders = stored["databases"][0]["schemas"][0]["tables"][0]
    note = orders["columns"][2]
    assert orders["name"] == "orders" and note["name"] == "note"
    assert note["comment"] is None and orders["size_bytes"] is None and orders["row_count"] == 12
    assert note["nullable"] is True and orders["columns"][0]["nullable"] is False
    assert row["digest"] == "blake3:" + blake3(pydantic_text).hexdigest(28) and row["ref"] is None
    # the body is stored compressed (zlib), the JSON column holds JSON null
    assert row["packed"] is not None and zlib.decompress(row["packed"]).decode() == row["text"]
    assert row["json_column"] == "null"
    again = snapshots.get_snapshot(snap, database_url=store_url)
    assert again is not None and again.catalog == original  # every default restored, nothing lost


def test_an_unchanged_catalog_is_recognised_by_its_digest_without_reading_the_previous_one(store_url: str) -> None:
    first = snapshots.save_snapshot(data_source_id="src", catalog=catalog(ORDERS), database_url=store_url)
    # Make the previous snapshot's body unreadable as a catalog: only the digest can tell that nothing changed.
    with store_engine(store_url).begin() as conn:
        conn.execute(
            sa.update(snapshots_table).where(snapshots_table.c.id == first).values(catalog={"databases": []}, catalog_zlib=None)
        )
    second = snapshots.save_snapshot(data_source_id="src", catalog=catalog(ORDERS), database_url=store_url)
    diff = snapshots.stored_diff(second, database_url=store_url)
    assert diff is not None and diff.is_empty and diff.from_snapshot == first
    # a changed catalog has another digest: the previous body is read and compared (here it says: no tables)
    third = snapshots.save_snapshot(data_source_id="src", catalog=catalog(ORDERS, ITEMS), database_url=store_url)
    diff = snapshots.stored_diff(third, database_url=store_url)
    assert diff is not None and diff.tables_added == ["db.s.items"] and diff.from_snapshot == second
    assert stored_row(store_url, second)["digest"] != stored_row(store_url, third)["digest"]


def test_a_snapshot_stored_by_an_older_release_is_compared_attribute_by_attribute(store_url: str) -> None:
    old = catalog(ORDERS)
    t = snapshots_table
    with store_engine(store_url).begin() as conn:  # the row as the previous release wrote it: defaults, no digest
        conn.execute(
            sa.insert(t).values(
                id="snap_old", data_source_id="src", created_at=1.0, source_type="postgres", table_count=1,
                column_count=3, catalog=old.model_dump(mode="json"), profiles=[], warnings=[],
            )
        )
    same = snapshots.save_snapshot(data_source_id="src", catalog=catalog(ORDERS), database_url=store_url)
    diff = snapshots.stored_diff(same, database_url=store_url)
    assert diff is not None and diff.from_snapshot == "snap_old" and diff.is_empty  # `nullable: true` left out is no change
    changed = ORDERS.model_copy(update={"columns": [col("id", nullable=False), col("total", "numeric(14,2)", default="0", comment="gross"), col("note", "text", nullable=False)]})
    with store_engine(store_url).begin() as conn:
        conn.execute(sa.delete(t).where(t.c.id == same))
    later = snapshots.save_snapshot(data_source_id="src", catalog=catalog(changed), database_url=store_url)
    diff = snapshots.stored_diff(later, database_url=store_url)
    assert diff is not None and diff.from_snapshot == "snap_old"
    assert [(c.column, c.changes) for c in diff.columns_changed] == [
        ("db.s.orders.note", {"nullable": (True, False)}),
        ("db.s.orders.total", {"type": ("numeric(12,2)", "numeric(14,2)")}),
    ]
    assert diff.tables_added == diff.tables_removed == diff.columns_added == diff.columns_removed == []


def test_a_snapshot_stored_with_every_default_left_out_is_followed_without_a_false_change(store_url: str) -> None:
    """The release before stored the databases with every default left out (`nullable: true`, `kind: "table"`, empty
    lists), with a digest of that text. The first snapshot after it has another digest and other text: it is compared
    the long way, finds nothing changed, and the next one is recognised by its digest again."""
    old = catalog(ORDERS, ITEMS)
    text = TypeAdapter(list[Database]).dump_json(old.databases, exclude_defaults=True)
    head = old.model_dump_json(exclude={"databases"}).encode()
    body = head[:-1] + b',"databases":' + text + b"}"
    t = snapshots_table
    with store_engine(store_url).begin() as conn:
        conn.execute(
            sa.insert(t).values(
                id="snap_defaults_out", data_source_id="src", created_at=1.0, source_type="postgres", table_count=2,
                column_count=4, catalog=None, catalog_zlib=zlib.compress(body), profiles=[], warnings=[],
                catalog_digest="sha224:" + hashlib.sha224(text).hexdigest(),
            )
        )
    first = snapshots.save_snapshot(data_source_id="src", catalog=catalog(ORDERS, ITEMS), database_url=store_url)
    diff = snapshots.stored_diff(first, database_url=store_url)
    assert diff is not None and diff.from_snapshot == "snap_defaults_out" and diff.is_empty
    assert stored_row(store_url, first)["digest"] != stored_row(store_url, "snap_defaults_out")["digest"]
    second = snapshots.save_snapshot(data_source_id="src", catalog=catalog(ORDERS, ITEMS), database_url=store_url)
    with store_engine(store_url).connect() as conn:
        ref, digest = conn.execute(sa.select(t.c.catalog_ref, t.c.catalog_digest).where(t.c.id == second)).one()
    assert ref == first and digest == stored_row(store_url, first)["digest"]  # the body shared, known by its digest
    loaded = snapshots.get_snapshot("snap_defaults_out", database_url=store_url)
    assert loaded is not None and loaded.catalog.databases == old.databases  # the old text reads back whole


def test_a_snapshot_with_a_sha224_digest_is_followed_by_blake3_ones_without_a_false_change(store_url: str) -> None:
    """The release before digested the databases with SHA-224: its last snapshot holds the same text as the next save
    but another digest. That save compares the text (equal: an empty diff, nothing parsed) and keeps a body of its
    own; the save after it is recognised by its BLAKE3 digest and references that body."""
    old = catalog(ORDERS, ITEMS)
    text = databases_json(old)
    head = old.model_dump_json(exclude={"databases"}).encode()
    t = snapshots_table
    with store_engine(store_url).begin() as conn:
        conn.execute(
            sa.insert(t).values(
                id="snap_sha224", data_source_id="src", created_at=1.0, source_type="postgres", table_count=2,
                column_count=4, catalog=None, catalog_zlib=zlib.compress(head[:-1] + b',"databases":' + text + b"}"),
                profiles=[], warnings=[], catalog_digest="sha224:" + hashlib.sha224(text).hexdigest(),
            )
        )
    first = snapshots.save_snapshot(data_source_id="src", catalog=catalog(ORDERS, ITEMS), database_url=store_url)
    diff = snapshots.stored_diff(first, database_url=store_url)
    assert diff is not None and diff.from_snapshot == "snap_sha224" and diff.is_empty
    row = stored_row(store_url, first)
    assert row["digest"] == "blake3:" + blake3(text).hexdigest(28) and row["ref"] is None and row["packed"] is not None
    second = snapshots.save_snapshot(data_source_id="src", catalog=catalog(ORDERS, ITEMS), database_url=store_url)
    with store_engine(store_url).connect() as conn:
        ref, digest = conn.execute(sa.select(t.c.catalog_ref, t.c.catalog_digest).where(t.c.id == second)).one()
    assert ref == first and digest == row["digest"]


AWKWARD = Table(
    name='quote " backslash \\ tab \t newline \n nul \x00 bell \x07 é 😀 \u2028',
    kind="view",
    columns=[col("ünïcode", "character varying(64)", default="'x'::text", comment="line one\nline two"), col("\x1f", "text")],
    view_definition=" SELECT 'a\\b';\r\n",
    comment="\ud7ff \ue000 \uffff",
)


def test_awkward_strings_are_written_byte_for_byte_as_pydantic_writes_them() -> None:
    """Quotes, backslashes, control characters, non-ASCII and line separators: orjson's escaping is pydantic's, so the
    stored text (and its digest) is what pydantic's serializer would give."""
    databases = catalog(AWKWARD, ORDERS).databases
    assert databases_json(catalog(AWKWARD, ORDERS)) == TypeAdapter(list[Database]).dump_json(databases)
    assert json.loads(databases_json(catalog(AWKWARD)))[0]["schemas"][0]["tables"][0]["name"] == AWKWARD.name


def test_a_model_pydantic_would_write_differently_is_refused_by_name() -> None:
    class Stamped(BaseModel):
        name: str = Field(serialization_alias="title")
        seen: datetime
        parts: list[Nested]

        @computed_field  # type: ignore[prop-decorator]
        @property
        def upper(self) -> str:
            return self.name.upper()

    with pytest.raises(TypeError) as caught:
        plain_json_models(Stamped)
    message = str(caught.value)
    assert "Stamped: serializers or computed fields" in message
    assert "Stamped.name: an alias or an exclusion" in message
    assert "Stamped.seen: <class 'datetime.datetime'>" in message
    assert "Nested.when: <class 'datetime.date'>" in message  # found in a nested model too
    assert plain_json_models(Database) == {Database, Schema, Table, Column, ForeignKey}


class Nested(BaseModel):
    when: date


def test_a_model_outside_the_checked_ones_falls_back_to_pydantic() -> None:
    """A connector subclassing Column is written by pydantic (as the declared Column), not from its dict: its own field
    stays out, as pydantic leaves it out."""

    class TaggedColumn(Column):
        tag: str = "x"

    table = Table(name="t", columns=[TaggedColumn(ordinal=1, name="id", data_type="integer", normalized_type="integer")])
    written = databases_json(catalog(table))
    assert written == TypeAdapter(list[Database]).dump_json(catalog(table).databases)
    assert b'"tag"' not in written and TaggedColumn(ordinal=1, name="id", data_type="integer", normalized_type="integer").__dict__["tag"] == "x"


def test_a_large_body_is_hashed_beside_the_caller_to_the_same_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    """A body over the threshold is hashed on a thread of its own: the digest is the one computed inline, the thread
    has ended once it is read, and a failure of the hash is raised to the reader rather than lost with the thread."""
    from store import catalog_bodies

    big = catalog(*[Table(name=f"t{n:05d}", columns=[col(f"c{i}", "character varying(64)") for i in range(20)]) for n in range(1200)])
    encoded = catalog_bodies.EncodedCatalog(big)
    assert len(encoded.databases) >= catalog_bodies.DIGEST_THREAD_MIN_BYTES
    worker = encoded._digest._thread
    assert worker is not None
    assert encoded.digest == catalog_bodies.catalog_digest(encoded.databases) == catalog_bodies.DIGEST_PREFIX + blake3(encoded.databases).hexdigest(28)
    assert not worker.is_alive()
    small = catalog_bodies.EncodedCatalog(catalog(Table(name="orders", columns=[col("id")])))
    assert small._digest._thread is None and small.digest == catalog_bodies.catalog_digest(small.databases)

    def broken(data: bytes) -> str:
        raise MemoryError("no room to hash")

    monkeypatch.setattr(catalog_bodies, "catalog_digest", broken)
    with pytest.raises(MemoryError, match="no room"):
        catalog_bodies.EncodedCatalog(big).digest
