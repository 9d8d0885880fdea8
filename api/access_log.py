"""Keep credentials out of the server's access log.

uvicorn logs every request line, query string included; realtime streams take a public access token as `?token=`
(a browser's EventSource cannot send headers), so the log would hold live tokens. This filter rewrites the logged
path with the token's value replaced by `[REDACTED]` (and any `key=`/`api_key=` a client may have sent by mistake).
"""

from __future__ import annotations

import logging
import re

_SECRET_PARAMS = re.compile(r"(?i)([?&](?:token|access_token|api_key|key)=)[^&#\s]*")


def redact_query(path: str) -> str:
    return _SECRET_PARAMS.sub(r"\1[REDACTED]", path)


class RedactCredentialsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) >= 3 and isinstance(record.args[2], str):
            args = list(record.args)
            args[2] = redact_query(args[2])
            record.args = tuple(args)
        return True


def install() -> None:
    """Idempotent: one filter on uvicorn's access logger, whoever configures its handlers later."""
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactCredentialsFilter) for f in logger.filters):
        logger.addFilter(RedactCredentialsFilter())
