"""Typed credentials for every source, one pydantic model per `type`.

Secrets are `SecretStr`, so a password never shows in a repr, a log line, an error or a `model_dump()` (it dumps as
'**********'); a connector reads it with `.get_secret_value()` at the moment it opens the connection and nowhere else.
The server sources share `host, port, database, username, password` so a platform form can be generic.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from connectors.errors import ConnectorError
from pydantic import BaseModel, ConfigDict, Field, SecretStr, TypeAdapter, ValidationError, field_validator, model_validator


_FUNCTION_NAME = re.compile(r"^[^\s;()'\\]{1,256}$")


class _Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, hide_input_in_errors=True)

    #: the source's own read-only functions (UDFs) the SQL guard may let queries call, by (qualified) name as written
    #: in SQL: `"my_udf"`, `"analytics.my_udf"`, `"ML.PREDICT"`; every other function not on the guard's built-in list
    #: is refused
    allowed_functions: tuple[str, ...] = Field(default=(), max_length=500)

    @field_validator("allowed_functions")
    @classmethod
    def _function_names(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        for name in names:
            if not _FUNCTION_NAME.match(name):
                raise ValueError(
                    "each entry must be a function name (optionally qualified), without spaces, quotes ', semicolons "
                    "or parentheses"
                )
        return names

    def safe_dict(self) -> dict[str, Any]:
        """The credentials as stored in snapshots and logs: every secret masked."""
        return self.model_dump(mode="json", by_alias=True)

    def secret_values(self) -> list[str]:
        """The plain values of every secret field that is set, in field order: what a connector scrubs from any
        driver message before it becomes an error or a log line."""
        values = (getattr(self, name) for name in type(self).model_fields)
        return [value.get_secret_value() for value in values if isinstance(value, SecretStr)]


class PostgresCredentials(_Credentials):
    type: Literal["postgres"] = "postgres"
    host: str
    port: int = Field(5432, ge=1, le=65535)
    database: str
    username: str
    password: SecretStr | None = None
    ssl_mode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] = "prefer"
    connect_timeout: int = Field(10, ge=1, le=300)


class RedshiftCredentials(_Credentials):
    type: Literal["redshift"] = "redshift"
    host: str
    port: int = Field(5439, ge=1, le=65535)
    database: str
    username: str
    password: SecretStr | None = None
    ssl_mode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] = "require"
    connect_timeout: int = Field(10, ge=1, le=300)


class MySQLCredentials(_Credentials):
    type: Literal["mysql"] = "mysql"
    host: str
    port: int = Field(3306, ge=1, le=65535)
    database: str | None = None
    username: str
    password: SecretStr | None = None
    ssl_mode: Literal["disabled", "preferred", "required", "verify_ca", "verify_identity"] = "preferred"
    connect_timeout: int = Field(10, ge=1, le=300)


class SnowflakeCredentials(_Credentials):
    type: Literal["snowflake"] = "snowflake"
    account: str
    username: str
    password: SecretStr | None = None
    private_key: SecretStr | None = Field(None, description="PEM-encoded private key for key-pair authentication")
    private_key_passphrase: SecretStr | None = None
    oauth_token: SecretStr | None = None
    warehouse: str | None = None
    role: str | None = None
    database: str | None = None
    schema_: str | None = Field(None, alias="schema")
    host: str | None = None
    port: int | None = Field(None, ge=1, le=65535)
    protocol: Literal["https", "http"] = "https"

    @model_validator(mode="after")
    def _one_auth_method(self) -> "SnowflakeCredentials":
        given = [n for n in ("password", "private_key", "oauth_token") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(
                "snowflake credentials need exactly one of password, private_key, oauth_token"
                + (f" (got {', '.join(given)})" if given else "")
            )
        if self.private_key_passphrase is not None and self.private_key is None:
            raise ValueError("private_key_passphrase is only valid with private_key")
        return self


class BigQueryCredentials(_Credentials):
    type: Literal["bigquery"] = "bigquery"
    project_id: str
    service_account_key: SecretStr | None = Field(
        None, description="service-account JSON as an object, a JSON string or a file path; none = application default credentials"
    )
    location: str | None = None
    default_dataset: str | None = None
    maximum_bytes_billed: int | None = Field(None, ge=1)
    api_endpoint: str | None = Field(None, description="override of the BigQuery REST endpoint (emulators)")

    @field_validator("service_account_key", mode="before")
    @classmethod
    def _key_as_secret(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return json.dumps(value)
        if isinstance(value, Path):
            return str(value)
        return value

    def service_account_info(self) -> dict[str, Any] | None:
        """The key as a dict, whichever form it was given in; None for application default credentials."""
        if self.service_account_key is None:
            return None
        raw = self.service_account_key.get_secret_value().strip()
        if not raw.startswith("{"):
            path = Path(raw).expanduser()
            if not path.is_file():
                raise ValueError("service_account_key is neither a JSON object nor a readable file path")
            raw = path.read_text()
        try:
            info = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(f"service_account_key is not valid JSON (line {exc.lineno})") from None
        if not isinstance(info, dict):
            raise ValueError("service_account_key must be a JSON object")
        return info


class SQLServerCredentials(_Credentials):
    type: Literal["sqlserver"] = "sqlserver"
    host: str
    port: int | None = Field(1433, ge=1, le=65535)
    database: str
    username: str
    password: SecretStr | None = None
    instance: str | None = None
    encrypt: bool = True
    trust_server_certificate: bool = False
    driver: str | None = Field(None, description="ODBC driver name; default: the best one pyodbc.drivers() lists")
    connect_timeout: int = Field(10, ge=1, le=300)


class DatabricksCredentials(_Credentials):
    type: Literal["databricks"] = "databricks"
    server_hostname: str
    http_path: str
    access_token: SecretStr | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    catalog: str | None = None
    schema_: str | None = Field(None, alias="schema")

    @model_validator(mode="after")
    def _one_auth_method(self) -> "DatabricksCredentials":
        m2m = self.client_id is not None or self.client_secret is not None
        if self.access_token is not None and m2m:
            raise ValueError("databricks credentials take access_token or client_id + client_secret, not both")
        if self.access_token is None and not (self.client_id and self.client_secret):
            raise ValueError("databricks credentials need access_token, or client_id and client_secret together")
        return self


#: how a file's name ends -> the DuckDB table function that reads it (see `DuckDBCredentials.files`)
DUCKDB_FILE_READERS: dict[str, str] = {
    ".parquet": "read_parquet",
    ".pq": "read_parquet",
    ".csv": "read_csv",
    ".tsv": "read_csv",
    ".csv.gz": "read_csv",
    ".tsv.gz": "read_csv",
    ".json": "read_json",
    ".jsonl": "read_json",
    ".ndjson": "read_json",
}
_VIEW_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def duckdb_file_reader(path: str) -> str | None:
    """The table function for a file by its suffix (case-insensitive), None when DuckDB reads no such file for us."""
    name = path.lower()
    return next((reader for suffix, reader in DUCKDB_FILE_READERS.items() if name.endswith(suffix)), None)


class DuckDBCredentials(_Credentials):
    """A local DuckDB database file, opened read-only, and/or Parquet/CSV/JSON files exposed as views.

    No secrets: a path on the worker's machine is all there is. `files` maps a view name to a file path; the
    connector creates one temporary view per file before it cuts off every other file access (see
    `connectors.duckdb.connection`), so those files, and only those, can be read through SQL.
    """

    type: Literal["duckdb"] = "duckdb"
    path: str | None = Field(None, description="the DuckDB database file; none = only the `files` views")
    files: dict[str, str] = Field(default_factory=dict, description="view name -> Parquet/CSV/JSON file path")

    @field_validator("path")
    @classmethod
    def _a_file_path(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or value.strip() == ":memory:"):
            raise ValueError("path must name a DuckDB database file")
        return value

    @field_validator("files")
    @classmethod
    def _views_over_known_files(cls, value: dict[str, str]) -> dict[str, str]:
        for view, path in value.items():
            if not _VIEW_NAME.match(view):
                raise ValueError(f"view name {view!r} must be letters, digits and underscores, not starting with a digit")
            if duckdb_file_reader(path) is None:
                known = ", ".join(sorted(DUCKDB_FILE_READERS))
                raise ValueError(f"file for view {view!r} must end in one of {known}")
        lowered = [view.lower() for view in value]
        duplicates = sorted({view for view in lowered if lowered.count(view) > 1})
        if duplicates:  # DuckDB names are case-insensitive: "Orders" and "orders" would be one view
            raise ValueError(f"view names differ only in case: {', '.join(duplicates)}")
        return value

    @model_validator(mode="after")
    def _something_to_read(self) -> "DuckDBCredentials":
        if self.path is None and not self.files:
            raise ValueError("duckdb credentials need a path, files, or both")
        return self


_TYPES = {"postgres", "redshift", "mysql", "snowflake", "bigquery", "sqlserver", "databricks", "duckdb"}

Credentials = Annotated[
    Union[
        PostgresCredentials,
        RedshiftCredentials,
        MySQLCredentials,
        SnowflakeCredentials,
        BigQueryCredentials,
        SQLServerCredentials,
        DatabricksCredentials,
        DuckDBCredentials,
    ],
    Field(discriminator="type"),
]

_ADAPTER: TypeAdapter[Credentials] = TypeAdapter(Credentials, config=ConfigDict(hide_input_in_errors=True))


class CredentialsError(ConnectorError, ValueError):
    """The credentials dict is malformed; `details["errors"]` lists each bad field, never its value."""

    code = "invalid_credentials"
    retryable = False


def _field_path(loc: tuple[Any, ...]) -> str:
    # Drop the union tag pydantic puts first ("postgres.database" -> "database").
    parts = [str(p) for p in loc]
    if parts and parts[0] in _TYPES:
        parts = parts[1:]
    return ".".join(parts) or "credentials"


def parse_credentials(data: dict[str, Any] | _Credentials) -> _Credentials:
    """Validate a plain dict (from the platform's API or a secret store) into the right credentials model.

    Raises `CredentialsError`, whose message names each bad field (`host`, `password`, ...) but never echoes the
    submitted values, so a mistyped password does not leak through the error.
    """
    if isinstance(data, _Credentials):
        return data
    if not isinstance(data, dict):
        raise CredentialsError(f"credentials must be an object, got {type(data).__name__}")
    source = data.get("type")
    if source not in _TYPES:
        raise CredentialsError(
            f"unknown credentials type {source!r}; expected one of {', '.join(sorted(_TYPES))}",
            details={"errors": [{"field": "type", "message": "unknown source type"}]},
        )
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        errors = [{"field": _field_path(e["loc"]), "message": e["msg"]} for e in exc.errors(include_input=False, include_url=False)]
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        raise CredentialsError(f"invalid {source} credentials: {summary}", details={"errors": errors}) from None


__all__ = [
    "BigQueryCredentials",
    "Credentials",
    "CredentialsError",
    "DatabricksCredentials",
    "DuckDBCredentials",
    "MySQLCredentials",
    "PostgresCredentials",
    "RedshiftCredentials",
    "SQLServerCredentials",
    "SnowflakeCredentials",
    "parse_credentials",
]
