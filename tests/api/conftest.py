"""The API tests talk HTTP to a real server (uvicorn in a thread) on a real runtime database, SQLite and PostgreSQL.

One database, worker and server per module and backend (starting them is the slow part); each test makes its own
keys, runs and tokens, so tests do not depend on each other's data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from api.app import create_app
from api.settings import ApiSettings
from runtime import Worker
from runtime.backend import reset_backends
from store import api_keys
from tests.api import api_tasks
from tests.runtime.conftest import make_database
from tests.api.live_server import LiveServer


@dataclass
class Api:
    """A running API: its URL, database, app, and helpers for keys and clients."""

    url: str
    database_url: str
    kind: str
    app: Any

    def key(self, environment: str = "dev", name: str | None = None) -> api_keys.CreatedApiKey:
        return api_keys.create_key(environment, name, database_url=self.database_url)

    def client(self, credential: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {credential}"} if credential else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kwargs)

    def wait_run(self, client: httpx.Client, run_id: str, timeout: float = 30) -> dict[str, Any]:
        import time

        deadline = time.monotonic() + timeout
        while True:
            run = client.get(f"/api/v1/runs/{run_id}").json()
            if run.get("isFinished") or time.monotonic() > deadline:
                return run
            time.sleep(0.05)


def start_api(kind: str, tmp: Path, **settings: Any) -> Iterator[Api]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TASKPACK_PROJECT_ROOT", str(tmp))
        url, drop = make_database(kind, tmp)
        try:
            with Worker(database_url=url, tasks=[api_tasks], concurrency=8, heartbeat_interval=0.5, dead_worker_after=3):
                app = create_app(ApiSettings(database_url=url, **settings))
                with LiveServer(app) as server:
                    yield Api(server.url, url, kind, app)
        finally:
            reset_backends()
            drop()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    yield from start_api(request.param, tmp_path_factory.mktemp(f"api-{request.param}"))


@pytest.fixture
def secret(api: Api) -> str:
    return api.key().key


@pytest.fixture
def client(api: Api, secret: str) -> Iterator[httpx.Client]:
    with api.client(secret) as c:
        yield c
