"""How a snapshot's catalog is kept: serialised once, compressed once, and shared by the snapshots after it while it
does not change.

A 2,000-table catalog is ~6 MB of JSON, ~0.1 MB compressed. Most snapshots of a source (a nightly schedule) hold the
same catalog as the snapshot before, all but its head (`introspected_at`, `round_trips`, ...). Saving one re-compressed
and re-wrote the same body each time; now such a snapshot keeps only its head (the `catalog` JSON column) and
`catalog_ref`, the id of the snapshot of its source whose `catalog_zlib` holds the body. The digest of the body's
`databases` tells it is unchanged without reading anything but the previous snapshot's digest.

The forms a row can take (every one readable):

- `catalog_zlib` set, `catalog` JSON null: the whole catalog, compressed (its head included);
- `catalog_zlib` set, `catalog` a head object: a shared body that moved here when the row holding it was pruned;
  the head is this row's own;
- `catalog_ref` set, `catalog` a head object: the body is the referenced row's, the head this row's;
- neither: a row of a release before compression, the whole catalog in the `catalog` JSON column.

A reference never dangles: pruning moves a body still referenced by a kept snapshot to the newest of them
(`keep_referenced_bodies`), and saving, pruning and deleting snapshots of a source take the source's lock
(`lock_source`), so a body cannot be pruned between a save choosing to reference it and that save committing.
"""

from __future__ import annotations

import json
import operator
import threading
import types
import typing
import zlib
from collections import defaultdict
from typing import Any

import orjson
from blake3 import blake3
import sqlalchemy as sa
from pydantic import BaseModel, TypeAdapter

from connectors import Catalog, Database
from store.tables import snapshots as snapshots_table

#: zlib's fastest level: catalogs repeat the same keys and types on every column, so it already keeps ~2 % of the text
CATALOG_ZLIB_LEVEL = 1
#: how a digest says which function made it; digests of older rows (no prefix, or `sha224:` before BLAKE3) never
#: equal one made now, which only means their next snapshot is compared with them the long way, once
DIGEST_PREFIX = "blake3:"

_DATABASES_JSON = TypeAdapter(list[Database])
DATABASES_KEY = b',"databases":'


class EncodedCatalog:
    """A catalog serialised once: its `databases` JSON (for the digest and the diff), its head JSON and digest; the
    compressed body is built only when it has to be stored."""

    __slots__ = ("databases", "head", "_digest")

    def __init__(self, catalog: Catalog) -> None:
        self.databases: bytes = databases_json(catalog)
        self._digest = _DigestSoon(self.databases)
        self.head: bytes = catalog.model_dump_json(exclude={"databases"}).encode()

    @property
    def digest(self) -> str:
        return self._digest.value()

    def body(self) -> bytes:
        """The whole catalog's JSON as stored, `databases` last (see `same_databases`)."""
        return self.head[:-1] + DATABASES_KEY + self.databases + b"}"

    def packed(self) -> bytes:
        return zlib.compress(self.body(), CATALOG_ZLIB_LEVEL)


#: BLAKE3's output cut to SHA-224's 224 bits: the digest column holds 64 characters, prefix included
DIGEST_BYTES = 28


def catalog_digest(databases: bytes) -> str:
    """The digest that tells a catalog's databases unchanged: BLAKE3, a cryptographic hash like the SHA-224 it
    replaces, ~1 ms for the 6 MB of a 2,000-table catalog where SHA-224 took ~3 ms even on the CPU's SHA extensions;
    every save computes one. One thread: a worker runs other runs beside this one."""
    return DIGEST_PREFIX + blake3(databases).hexdigest(DIGEST_BYTES)


#: bodies at least this long are hashed on a thread of their own (`_DigestSoon`); a shorter one costs less to hash
#: than to start a thread for (BLAKE3 reads ~5 GB/s here: 1 MB is ~0.2 ms)
DIGEST_THREAD_MIN_BYTES = 1 << 20


class _DigestSoon:
    """A body's digest, computed beside the caller when the body is large: BLAKE3 lets go of the GIL while it hashes,
    so the ~1 ms of a 2,000-table catalog runs on another core while the save goes on (the catalog's head, the
    transaction opened, the previous snapshot read) until it compares digests."""

    __slots__ = ("_value", "_error", "_thread")

    def __init__(self, data: bytes) -> None:
        self._value: str | None = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if len(data) < DIGEST_THREAD_MIN_BYTES:
            self._value = catalog_digest(data)
        else:
            self._thread = threading.Thread(target=self._hash, args=(data,), name="taskpack-catalog-digest", daemon=True)
            self._thread.start()

    def _hash(self, data: bytes) -> None:
        try:
            self._value = catalog_digest(data)
        except BaseException as exc:  # noqa: BLE001 - raised to the caller by value()
            self._error = exc

    def value(self) -> str:
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._value is not None
        return self._value


def databases_json(catalog: Catalog) -> bytes:
    """The catalog's databases as stored: orjson writing each model's `__dict__`, which for these models is exactly
    what pydantic would write (`plain_json_models` checks it at import, tests/store/test_snapshot_storage.py checks
    the bytes), None values included.

    Why not pydantic's serializer: it dispatches every field of every model through its schema, ~25 ms for a catalog of
    2,000 tables and 40,000 columns, the largest cost of a snapshot save; orjson reading the models' dicts takes
    ~8 ms. Leaving the None values out (pydantic's `exclude_none`, what this wrote before) is not something orjson
    does: it wrote ~22 % less text, and compressed 80 KB where this writes 118 KB (2,000 tables), a cost paid only
    by a snapshot whose catalog changed, while every save pays the serialisation. Catalogs stored the other ways
    stay readable; the first snapshot after the change is compared with its previous one the long way, once (the
    digest and the stored text differ). A value orjson does not know (a model outside the checked ones, say) falls
    back to pydantic."""
    # While none of the checked models has a subclass (the usual case), every model in the tree is of one of them:
    # their dicts are read by a C-level getter, ~3 ms less than a Python function called for each of 44,000 models.
    # A subclass somewhere in the process (a connector's own Column, say) makes each model's exact class checked.
    default = _plain_model_fields if any(model.__subclasses__() for model in PLAIN_JSON_MODELS) else _model_dict
    try:
        return orjson.dumps(catalog.databases, default=default)
    except orjson.JSONEncodeError:
        return _DATABASES_JSON.dump_json(catalog.databases)


_model_dict = operator.attrgetter("__dict__")


def _plain_model_fields(value: Any) -> dict[str, Any]:
    if type(value) in PLAIN_JSON_MODELS:  # the exact class: a subclass may add fields or serializers
        return value.__dict__  # type: ignore[no-any-return]
    raise TypeError(f"not a plain catalog model: {type(value).__name__}")


_PLAIN_LEAVES = (str, int, bool, type(None))


def plain_json_models(root: type[BaseModel]) -> frozenset[type[BaseModel]]:
    """`root` and the models its fields hold, checked to be ones whose JSON is their `__dict__` written as it is: every
    field a str, int, bool, None, a Literal of those, a list of them or of such a model; no alias, exclusion,
    serializer, computed field or extra field. Raises TypeError naming what is not, so a model that grows such a
    feature fails at import instead of writing snapshots pydantic would have written otherwise."""
    found: set[type[BaseModel]] = set()
    problems: list[str] = []

    def leaf_ok(annotation: Any, where: str) -> None:
        origin = typing.get_origin(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            visit(annotation)
        elif annotation in _PLAIN_LEAVES:
            pass
        elif origin is typing.Literal:
            if not all(type(arg) in _PLAIN_LEAVES for arg in typing.get_args(annotation)):
                problems.append(f"{where}: a Literal of other than str/int/bool/None")
        elif origin in (typing.Union, types.UnionType, list):
            for arg in typing.get_args(annotation):
                leaf_ok(arg, where)
        else:
            problems.append(f"{where}: {annotation!r}")

    def visit(model: type[BaseModel]) -> None:
        if model in found:
            return
        found.add(model)
        decorators = model.__pydantic_decorators__
        if decorators.field_serializers or decorators.model_serializers or decorators.computed_fields:
            problems.append(f"{model.__name__}: serializers or computed fields")
        if model.model_config.get("extra") == "allow" or model.__private_attributes__:
            problems.append(f"{model.__name__}: extra fields or private attributes")
        for name, field in model.model_fields.items():
            where = f"{model.__name__}.{name}"
            if field.alias or field.serialization_alias or field.exclude:
                problems.append(f"{where}: an alias or an exclusion")
            leaf_ok(field.annotation, where)

    visit(root)
    if problems:
        raise TypeError("catalog models pydantic would not write as their __dict__: " + "; ".join(problems))
    return frozenset(found)


#: the models `databases_json` writes as their `__dict__`
PLAIN_JSON_MODELS = plain_json_models(Database)


def same_databases(stored: bytes, encoded: EncodedCatalog) -> bool:
    """True when a stored catalog's text ends with the same databases: no JSON string holds an unescaped `"`, so
    `,"databases":` there is the key, and nothing changed; neither catalog is parsed."""
    return stored.endswith(DATABASES_KEY + encoded.databases + b"}")


# -- reading -----------------------------------------------------------------------------------------------------------
#: the row holding a referenced body, joined in the statement that reads the referencing row: one statement sees one
#: state of the table, so a body moved by a concurrent prune is found where it is, before or after the move
_holder = snapshots_table.alias("catalog_holder")


def select_with_body(*columns: Any) -> sa.Select[Any]:
    """SELECT `columns` of snapshots with `ref_zlib`, the referenced body (NULL when the row has none)."""
    t = snapshots_table
    return sa.select(*columns, _holder.c.catalog_zlib.label("ref_zlib")).select_from(
        t.outerjoin(_holder, _holder.c.id == t.c.catalog_ref)
    )


def body_columns(t: sa.Table = snapshots_table) -> list[Any]:
    """The columns `stored_catalog_text` reads besides `ref_zlib` (the JSON column as text, not parsed)."""
    return [sa.cast(t.c.catalog, sa.Text).label("catalog"), t.c.catalog_zlib, t.c.catalog_ref]


def stored_catalog_text(row: Any) -> bytes:
    """A snapshot row's catalog as JSON text (UTF-8), from whichever form the row has (see the module docstring).

    `row` has `catalog` (the JSON column, as text or parsed), `catalog_zlib`, and, read with `select_with_body`,
    `catalog_ref` and `ref_zlib`."""
    packed = row.catalog_zlib
    if packed is None and getattr(row, "catalog_ref", None) is not None:
        packed = row.ref_zlib
        if packed is None:  # pruning moves a referenced body before it deletes the row holding it: a bug, not a state
            raise LookupError(f"the catalog body of snapshot {row.catalog_ref!r} is gone")
    if packed is None:
        return row.catalog.encode() if isinstance(row.catalog, str) else json.dumps(row.catalog).encode()
    body = zlib.decompress(packed)
    head = _head(row.catalog)
    if head is None:
        return body
    return head[:-1] + body[body.index(DATABASES_KEY) :]


def stored_catalog(row: Any) -> Any:
    """A snapshot row's catalog as parsed JSON (a dict)."""
    if row.catalog_zlib is None and getattr(row, "catalog_ref", None) is None:
        return json.loads(row.catalog) if isinstance(row.catalog, str) else row.catalog
    return json.loads(stored_catalog_text(row))


def _head(value: Any) -> bytes | None:
    """The head JSON a row keeps beside a compressed or referenced body; None when the column holds JSON null."""
    if value is None or value == "null":
        return None
    if isinstance(value, str):
        return value.encode()
    return json.dumps(value, separators=(",", ":")).encode()


# -- writing -----------------------------------------------------------------------------------------------------------
def lock_source(conn: sa.Connection, data_source_id: str) -> None:
    """Serialise the writers of one source's snapshots until the transaction ends: on PostgreSQL an advisory
    transaction lock (two sources rarely share its 32-bit key, and then they only wait for each other); on SQLite the
    database's write lock, taken before the transaction's first read (a file has one writer at a time anyway)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(f"store_snapshots:{data_source_id}"))))
    elif conn.dialect.name == "sqlite":
        dbapi_connection = conn.connection.dbapi_connection
        if dbapi_connection is not None and not dbapi_connection.in_transaction:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def keep_referenced_bodies(conn: sa.Connection, data_source_id: str, doomed: list[str]) -> int:
    """Before `doomed` snapshots are deleted: every body one of them holds that a kept snapshot still references moves
    to the newest such snapshot, and the other kept references point there. Returns how many bodies moved."""
    t = snapshots_table
    referrers: dict[str, list[str]] = defaultdict(list)  # doomed holder -> kept snapshots referencing it, newest first
    for snapshot_id, holder in conn.execute(
        sa.select(t.c.id, t.c.catalog_ref)
        .where(t.c.data_source_id == data_source_id, t.c.catalog_ref.in_(doomed), t.c.id.not_in(doomed))
        .order_by(t.c.created_at.desc(), t.c.id.desc())
    ):
        referrers[holder].append(snapshot_id)
    for holder, kept in referrers.items():
        heir, others = kept[0], kept[1:]
        body = sa.select(t.c.catalog_zlib).where(t.c.id == holder).scalar_subquery()
        conn.execute(sa.update(t).where(t.c.id == heir).values(catalog_zlib=body, catalog_ref=None))
        if others:
            conn.execute(sa.update(t).where(t.c.id.in_(others)).values(catalog_ref=heir))
    return len(referrers)
