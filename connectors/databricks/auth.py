"""The keyword arguments `databricks.sql.connect()` needs for each authentication method.

- personal access token: `access_token=...`;
- OAuth machine-to-machine (service principal): `credentials_provider=` a zero-argument callable returning the
  SDK's `oauth_service_principal(Config(host=https://<server_hostname>, client_id, client_secret))`, the pattern the
  connector's documentation gives. The SDK fetches and refreshes the OAuth token itself; it is imported only for M2M,
  so PAT users do not need `databricks-sdk`.

Secrets are read from the credentials' `SecretStr` here, at connect time, and nowhere else.
"""

from __future__ import annotations

from typing import Any, Callable

from connectors.credentials import DatabricksCredentials
from connectors.errors import MissingDriverError

USER_AGENT = "analyst-taskpack"


def workspace_url(server_hostname: str) -> str:
    host = server_hostname.strip().removeprefix("https://").removeprefix("http://").rstrip("/")
    return f"https://{host}"


def server_hostname(credentials: DatabricksCredentials) -> str:
    """The bare host name the connector wants (users often paste the workspace URL)."""
    return workspace_url(credentials.server_hostname).removeprefix("https://")


def m2m_credentials_provider(credentials: DatabricksCredentials) -> Callable[[], Any]:
    """A `credentials_provider` for OAuth M2M with the service principal in the credentials."""
    try:
        from databricks.sdk.core import Config, oauth_service_principal
    except ImportError:
        raise MissingDriverError("databricks", "databricks", "databricks-sdk") from None
    assert credentials.client_id is not None and credentials.client_secret is not None  # checked by the model

    def provider() -> Any:
        config = Config(
            host=workspace_url(credentials.server_hostname),
            client_id=credentials.client_id,
            client_secret=credentials.client_secret.get_secret_value(),  # type: ignore[union-attr]
        )
        return oauth_service_principal(config)

    return provider


def connect_kwargs(credentials: DatabricksCredentials) -> dict[str, Any]:
    """Everything `databricks.sql.connect()` needs except test-only overrides."""
    kwargs: dict[str, Any] = {
        "server_hostname": server_hostname(credentials),
        "http_path": credentials.http_path,
        "user_agent_entry": USER_AGENT,
        "enable_telemetry": False,  # the connector would otherwise report errors (with their text) to the workspace
    }
    if credentials.catalog:
        kwargs["catalog"] = credentials.catalog
    if credentials.schema_:
        kwargs["schema"] = credentials.schema_
    if credentials.access_token is not None:
        kwargs["access_token"] = credentials.access_token.get_secret_value()
    else:
        kwargs["credentials_provider"] = m2m_credentials_provider(credentials)
    return kwargs
