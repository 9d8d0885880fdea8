"""Snowflake credentials -> the keyword arguments of `snowflake.connector.connect()`.

Three ways to log in, exactly one per credentials model (the model enforces it):
- password: `user` + `password`;
- key pair: the PEM private key (optionally encrypted with `private_key_passphrase`) is loaded with `cryptography`
  and handed to the driver as unencrypted PKCS#8 DER bytes in `private_key` (`authenticator='SNOWFLAKE_JWT'`);
  a key that does not load is an AuthError naming the problem, never echoing the key;
- OAuth: `authenticator='oauth'` + `token`.

Also the pool key: which warm connections may be shared. It includes a digest of the secret, so a caller with a
wrong password never gets a session someone else authenticated.
"""

from __future__ import annotations

import hashlib
from typing import Any

from cryptography.hazmat.primitives import serialization

from connectors.credentials import SnowflakeCredentials
from connectors.errors import AuthError

#: sent as the application name so Snowflake's query history shows where a query came from
APPLICATION = "analyst-taskpack"
LOGIN_TIMEOUT_S = 30
NETWORK_TIMEOUT_S = 120


def load_private_key(pem: str, passphrase: str | None) -> bytes:
    """PEM (PKCS#8 or PKCS#1, encrypted or not) -> unencrypted PKCS#8 DER bytes, as the driver's `private_key` takes."""
    data = pem.strip().encode()
    if not data.startswith(b"-----BEGIN"):
        raise AuthError("snowflake private_key is not a PEM key (it must start with '-----BEGIN')", details={"field": "private_key"})
    try:
        key = serialization.load_pem_private_key(data, password=passphrase.encode() if passphrase else None)
    except TypeError:  # cryptography: encrypted key without passphrase, or a passphrase for a plain key
        hint = "is not encrypted: drop private_key_passphrase" if passphrase else "is encrypted and needs private_key_passphrase"
        raise AuthError(f"snowflake private_key {hint}", details={"field": "private_key"}) from None
    except ValueError:
        raise AuthError(
            "snowflake private_key could not be loaded (bad passphrase, or not an RSA private key in PEM form)",
            details={"field": "private_key"},
        ) from None
    return key.private_bytes(
        encoding=serialization.Encoding.DER,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )


def connect_kwargs(creds: SnowflakeCredentials) -> dict[str, Any]:
    """The driver's login arguments for these credentials (contains secrets: never log it)."""
    kwargs: dict[str, Any] = {
        "account": creds.account,
        "user": creds.username,
        "application": APPLICATION,
        "login_timeout": LOGIN_TIMEOUT_S,
        "network_timeout": NETWORK_TIMEOUT_S,
        # no background telemetry or keep-alive heartbeats: the pool health-checks before reuse instead
        "session_parameters": {"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False, "QUERY_TAG": APPLICATION},
        "client_session_keep_alive": False,
        "validate_default_parameters": False,
        # server-side binding: `?` / `:1` placeholders, values never spliced into the SQL text
        "paramstyle": "qmark",
    }
    for name, value in (
        ("warehouse", creds.warehouse),
        ("role", creds.role),
        ("database", creds.database),
        ("schema", creds.schema_),
        ("host", creds.host),
        ("port", creds.port),
    ):
        if value is not None:
            kwargs[name] = value
    if creds.host is not None or creds.port is not None:
        kwargs["protocol"] = creds.protocol
    if creds.password is not None:
        kwargs["password"] = creds.password.get_secret_value()
    elif creds.private_key is not None:
        passphrase = creds.private_key_passphrase.get_secret_value() if creds.private_key_passphrase else None
        kwargs["private_key"] = load_private_key(creds.private_key.get_secret_value(), passphrase)
        kwargs["authenticator"] = "SNOWFLAKE_JWT"
    elif creds.oauth_token is not None:
        kwargs["authenticator"] = "oauth"
        kwargs["token"] = creds.oauth_token.get_secret_value()
    return kwargs


def pool_key(creds: SnowflakeCredentials) -> tuple[Any, ...]:
    """Connections are shared only between identical logins: same account, user, warehouse, role, database, schema,
    endpoint, and the same secret (compared by SHA-256 digest; the digest is all the pool keeps)."""
    digest = hashlib.sha256("\x00".join(creds.secret_values()).encode()).hexdigest()
    return (
        creds.account.lower(),
        creds.username.lower(),
        (creds.warehouse or "").upper(),
        (creds.role or "").upper(),
        creds.database or "",
        creds.schema_ or "",
        creds.host or "",
        creds.port or 0,
        creds.protocol,
        digest,
    )
