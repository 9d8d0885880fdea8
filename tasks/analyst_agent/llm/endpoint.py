"""Which OpenAI-compatible endpoint the agent talks to.

One code path for every model: an account's endpoint when `OPENAI_BASE_URL` or `OPENAI_API_KEY` is set, otherwise
the offline model served by a llama-cpp-python server this process starts (`local_server.py`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal, Mapping
from urllib.parse import urlsplit

from pydantic import SecretStr

from tasks.analyst_agent.llm.errors import ModelConfigError

ENV_API_KEY = "OPENAI_API_KEY"
ENV_BASE_URL = "OPENAI_BASE_URL"
ENV_MODEL = "TASKPACK_MODEL"
#: the model used on OpenAI's own endpoint when TASKPACK_MODEL is not set
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
#: how an endpoint takes a JSON schema for structured output: OpenAI's `{"type": "json_schema", "json_schema": {...}}`,
#: or llama-cpp-python's `{"type": "json_object", "schema": {...}}` (its server rejects the former with HTTP 500)
StructuredOutputDialect = Literal["json_schema", "json_object_schema"]
#: an endpoint that needs no key (a local server) still gets one: the openai client refuses to start without
PLACEHOLDER_API_KEY = "no-key-needed"


@dataclass(frozen=True)
class Endpoint:
    base_url: str | None  # None: OpenAI's own endpoint
    api_key: SecretStr
    model: str
    local: bool = False
    structured_output: StructuredOutputDialect = "json_schema"

    @property
    def host(self) -> str:
        """Where the endpoint is, for messages and metadata (never the URL's user or password part)."""
        if self.base_url is None:
            return "api.openai.com"
        parts = urlsplit(self.base_url)
        return parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else "?"


def check_base_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ModelConfigError(
            f"{ENV_BASE_URL} must be an http(s) URL such as http://127.0.0.1:8000/v1",
            details={"scheme": parts.scheme or None},
        )
    return url


def remote_endpoint(env: Mapping[str, str]) -> Endpoint:
    """The endpoint the OPENAI_* variables describe (OpenAI itself when only the key is set)."""
    base_url = env.get(ENV_BASE_URL) or None
    if base_url is not None:
        check_base_url(base_url)
    model = env.get(ENV_MODEL) or None
    if model is None:
        if base_url is not None:
            raise ModelConfigError(
                f"{ENV_BASE_URL} is set but {ENV_MODEL} is not: set it to the name of a model the endpoint serves"
            )
        model = DEFAULT_OPENAI_MODEL
    key = env.get(ENV_API_KEY) or PLACEHOLDER_API_KEY
    return Endpoint(base_url=base_url, api_key=SecretStr(key), model=model)


def uses_remote_endpoint(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return bool(env.get(ENV_BASE_URL) or env.get(ENV_API_KEY))


def resolve_endpoint(env: Mapping[str, str] | None = None) -> Endpoint:
    """OPENAI_BASE_URL / OPENAI_API_KEY set: that endpoint. Otherwise the offline model, its server started on demand
    (once per process, stopped when the process exits)."""
    env = os.environ if env is None else env
    if uses_remote_endpoint(env):
        return remote_endpoint(env)
    from tasks.analyst_agent.llm.local_server import LOCAL_MODEL_NAME, shared_server

    server = shared_server()
    return Endpoint(
        base_url=server.base_url,
        api_key=SecretStr(PLACEHOLDER_API_KEY),
        model=env.get(ENV_MODEL) or LOCAL_MODEL_NAME,
        local=True,
        structured_output="json_object_schema",
    )
