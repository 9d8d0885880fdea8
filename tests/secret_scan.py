"""Scanning a whole runtime database for a secret: the SQLite file's bytes, or every row of every PostgreSQL table.

DBOS keeps workflow inputs, outputs and errors as base64 pickles, so a secret can hide in base64: the scan looks for
the plain value and for its base64 forms at each of the three byte alignments.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url


def needles(secret: str) -> list[bytes]:
    """The secret, and the part of its base64 encoding that does not depend on neighbouring bytes, per alignment."""
    raw = secret.encode()
    found = [raw]
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw)
        inner = encoded[4 if offset else 0 : -4]
        if len(inner) >= 8:
            found.append(inner)
    return found


def database_bytes(url: str) -> bytes:
    """Everything the runtime database holds: the SQLite file with its WAL, or every row of every PostgreSQL table
    (DBOS's schema included) as text."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists())
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            tables = conn.execute(
                sa.text(
                    "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM information_schema.tables"
                    " WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')"
                )
            ).scalars().all()
            rows = {t: [r[0] for r in conn.execute(sa.text(f"SELECT t::text FROM {t} t"))] for t in tables}
    finally:
        engine.dispose()
    assert any(t.startswith("dbos.") for t in rows), "the scan must cover DBOS's own tables"
    return json.dumps(rows).encode()


def hits(haystack: bytes, secret: str) -> list[bytes]:
    return [n for n in needles(secret) if n in haystack]
