"""The offline model server: its start-up errors, its lifecycle, and the real model answering (the `local` extra).

The tests marked `local_model` start the real llama-cpp-python server on the real Qwen2.5-Coder GGUF. CI installs the
`local` extra, so under CI=true they fail when it is missing; locally they skip without it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import openai
import pytest
from pydantic import BaseModel, Field

from tasks.analyst_agent.llm import (
    Endpoint,
    LocalExtraMissingError,
    LocalServerError,
    ModelClient,
    ModelConfigError,
    resolve_endpoint,
)
from tasks.analyst_agent.llm import local_server
from tasks.analyst_agent.llm.endpoint import DEFAULT_OPENAI_MODEL, remote_endpoint
from tasks.analyst_agent.llm.local_server import LOCAL_MODEL_NAME, LocalModelServer, missing_modules

IN_CI = os.environ.get("CI", "").lower() == "true"


def require_local_extra() -> None:
    missing = missing_modules()
    if not missing:
        return
    message = f"the `local` extra is not installed (missing {', '.join(missing)})"
    if IN_CI:
        pytest.fail(f"{message}; CI installs it, so this must not happen under CI=true")
    pytest.skip(message)


# -- choosing the endpoint -----------------------------------------------------------------------------------------------
def test_openai_variables_select_the_remote_endpoint() -> None:
    endpoint = resolve_endpoint({"OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "TASKPACK_MODEL": "m1"})
    assert (endpoint.base_url, endpoint.model, endpoint.local) == ("http://127.0.0.1:9/v1", "m1", False)
    assert endpoint.api_key.get_secret_value() == "no-key-needed"  # a local Ollama needs none
    keyed = resolve_endpoint({"OPENAI_API_KEY": "sk-abcdefgh12345678"})
    assert keyed.base_url is None and keyed.model == DEFAULT_OPENAI_MODEL and keyed.host == "api.openai.com"
    assert "sk-abcdefgh12345678" not in repr(keyed)


def test_custom_endpoint_without_a_model_name_is_a_config_error() -> None:
    with pytest.raises(ModelConfigError) as caught:
        remote_endpoint({"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    assert "TASKPACK_MODEL" in caught.value.message


@pytest.mark.parametrize("url", ["ftp://x/v1", "127.0.0.1:8000", "not a url"])
def test_malformed_base_url_is_a_config_error(url: str) -> None:
    with pytest.raises(ModelConfigError):
        remote_endpoint({"OPENAI_BASE_URL": url, "TASKPACK_MODEL": "m"})


def test_endpoint_host_never_shows_url_credentials() -> None:
    endpoint = Endpoint(base_url="https://user:hunter22@proxy.example:8443/v1", api_key=openai_key(), model="m")
    assert endpoint.host == "proxy.example:8443"


def openai_key():
    from pydantic import SecretStr

    return SecretStr("sk-x")


# -- start-up errors -----------------------------------------------------------------------------------------------------
def test_missing_extra_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_server, "REQUIRED_MODULES", ("llama_cpp", "no_such_module_for_the_test"))
    with pytest.raises(LocalExtraMissingError) as caught:
        LocalModelServer(model_path=Path("/nonexistent.gguf")).start()
    error = caught.value
    assert "no_such_module_for_the_test" in error.message and 'pip install -e ".[local]"' in error.message
    assert "OPENAI_BASE_URL" in error.message and error.retryable is False


def test_a_file_that_is_no_model_fails_with_the_server_log(tmp_path: Path) -> None:
    require_local_extra()
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"this is not a gguf file" * 100)
    server = LocalModelServer(model_path=bogus, log_path=tmp_path / "server.log", startup_timeout=120)
    started = time.monotonic()
    with pytest.raises(LocalServerError) as caught:
        server.start()
    assert time.monotonic() - started < 120
    assert "exited with code" in caught.value.message and str(tmp_path / "server.log") in caught.value.message
    assert caught.value.details["log_path"] == str(tmp_path / "server.log")
    assert (tmp_path / "server.log").stat().st_size > 0
    assert not server.running


# -- the real model ------------------------------------------------------------------------------------------------------
class SqlAnswer(BaseModel):
    """One SQL query answering the question."""

    sql: str = Field(description="a single SELECT statement")
    tables: list[str]


@pytest.fixture(scope="module")
def real_model():
    require_local_extra()
    with LocalModelServer() as server:
        yield server


@pytest.mark.local_model
@pytest.mark.timeout(900)
def test_real_offline_model_gives_a_structured_answer(real_model: LocalModelServer) -> None:
    endpoint = Endpoint(base_url=real_model.base_url, api_key=openai_key(), model=LOCAL_MODEL_NAME, local=True)
    messages = [
        {"role": "system", "content": "You write SQLite queries. Schema: orders(id INTEGER PK, customer TEXT, total REAL)"},
        {"role": "user", "content": "How many orders are there? Answer as JSON with the SQL and the tables it reads."},
    ]
    with ModelClient(endpoint, timeout=300) as client:
        reply = client.chat(messages, response_format=SqlAnswer, temperature=0.0, seed=7, max_tokens=200)
    assert isinstance(reply.parsed, SqlAnswer)
    assert "count" in reply.parsed.sql.lower() and "orders" in reply.parsed.sql.lower()
    assert [t.lower() for t in reply.parsed.tables] == ["orders"]
    assert reply.usage.prompt_tokens > 20 and reply.usage.completion_tokens > 5 and reply.usage.model_calls == 1
    assert real_model.load_seconds is not None and real_model.load_seconds > 0


@pytest.mark.local_model
@pytest.mark.timeout(900)
def test_real_offline_model_calls_a_tool(real_model: LocalModelServer) -> None:
    class ExecuteSql(BaseModel):
        """Run one read-only SQL query on the database and see its rows."""

        sql: str

    endpoint = Endpoint(base_url=real_model.base_url, api_key=openai_key(), model=LOCAL_MODEL_NAME, local=True)
    messages = [
        {"role": "system", "content": "Schema: orders(id INTEGER PK, customer TEXT, total REAL). Use the tools."},
        {"role": "user", "content": "What is the total of all orders? Run a query to find out."},
    ]
    tools = [openai.pydantic_function_tool(ExecuteSql, name="execute_sql")]
    with ModelClient(endpoint, timeout=300) as client:
        reply = client.chat(messages, tools=tools, tool_choice="required", temperature=0.0, seed=7, max_tokens=200)
    assert [call.name for call in reply.tool_calls] == ["execute_sql"]
    assert "sum" in reply.tool_calls[0].parsed.sql.lower()


@pytest.mark.local_model
@pytest.mark.timeout(300)
def test_server_dies_with_a_sigkilled_parent(tmp_path: Path) -> None:
    """A worker killed with SIGKILL runs no atexit hook: the server must notice and end itself."""
    require_local_extra()
    script = textwrap.dedent(
        """
        import sys, time
        from tasks.analyst_agent.llm.local_server import shared_server
        server = shared_server()
        print(server.pid, flush=True)
        time.sleep(600)
        """
    )
    root = Path(__file__).resolve().parents[3]
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=root, stdout=subprocess.PIPE, text=True)
    try:
        line = parent.stdout.readline()
        assert line.strip().isdigit(), f"the helper did not start a server: {line!r}"
        server_pid = int(line)
        assert _alive(server_pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 20
        while _alive(server_pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(server_pid), "the local model server outlived its SIGKILLed parent"
    finally:
        if parent.poll() is None:
            parent.kill()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); it is dead for our purpose
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False
