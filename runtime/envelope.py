"""The stored form of an encrypted value: `{"$encrypted": "<Fernet token>"}` (written by runtime.sealing and
runtime.serializer, shown as `[REDACTED]` by runtime.redaction). Its own module so both sides share one definition."""

from __future__ import annotations

from typing import Any

ENVELOPE_KEY = "$encrypted"


def is_envelope(value: Any) -> bool:
    return type(value) is dict and len(value) == 1 and isinstance(value.get(ENVELOPE_KEY), str)


def envelope(token: str) -> dict[str, str]:
    return {ENVELOPE_KEY: token}
