"""BigQuery credentials -> a `google.cloud.bigquery.Client`.

- a service-account key (an object, a JSON string or a file path: `BigQueryCredentials.service_account_info()`)
  -> `google.oauth2.service_account.Credentials` with the BigQuery scope; a malformed key is an AuthError naming what
  is wrong, never echoing the key;
- no key -> application default credentials (`google.auth.default()`: GOOGLE_APPLICATION_CREDENTIALS, gcloud, or the
  metadata server); none found is an AuthError;
- no key and an `api_endpoint` (a local emulator) -> `AnonymousCredentials`, since emulators take no tokens.
The project, location and endpoint go to the client; retries of API calls are short (see `API_RETRY`).
"""

from __future__ import annotations

from typing import Any

import google.auth
from google.api_core.client_options import ClientOptions
from google.auth import exceptions as auth_exc
from google.auth.credentials import AnonymousCredentials, Credentials
from google.cloud import bigquery
from google.oauth2 import service_account

from connectors.credentials import BigQueryCredentials
from connectors.errors import AuthError

SCOPES = ("https://www.googleapis.com/auth/bigquery", "https://www.googleapis.com/auth/cloud-platform")
#: API calls (listing, get_table, job insert) retry transient errors for at most this long, not the library's 600 s
API_RETRY = bigquery.DEFAULT_RETRY.with_deadline(5.0)
_REQUIRED_KEY_FIELDS = ("client_email", "private_key", "token_uri")


def secrets_of(creds: BigQueryCredentials) -> list[str]:
    """Secret strings that must never appear in messages: the key text and the private key inside it."""
    if creds.service_account_key is None:
        return []
    raw = creds.service_account_key.get_secret_value()
    values = [raw]
    try:
        info = creds.service_account_info() or {}
    except ValueError:
        return values
    for field in ("private_key", "private_key_id"):
        if info.get(field):
            values.append(str(info[field]))
    return values


def google_credentials(creds: BigQueryCredentials) -> Credentials:
    try:
        info = creds.service_account_info()
    except ValueError as exc:  # the message names the problem (not JSON, not a file) without the value
        raise AuthError(f"bigquery service_account_key: {exc}", details={"field": "service_account_key"}) from None
    if info is not None:
        if info.get("type") not in (None, "service_account"):
            raise AuthError(
                f"bigquery service_account_key is a {info.get('type')!r} key, expected a 'service_account' key",
                details={"field": "service_account_key"},
            )
        missing = [f for f in _REQUIRED_KEY_FIELDS if not info.get(f)]
        if missing:
            raise AuthError(
                f"bigquery service_account_key lacks {', '.join(missing)}", details={"field": "service_account_key"}
            )
        try:
            return service_account.Credentials.from_service_account_info(info, scopes=list(SCOPES))
        except (ValueError, TypeError):
            raise AuthError(
                "bigquery service_account_key has an unreadable private_key", details={"field": "service_account_key"}
            ) from None
    if creds.api_endpoint:
        return AnonymousCredentials()  # type: ignore[no-untyped-call]
    try:
        found, _ = google.auth.default(scopes=list(SCOPES))
    except auth_exc.DefaultCredentialsError as exc:
        raise AuthError(
            "no BigQuery service_account_key given and no application default credentials found "
            f"(set GOOGLE_APPLICATION_CREDENTIALS or run `gcloud auth application-default login`): {exc}",
            details={"field": "service_account_key"},
        ) from None
    return found


def build_client(creds: BigQueryCredentials) -> bigquery.Client:
    options: dict[str, Any] = {}
    if creds.api_endpoint:
        options["client_options"] = ClientOptions(api_endpoint=creds.api_endpoint)
    return bigquery.Client(
        project=creds.project_id,
        credentials=google_credentials(creds),
        location=creds.location,
        **options,
    )
