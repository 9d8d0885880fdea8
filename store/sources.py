"""The data-source registry: each source's name, credentials (encrypted), filters and profile flag.

A source has a generated id (`src_...`) and a unique name; `resolve`, `get_source`, `replace_source` and
`remove_source` take either.
The credentials are validated with `connectors.parse_credentials`, then stored as one Fernet token of their JSON
(secrets.py), and decrypted only when a source is read. A `DataSource` keeps them as the connector's credentials
model, whose secrets are `SecretStr`: dumping, printing or logging a source shows them masked, and only a connector
opening a connection asks for the value.
"""

from __future__ import annotations

import re
import time
import uuid
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from connectors import CatalogFilters, Credentials, CredentialsError, parse_credentials
from store.database import store_engine
from store.errors import InvalidSourceError, SourceExistsError, SourceNotFoundError
from store.secrets import Keyring, keyring
from store.tables import data_sources

ID_PREFIX = "src_"
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}")


class DataSource(BaseModel):
    """A registered source, credentials decrypted but their secrets still `SecretStr` (dumps mask them)."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    source_type: str
    credentials: Credentials = Field(repr=False)
    filters: CatalogFilters | None = None
    profile: bool = Field(False, description="scheduled introspections also profile tables")
    created_at: datetime
    updated_at: datetime

    def public_dict(self) -> dict[str, Any]:
        """The source as listings show it: every secret masked."""
        data = self.model_dump(mode="json", exclude={"credentials"})
        data["credentials"] = self.credentials.safe_dict()
        return data


class _StrictFilters(CatalogFilters):
    """Filters as a user writes them: a misspelt key is an error, not a filter silently ignored."""

    model_config = ConfigDict(extra="forbid")


def add_source(
    name: str,
    credentials: dict[str, Any] | Credentials,
    *,
    filters: CatalogFilters | dict[str, Any] | None = None,
    profile: bool = False,
    database_url: str | None = None,
) -> DataSource:
    """Register a source under a new name. Raises CredentialsError naming a bad field (never its value),
    InvalidSourceError for a bad name or filters, SourceExistsError when the name is taken."""
    _check_name(name)
    creds = parse_credentials(credentials)
    filters_model = validate_filters(filters)
    engine, ring = _registry(database_url)
    token = ring.encrypt_json(plain_credentials(creds))
    now = time.time()
    row = {
        "id": f"{ID_PREFIX}{uuid.uuid4().hex[:16]}",
        "name": name,
        "source_type": creds.type,
        "credentials": token,
        "filters": filters_model.model_dump(mode="json") if filters_model else None,
        "profile": profile,
        "created_at": now,
        "updated_at": now,
    }
    try:
        with engine.begin() as conn:
            if conn.execute(sa.select(data_sources.c.id).where(data_sources.c.name == name)).first() is not None:
                raise SourceExistsError(f"a data source named {name!r} exists already")
            conn.execute(sa.insert(data_sources).values(**row))
    except sa.exc.IntegrityError:  # another process registered the same name between our check and our insert
        raise SourceExistsError(f"a data source named {name!r} exists already") from None
    return _source(row, creds)


def replace_source(
    ref: str,
    credentials: dict[str, Any] | Credentials,
    *,
    filters: CatalogFilters | dict[str, Any] | None = None,
    profile: bool = False,
    database_url: str | None = None,
) -> DataSource:
    """Give the source with this id or name new credentials, filters and profile flag; its id, name, snapshots and
    schedule stay. For a command that must leave one source under its name however often it runs (`taskpack demo`).
    Raises as `add_source` does, and SourceNotFoundError when there is no such source."""
    creds = parse_credentials(credentials)
    filters_model = validate_filters(filters)
    engine, ring = _registry(database_url)
    values = {
        "source_type": creds.type,
        "credentials": ring.encrypt_json(plain_credentials(creds)),
        "filters": filters_model.model_dump(mode="json") if filters_model else None,
        "profile": profile,
        "updated_at": time.time(),
    }
    with engine.begin() as conn:
        updated = conn.execute(sa.update(data_sources).where(_matches(ref)).values(**values))
        if updated.rowcount != 1:
            raise SourceNotFoundError(f"no data source with id or name {ref!r}")
        row = conn.execute(sa.select(data_sources).where(_matches(ref))).one()
    return _source(dict(row._mapping), creds)


class SourceRef(BaseModel):
    """Who a source is, read without decrypting its credentials (removing or scheduling works even after a key was lost)."""

    id: str
    name: str
    source_type: str
    profile: bool = False


class RemovedSource(SourceRef):
    snapshots_deleted: int
    schedule_id: str | None = None
    metrics_deleted: int = 0
    dashboards_deleted: int = 0
    chats_deleted: int = 0


def resolve(ref: str, *, database_url: str | None = None) -> SourceRef:
    """The id, name and type of the source with this id or name; SourceNotFoundError when there is none."""
    engine, _ = _registry(database_url)
    with engine.connect() as conn:
        columns = [data_sources.c[name] for name in SourceRef.model_fields]
        row = conn.execute(sa.select(*columns).where(_matches(ref))).first()
    if row is None:
        raise SourceNotFoundError(f"no data source with id or name {ref!r}")
    return SourceRef.model_validate(dict(row._mapping))


def get_source(ref: str, *, database_url: str | None = None) -> DataSource:
    """The source with this id or name, credentials decrypted; SourceNotFoundError when there is none."""
    engine, ring = _registry(database_url)
    with engine.connect() as conn:
        row = conn.execute(sa.select(data_sources).where(_matches(ref))).first()
    if row is None:
        raise SourceNotFoundError(f"no data source with id or name {ref!r}")
    return _decrypted(ring, row)


def find_source_by_id(source_id: str, *, database_url: str | None = None) -> DataSource | None:
    """The source with exactly this id (what a run's payload carries), or None."""
    engine, ring = _registry(database_url)
    with engine.connect() as conn:
        row = conn.execute(sa.select(data_sources).where(data_sources.c.id == source_id)).first()
    return _decrypted(ring, row) if row is not None else None


def list_sources(*, database_url: str | None = None) -> list[DataSource]:
    """Every registered source, oldest first."""
    engine, ring = _registry(database_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(data_sources).order_by(data_sources.c.created_at, data_sources.c.id)).all()
    return [_decrypted(ring, row) for row in rows]


def remove_source(ref: str, *, database_url: str | None = None) -> RemovedSource:
    """Delete a source with its schedule, its snapshots and the analyst agent's metrics, dashboards, chats and verified
    question->SQL pairs on it (nothing is decrypted: a lost key does not stop it)."""
    from store import snapshots, source_schedules
    from store.agent_tables import delete_source_data
    from store.examples import delete_source_examples

    source = resolve(ref, database_url=database_url)
    schedule = source_schedules.unschedule(source.id, database_url=database_url)
    deleted = snapshots.delete_snapshots(source.id, database_url=database_url)
    agent_data = delete_source_data(source.id, database_url=database_url)
    delete_source_examples(source.id, database_url=database_url)
    with store_engine(database_url).begin() as conn:
        conn.execute(sa.delete(data_sources).where(data_sources.c.id == source.id))
    return RemovedSource(
        **source.model_dump(),
        snapshots_deleted=deleted,
        schedule_id=schedule.id if schedule else None,
        metrics_deleted=agent_data["metrics"],
        dashboards_deleted=agent_data["dashboards"],
        chats_deleted=agent_data["chats"],
    )


def rotate_key(*, database_url: str | None = None) -> int:
    """Re-encrypt every source's credentials with the current key; returns how many.

    All or nothing: a token no key can read names its source and nothing is rewritten.
    """
    engine, ring = _registry(database_url)
    with engine.begin() as conn:
        rows = conn.execute(
            sa.select(data_sources.c.id, data_sources.c.name, data_sources.c.credentials).order_by(data_sources.c.created_at)
        ).all()
        for row in rows:
            token = ring.rotate(row.credentials, what=f"the credentials of data source {row.name!r} ({row.id})")
            conn.execute(sa.update(data_sources).where(data_sources.c.id == row.id).values(credentials=token))
    return len(rows)


def validate_filters(filters: CatalogFilters | dict[str, Any] | None) -> CatalogFilters | None:
    if filters is None or isinstance(filters, CatalogFilters):
        return filters
    if not isinstance(filters, dict):
        raise InvalidSourceError(f"filters must be an object, got {type(filters).__name__}")
    try:
        return CatalogFilters.model_validate(_StrictFilters.model_validate(filters).model_dump())
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False))
        raise InvalidSourceError(f"invalid filters: {problems}") from None


def plain_credentials(creds: Any) -> dict[str, Any]:
    """The credentials with their secret values: the JSON that gets encrypted, and nothing else ever sees."""
    data = creds.model_dump(mode="python", by_alias=True)
    return {key: value.get_secret_value() if isinstance(value, SecretStr) else value for key, value in data.items()}


def _registry(database_url: str | None) -> tuple[sa.Engine, Keyring]:
    """The engine and the keys: every registry call checks the key first, so a PostgreSQL store without
    TASKPACK_SECRET_KEY (or an unsafe key file) fails at once, whatever the command."""
    engine = store_engine(database_url)
    return engine, keyring(database_url)


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise InvalidSourceError(
            f"invalid data source name {name!r}: 1 to 200 letters, digits, '_', '.' or '-', starting with a letter or digit"
        )
    if name.startswith(ID_PREFIX):
        raise InvalidSourceError(f"invalid data source name {name!r}: names starting with {ID_PREFIX!r} are reserved for ids")


def _matches(ref: str) -> sa.ColumnElement[bool]:
    return data_sources.c.id == ref if ref.startswith(ID_PREFIX) else data_sources.c.name == ref


def _decrypted(ring: Keyring, row: Any) -> DataSource:
    what = f"the credentials of data source {row.name!r} ({row.id})"
    plain = ring.decrypt_json(row.credentials, what=what)
    try:
        creds = parse_credentials(plain)
    except CredentialsError as exc:  # registered before a validation rule changed: the registration needs fixing
        raise InvalidSourceError(f"data source {row.name!r} ({row.id}): {exc.message}") from None
    return _source(dict(row._mapping), creds)


def _source(row: dict[str, Any], creds: Any) -> DataSource:
    return DataSource(
        id=row["id"],
        name=row["name"],
        source_type=row["source_type"],
        credentials=creds,
        filters=row["filters"],
        profile=bool(row["profile"]),
        created_at=datetime.fromtimestamp(row["created_at"], timezone.utc),
        updated_at=datetime.fromtimestamp(row["updated_at"], timezone.utc),
    )
