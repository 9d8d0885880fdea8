"""Snowflake credentials: validation errors, the driver login arguments for each auth method, the pool key.

No Snowflake is needed: these test our own code (pydantic models, key loading with `cryptography`) directly.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

pytest.importorskip("snowflake.connector")

from connectors import AuthError, CredentialsError, SnowflakeCredentials, parse_credentials  # noqa: E402
from connectors.snowflake.auth import connect_kwargs, load_private_key, pool_key  # noqa: E402

PASSWORD = "pw-Sn0w-secret-93841"
PASSPHRASE = "passphrase-77123"


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key: rsa.RSAPrivateKey, passphrase: str | None = None) -> str:
    encryption = (
        serialization.BestAvailableEncryption(passphrase.encode()) if passphrase else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption).decode()


def _creds(**fields: object) -> SnowflakeCredentials:
    base: dict[str, object] = {"type": "snowflake", "account": "xy12345.eu-west-1", "username": "ANALYST"}
    base.update(fields)
    return parse_credentials(base)  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("fields", "bad_field", "fragment"),
    [
        ({}, "credentials", "exactly one of password, private_key, oauth_token"),
        ({"password": PASSWORD, "oauth_token": "tok-1"}, "credentials", "got password, oauth_token"),
        ({"oauth_token": "tok-1", "private_key_passphrase": PASSPHRASE}, "credentials", "only valid with private_key"),
        ({"password": PASSWORD, "port": 70000}, "port", "less than or equal to 65535"),
        ({"password": PASSWORD, "protocol": "ftp"}, "protocol", "'https' or 'http'"),
        ({"password": PASSWORD, "account": None}, "account", "valid string"),
        ({"password": PASSWORD, "warehouse_size": "XL"}, "warehouse_size", "Extra inputs"),
    ],
)
def test_invalid_credentials_name_the_field_and_never_echo_secrets(fields: dict, bad_field: str, fragment: str) -> None:
    with pytest.raises(CredentialsError) as info:
        _creds(**fields)
    err = info.value
    assert bad_field in [e["field"] for e in err.details["errors"]]
    assert fragment in err.message
    for secret in (PASSWORD, PASSPHRASE, "tok-1"):
        assert secret not in err.message and secret not in repr(err.details)


def test_password_login_arguments_carry_every_connection_setting() -> None:
    creds = _creds(password=PASSWORD, warehouse="WH", role="ANALYST_RO", database="DB", schema="PUBLIC",
                   host="127.0.0.1", port=8080, protocol="http")
    kwargs = connect_kwargs(creds)
    assert kwargs["account"] == "xy12345.eu-west-1" and kwargs["user"] == "ANALYST"
    assert kwargs["password"] == PASSWORD and "authenticator" not in kwargs
    assert (kwargs["warehouse"], kwargs["role"], kwargs["database"], kwargs["schema"]) == ("WH", "ANALYST_RO", "DB", "PUBLIC")
    assert (kwargs["host"], kwargs["port"], kwargs["protocol"]) == ("127.0.0.1", 8080, "http")
    assert PASSWORD not in repr(creds) and PASSWORD not in str(creds.safe_dict())


def test_default_endpoint_leaves_host_and_protocol_to_the_driver() -> None:
    kwargs = connect_kwargs(_creds(password=PASSWORD))
    assert "host" not in kwargs and "protocol" not in kwargs and "port" not in kwargs


def test_oauth_login_uses_the_oauth_authenticator_and_token() -> None:
    kwargs = connect_kwargs(_creds(oauth_token="oauth-token-5521"))
    assert kwargs["authenticator"] == "oauth" and kwargs["token"] == "oauth-token-5521"
    assert "password" not in kwargs


@pytest.mark.parametrize("passphrase", [None, PASSPHRASE])
def test_key_pair_login_hands_the_driver_unencrypted_der(rsa_key: rsa.RSAPrivateKey, passphrase: str | None) -> None:
    creds = _creds(private_key=_pem(rsa_key, passphrase), private_key_passphrase=passphrase)
    kwargs = connect_kwargs(creds)
    assert kwargs["authenticator"] == "SNOWFLAKE_JWT"
    loaded = serialization.load_der_private_key(kwargs["private_key"], password=None)
    assert loaded.private_numbers() == rsa_key.private_numbers()
    assert "BEGIN" not in repr(creds)


def test_encrypted_key_without_passphrase_is_an_auth_error_naming_the_fix(rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(AuthError, match="encrypted and needs private_key_passphrase"):
        load_private_key(_pem(rsa_key, PASSPHRASE), None)


def test_wrong_passphrase_is_an_auth_error_without_the_passphrase(rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(AuthError) as info:
        load_private_key(_pem(rsa_key, PASSPHRASE), "wrong-" + PASSPHRASE)
    assert PASSPHRASE not in info.value.message and "could not be loaded" in info.value.message


def test_passphrase_for_a_plain_key_is_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(AuthError, match="not encrypted"):
        load_private_key(_pem(rsa_key), PASSPHRASE)


def test_text_that_is_not_pem_is_refused_without_echoing_it() -> None:
    with pytest.raises(AuthError) as info:
        load_private_key("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC-not-a-key", None)
    assert "MIIEvQ" not in info.value.message and "PEM" in info.value.message


def test_pool_key_separates_logins_and_holds_no_secret() -> None:
    a = pool_key(_creds(password=PASSWORD, warehouse="WH"))
    assert a == pool_key(_creds(password=PASSWORD, warehouse="wh"))  # unquoted names are case-insensitive
    assert a != pool_key(_creds(password=PASSWORD + "x", warehouse="WH"))  # another secret never shares a session
    assert a != pool_key(_creds(password=PASSWORD, warehouse="OTHER"))
    assert a != pool_key(_creds(password=PASSWORD, warehouse="WH", role="R"))
    assert PASSWORD not in repr(a)
