"""A real server for the browser tests: uvicorn serving the app on a free loopback port in a thread of this process,
and Debian's chromium through Playwright (no browser download: executable_path=/usr/bin/chromium)."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import uvicorn

CHROMIUM = os.environ.get("TASKPACK_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("TASKPACK_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))


def require_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    message = f"{CHROMIUM} is missing: bash .ci/setup-browser.sh installs Debian's chromium"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI=true: never skipped)")
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerThread:
    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "ServerThread":
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise AssertionError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
