"""Standard Webhooks 1.0 signatures (standard-webhooks/standard-webhooks, spec/standard-webhooks.md).

`webhook-signature: v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">`, keyed with the base64
part of the endpoint's `whsec_` secret. The timestamp is signed with the body, so a receiver that allows a few
minutes of clock skew and drops ids it has seen cannot be replayed against (Trigger.dev's alert webhooks sign the
body alone). Receivers verify with any Standard Webhooks library; the tests use the `standardwebhooks` package.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

SECRET_PREFIX = "whsec_"


class WebhookSecretError(ValueError):
    """A secret that is not `whsec_` + base64."""


def secret_key(secret: str) -> bytes:
    """The HMAC key: the base64-decoded part after `whsec_`."""
    if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX):
        raise WebhookSecretError("a webhook secret starts with 'whsec_'")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except ValueError:
        raise WebhookSecretError("a webhook secret is 'whsec_' followed by base64") from None
    if len(key) < 24:  # Standard Webhooks: 24 to 64 random bytes; an empty key would sign nothing
        raise WebhookSecretError("a webhook secret holds at least 24 bytes")
    return key


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for one attempt."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers, plus the content type."""
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, body),
    }
