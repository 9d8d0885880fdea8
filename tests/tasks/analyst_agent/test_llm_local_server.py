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
from pydantic import BaseModel, Field, SecretStr

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
from tasks.analyst_agent.llm.structured import response_format_for

IN_CI = os.environ.get("CI", "").lower() == "true"


def openai_key() -> SecretStr:
    return SecretStr("sk-x")


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
def local_endpoint():
    """The endpoint `resolve_endpoint()` gives with no OPENAI_* variable: the shared local server, started here.

    Variables named like llama-cpp-python settings are set meanwhile: the server must ignore them (its settings are
    pydantic-settings and would otherwise take PORT, HOST and API_KEY from the environment)."""
    require_local_extra()
    planted = {"PORT": "1", "HOST": "0.0.0.0", "API_KEY": "planted-secret-key", "N_CTX": "64"}
    saved = {k: os.environ.get(k) for k in [*planted, "OPENAI_API_KEY", "OPENAI_BASE_URL"]}
    os.environ.update(planted)
    os.environ.pop("OPENAI_API_KEY", None)
    os.environ.pop("OPENAI_BASE_URL", None)
    try:
        endpoint = resolve_endpoint()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    try:
        yield endpoint
    finally:
        local_server.stop_shared_server()


@pytest.mark.local_model
@pytest.mark.timeout(900)
def test_real_offline_model_gives_a_structured_answer(local_endpoint: Endpoint) -> None:
    assert local_endpoint.local and local_endpoint.model == LOCAL_MODEL_NAME
    assert local_endpoint.structured_output == "json_object_schema"
    assert local_endpoint.base_url.startswith("http://127.0.0.1:") and not local_endpoint.base_url.endswith(":1/v1")
    messages = [
        {"role": "system", "content": "You write SQLite queries. Schema: orders(id INTEGER PK, customer TEXT, total REAL)"},
        {"role": "user", "content": "How many orders are there? Answer as JSON with the SQL and the tables it reads."},
    ]
    with ModelClient(local_endpoint, timeout=600) as client:
        reply = client.chat(messages, response_format=SqlAnswer, temperature=0.0, seed=7, max_tokens=120)
    assert isinstance(reply.parsed, SqlAnswer)
    assert "count" in reply.parsed.sql.lower() and "orders" in reply.parsed.sql.lower()
    assert [t.lower() for t in reply.parsed.tables] == ["orders"]
    assert reply.usage.prompt_tokens > 20 and reply.usage.completion_tokens > 5 and reply.usage.model_calls == 1
    assert reply.reasks == 0  # the schema became a grammar: the first answer parses
    server = local_server.shared_server()
    assert server.load_seconds is not None and server.load_seconds > 0


@pytest.mark.local_model
@pytest.mark.timeout(900)
def test_real_offline_model_calls_a_named_tool(local_endpoint: Endpoint) -> None:
    class ExecuteSql(BaseModel):
        """Run one read-only SQL query on the database and see its rows."""

        sql: str

    messages = [
        {"role": "system", "content": "Schema: orders(id INTEGER PK, customer TEXT, total REAL). Use the tools."},
        {"role": "user", "content": "What is the total of all orders? Run a query to find out."},
    ]
    tools = [openai.pydantic_function_tool(ExecuteSql, name="execute_sql")]
    choice = {"type": "function", "function": {"name": "execute_sql"}}
    with ModelClient(local_endpoint, timeout=600) as client:
        reply = client.chat(messages, tools=tools, tool_choice=choice, temperature=0.0, seed=7, max_tokens=80)
    assert [call.name for call in reply.tool_calls] == ["execute_sql"] and not reply.tool_calls_from_text
    assert "sum" in reply.tool_calls[0].parsed.sql.lower()


@pytest.mark.local_model
@pytest.mark.timeout(300)
def test_llama_cpp_server_still_refuses_openai_json_schema(local_endpoint: Endpoint) -> None:
    """Why the local endpoint speaks `json_object` + schema: if this starts failing, llama-cpp-python accepts
    json_schema and the dialect switch can go."""
    raw = openai.OpenAI(base_url=local_endpoint.base_url, api_key="x", max_retries=0)
    with pytest.raises(openai.InternalServerError) as caught:
        raw.chat.completions.create(
            model=LOCAL_MODEL_NAME,
            messages=[{"role": "user", "content": "hi"}],
            response_format=response_format_for(SqlAnswer, "json_schema"),
            max_tokens=1,
        )
    assert "json_object" in str(caught.value)


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
    server_pid = None
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
        if server_pid is not None and _alive(server_pid):
            os.kill(server_pid, signal.SIGKILL)  # do not leave a model server behind when the test fails


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


def test_server_environment_drops_setting_named_variables_and_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {"PORT": "1", "API_KEY": "k", "OPENAI_API_KEY": "sk-abcdefgh1234", "MODEL": "/x.gguf",
                       "PATH": "/usr/bin", "OMP_NUM_THREADS": "1"}.items():
        monkeypatch.setenv(key, value)
    env = local_server.server_environment()
    assert not {"PORT", "API_KEY", "OPENAI_API_KEY", "MODEL"} & set(env)
    assert env["PATH"] == "/usr/bin" and env["OMP_NUM_THREADS"] == "1" and env["PYTHONUNBUFFERED"] == "1"


def test_thread_count_can_be_pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKPACK_LOCAL_MODEL_THREADS", "3")
    assert LocalModelServer().n_threads == 3
    monkeypatch.delenv("TASKPACK_LOCAL_MODEL_THREADS")
    assert 1 <= LocalModelServer().n_threads <= len(os.sched_getaffinity(0))
    assert LocalModelServer(n_threads=5).n_threads == 5  # explicit beats both


def test_command_keeps_logits_off_and_binds_loopback() -> None:
    server = LocalModelServer(model_path=Path("/m.gguf"), port=8123, n_ctx=4096, n_threads=2)
    command = server.command()
    llama_args = command[command.index("--") + 1 :]
    pairs = dict(zip(llama_args[::2], llama_args[1::2]))
    assert pairs["--host"] == "127.0.0.1" and pairs["--port"] == "8123" and pairs["--n_ctx"] == "4096"
    assert pairs["--logits_all"] == "false" and pairs["--model_alias"] == LOCAL_MODEL_NAME
    assert "--chat_format" not in pairs  # the GGUF's own Qwen template
    assert command[command.index("--parent-pid") + 1] == str(os.getpid())
