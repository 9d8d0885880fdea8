"""The runtime's own tables, beside DBOS's in the same database.

DBOS keeps what makes runs durable (status, inputs, outputs, steps, queues). These tables keep what a Trigger.dev
user expects on top of that and DBOS has no place for: run metadata and logs, idempotency keys with a TTL,
schedules, task definitions (so any process can trigger by id) and worker heartbeats (so a dead worker's runs are
recovered by the living). Rows are written only when a feature is used: a plain run adds no write here.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import event

PREFIX = "taskpack_"
metadata_obj = sa.MetaData()

task_definitions = sa.Table(
    f"{PREFIX}tasks",
    metadata_obj,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("definition", sa.JSON, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

idempotency_keys = sa.Table(
    f"{PREFIX}idempotency_keys",
    metadata_obj,
    sa.Column("scope_key", sa.String(600), primary_key=True),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("expires_at", sa.Float, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
)

run_metadata = sa.Table(
    f"{PREFIX}run_metadata",
    metadata_obj,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("version", sa.Integer, nullable=False, server_default="0"),
    sa.Column("updated_at", sa.Float, nullable=False),
)

run_logs = sa.Table(
    f"{PREFIX}run_logs",
    metadata_obj,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64), nullable=False, index=True),
    sa.Column("attempt", sa.Integer, nullable=True),
    sa.Column("level", sa.String(10), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("fields", sa.JSON, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
)

schedules_table = sa.Table(
    f"{PREFIX}schedules",
    metadata_obj,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("task_id", sa.String(200), nullable=False),
    sa.Column("cron", sa.String(200), nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("external_id", sa.String(300), nullable=True),
    sa.Column("deduplication_key", sa.String(300), nullable=True, unique=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("next_run_at", sa.Float, nullable=False),
    sa.Column("last_run_at", sa.Float, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
)

workers_table = sa.Table(
    f"{PREFIX}workers",
    metadata_obj,
    sa.Column("executor_id", sa.String(200), primary_key=True),
    sa.Column("hostname", sa.String(200), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("concurrency", sa.Integer, nullable=False),
    sa.Column("tasks", sa.JSON, nullable=True),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("last_seen_at", sa.Float, nullable=False),
    # last heartbeat + that worker's dead_worker_after: what any reader (CLI, API) takes for "its executor is alive"
    sa.Column("alive_until", sa.Float, nullable=True),
    # the code version the worker runs: a run is handed back only towards a living worker of its own version
    sa.Column("version", sa.String(200), nullable=True),
)

# Code versions workers run, and when a worker of each last heartbeated (runtime.versions): a version is live until
# its last heartbeat is older than that worker's dead-worker limit; a started run whose version has been gone for the
# grace period ends CRASHED.
code_versions = sa.Table(
    f"{PREFIX}versions",
    metadata_obj,
    sa.Column("version", sa.String(200), primary_key=True),
    sa.Column("first_seen_at", sa.Float, nullable=False),
    sa.Column("last_seen_at", sa.Float, nullable=False),
    sa.Column("alive_until", sa.Float, nullable=False),  # last heartbeat + that worker's dead_worker_after
)

# The tasks each code version's workers define, and when a living worker last defined each (runtime.versions): a
# started run whose task no worker of its version has defined for the grace period ends CRASHED (TaskNotRegistered).
version_tasks = sa.Table(
    f"{PREFIX}version_tasks",
    metadata_obj,
    sa.Column("version", sa.String(200), primary_key=True),
    sa.Column("task_id", sa.String(200), primary_key=True),
    sa.Column("last_seen_at", sa.Float, nullable=False),
)


def sqlalchemy_url(url: str) -> str:
    """DBOS takes `postgresql://`; SQLAlchemy needs the psycopg 3 driver named."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def create_store_engine(url: str) -> sa.Engine:
    sa_url = sqlalchemy_url(url)
    if sa_url.startswith("sqlite"):
        engine = sa.create_engine(sa_url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        with engine.connect() as conn:
            # WAL is a property of the file: DBOS's own connections get it too, so readers never block the writer.
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        return engine
    return sa.create_engine(sa_url, pool_size=10, max_overflow=20, pool_pre_ping=True)


def create_tables(engine: sa.Engine) -> None:
    metadata_obj.create_all(engine, checkfirst=True)
    add_missing_columns(engine, metadata_obj)


def add_missing_columns(engine: sa.Engine, metadata: sa.MetaData) -> None:
    """Add the nullable columns a newer release defines to tables an older one created (`alive_until` on workers,
    `warnings` on the store's snapshots): create_all never alters an existing table. Another process adding the same
    column at the same moment is fine. Public: the store package keeps its tables in step the same way."""
    inspector = sa.inspect(engine)
    for table in metadata.tables.values():
        present = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present or not column.nullable:
                continue
            ddl = sa.schema.CreateColumn(column).compile(dialect=engine.dialect)
            name = engine.dialect.identifier_preparer.quote(table.name)
            try:
                with engine.begin() as conn:
                    conn.execute(sa.text(f"ALTER TABLE {name} ADD COLUMN {ddl}"))
            except sa.exc.DBAPIError:
                if column.name not in {c["name"] for c in sa.inspect(engine).get_columns(table.name)}:
                    raise
