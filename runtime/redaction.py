"""Keeping secrets out of run logs, errors and metadata.

Two nets: field names that look secret get their values masked, and secret values that a task registered
(`ctx.redact(value)`, or any pydantic SecretStr it logs) are scrubbed from free text. Connection URLs lose their
password part wherever they appear.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from pydantic import SecretBytes, SecretStr

MASK = "[REDACTED]"
# A key is secret when its last word is one of these: "password", "oauth_token", "client_secret", but not
# "token_count" or "passage".
_SECRET_KEY = re.compile(
    r"(^|[_\-.])(password|passwd|pwd|secret|token|api[_-]?key|apikey|authorization|private[_-]?key|"
    r"passphrase|credential|cookie|session[_-]?key)s?$",
    re.I,
)
# Bounded repetitions: these run over arbitrary user text (a 300 KB string must not backtrack quadratically).
_URL_PASSWORD = re.compile(r"(?P<scheme>\b[a-z][a-z0-9+.\-]{0,30}://)(?P<user>[^:/@\s]{1,256}):(?P<pw>[^@/\s]{1,512})@", re.I)
_KV_PASSWORD = re.compile(r"(?P<key>\b(password|passwd|pwd|secret|token|api_key)\s*[=:]\s*)(?P<val>'[^']{0,512}'|\"[^\"]{0,512}\"|[^\s,;&]{1,512})", re.I)

_known_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str | SecretStr | None) -> None:
    """Remember a secret value so it is scrubbed from any text the runtime stores."""
    if isinstance(value, (SecretStr, SecretBytes)):
        value = str(value.get_secret_value())
    if value and len(value) >= 4:
        with _lock:
            _known_secrets.add(value)


def redact_text(text: str) -> str:
    text = _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    text = _KV_PASSWORD.sub(lambda m: f"{m['key']}{MASK}", text)
    with _lock:
        secrets = sorted(_known_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def redact(value: Any, key: str | None = None) -> Any:
    """A copy of `value` that is safe to store: secret-named fields masked, secret values and URL passwords scrubbed."""
    if key is not None and _SECRET_KEY.search(key) and value is not None and not isinstance(value, (dict, list, bool)):
        return MASK
    if isinstance(value, (SecretStr, SecretBytes)):
        return MASK
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    return value
