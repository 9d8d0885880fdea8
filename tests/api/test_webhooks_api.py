"""`/api/v1/webhooks` over HTTP (httpx through the real app with its lifespan: the emitter runs in it) on SQLite and
PostgreSQL: create (secret once), list, retrieve, delete, enable, deliveries; every error; SSRF attempts."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

import pytest
from fastapi.testclient import TestClient
from standardwebhooks.webhooks import Webhook

from api.app import create_app
from api.settings import ApiSettings
from api.webhooks.settings import ENV_RETRY_DELAYS
from api.webhooks.ssrf import ALLOW_PRIVATE_ENV
from api.webhooks.tasks import delivery
from runtime import Worker, runs, tasks
from store import api_keys
from tests.api import webhook_tasks
from tests.api.webhook_fixtures import Receiver
from tests.runtime.conftest import fresh_database


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv(ALLOW_PRIVATE_ENV, "1")
    monkeypatch.setenv(ENV_RETRY_DELAYS, "0.3,0.3")
    monkeypatch.setenv("TASKPACK_PROJECT_ROOT", str(Path(__file__).resolve().parents[2]))
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def client(db: str) -> Iterator[TestClient]:
    key = api_keys.create_key("dev", database_url=db).key

    def worker() -> Worker:
        return Worker(database_url=db, tasks=[delivery, webhook_tasks], concurrency=4, heartbeat_interval=0.5)

    with TestClient(create_app(ApiSettings(database_url=db), worker_factory=worker)) as c:
        c.headers["authorization"] = f"Bearer {key}"
        yield c


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


def test_create_list_retrieve_delete(client: TestClient, receiver: Receiver) -> None:
    created = client.post("/api/v1/webhooks", json={"url": receiver.url, "events": ["run.failed", "run.completed"], "description": "ops"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["id"].startswith("whk_") and body["secret"].startswith("whsec_")
    assert body["events"] == ["run.completed", "run.failed"] and body["enabled"] is True and "createdAt" in body
    listed = client.get("/api/v1/webhooks").json()["data"]
    assert [w["id"] for w in listed] == [body["id"]] and "secret" not in listed[0]
    one = client.get(f"/api/v1/webhooks/{body['id']}").json()
    assert one["url"] == receiver.url and "secret" not in one and one["description"] == "ops"
    assert client.delete(f"/api/v1/webhooks/{body['id']}").json() == {"id": body["id"], "deleted": True}
    assert client.get("/api/v1/webhooks").json()["data"] == []
    gone = client.get(f"/api/v1/webhooks/{body['id']}")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "webhook_not_found"


def test_deliveries_over_http_with_a_verified_signature(client: TestClient, receiver: Receiver, db: str) -> None:
    receiver.answers = [500, 200]
    created = client.post("/api/v1/webhooks", json={"url": receiver.url, "events": ["run.completed"]}).json()
    triggered = client.post("/api/v1/tasks/wh-ok/trigger", json={"payload": {"x": 1}})
    assert triggered.status_code == 200, triggered.text
    run_id = triggered.json()["id"]
    got = receiver.wait_for(2)
    assert got[0].headers["webhook-id"] == got[1].headers["webhook-id"]
    assert Webhook(created["secret"]).verify(got[1].body, got[1].headers)["data"]["id"] == run_id
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        page = client.get(f"/api/v1/webhooks/{created['id']}/deliveries").json()
        if page["data"] and page["data"][0]["status"] == "succeeded":
            break
        time.sleep(0.1)
    delivery_out = page["data"][0]
    assert delivery_out["id"] == got[0].headers["webhook-id"] and delivery_out["eventType"] == "run.completed"
    assert delivery_out["runId"] == run_id and delivery_out["attempts"] == 2
    assert [a["statusCode"] for a in delivery_out["attemptLog"]] == [500, 200]
    assert page["nextCursor"] is None


def test_deliveries_page_with_a_cursor(client: TestClient, receiver: Receiver) -> None:
    created = client.post("/api/v1/webhooks", json={"url": receiver.url, "events": ["run.completed"]}).json()
    for i in range(3):
        client.post("/api/v1/tasks/wh-ok/trigger", json={"payload": {"i": i}})
    receiver.wait_for(3)
    first = client.get(f"/api/v1/webhooks/{created['id']}/deliveries?limit=2").json()
    assert len(first["data"]) == 2 and first["nextCursor"]
    second = client.get(f"/api/v1/webhooks/{created['id']}/deliveries", params={"limit": 2, "cursor": first["nextCursor"]}).json()
    assert len(second["data"]) == 1 and second["nextCursor"] is None
    assert not {d["id"] for d in first["data"]} & {d["id"] for d in second["data"]}
    bad = client.get(f"/api/v1/webhooks/{created['id']}/deliveries", params={"cursor": "bm90LWEtY3Vyc29y"})
    assert bad.status_code == 422 and bad.json()["error"]["metadata"]["field"] == "cursor"


def test_410_then_enable(client: TestClient, receiver: Receiver) -> None:
    receiver.answers = [410, 200]
    created = client.post("/api/v1/webhooks", json={"url": receiver.url, "events": ["run.completed"]}).json()
    client.post("/api/v1/tasks/wh-ok/trigger", json={"payload": {}})
    receiver.wait_for(1)
    deadline = time.monotonic() + 30
    while client.get(f"/api/v1/webhooks/{created['id']}").json()["enabled"] and time.monotonic() < deadline:
        time.sleep(0.1)
    disabled = client.get(f"/api/v1/webhooks/{created['id']}").json()
    assert disabled["enabled"] is False and "410" in disabled["disabledReason"]
    enabled = client.post(f"/api/v1/webhooks/{created['id']}/enable").json()
    assert enabled["enabled"] is True and enabled["disabledReason"] is None
    client.post("/api/v1/tasks/wh-ok/trigger", json={"payload": {}})
    receiver.wait_for(2)


@pytest.mark.parametrize(
    "body, field",
    [
        ({"url": "http://x.example", "events": ["run.exploded"]}, "events[0]"),
        ({"url": "http://x.example", "events": []}, "events"),
        ({"events": ["run.completed"]}, "url"),
        ({"url": "http://x.example", "events": ["run.completed"], "secret": "whsec_mine"}, "secret"),
        ({"url": "ftp://x.example/", "events": ["run.completed"]}, "url"),
        ({"url": "http://u:p@x.example/", "events": ["run.completed"]}, "url"),
        ({"url": "http://x.example/" + "a" * 3000, "events": ["run.completed"]}, "url"),
    ],
)
def test_invalid_bodies_are_422_naming_the_field(client: TestClient, body: dict, field: str) -> None:
    response = client.post("/api/v1/webhooks", json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["metadata"]["field"] == field and field.split("[")[0] in error["message"]


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8030/", "http://169.254.169.254/latest/meta-data/", "http://[::1]/", "http://10.0.0.8/",
            "http://2130706433/", "http://localhost/", "http://[::ffff:192.168.0.1]/"],
)
def test_internal_urls_are_refused_without_allow_private(client: TestClient, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ALLOW_PRIVATE_ENV)
    response = client.post("/api/v1/webhooks", json={"url": url, "events": ["run.completed"]})
    assert response.status_code == 422 and response.json()["error"]["metadata"]["field"] == "url"
    assert "may not receive webhooks" in response.json()["error"]["message"]
    assert client.get("/api/v1/webhooks").json()["data"] == []


def test_auth_no_key_revoked_key_and_public_token(client: TestClient, db: str) -> None:
    key = client.headers.pop("authorization")
    assert client.get("/api/v1/webhooks").status_code == 401
    assert client.post("/api/v1/webhooks", json={"url": "http://127.0.0.1/", "events": ["run.completed"]}).status_code == 401
    client.headers["authorization"] = key
    run = client.post("/api/v1/tasks/wh-ok/trigger", json={"payload": {}}).json()
    token_headers = {"authorization": f"Bearer {run['publicAccessToken']}"}
    assert client.get("/api/v1/webhooks", headers=token_headers).status_code == 403
    revoked = api_keys.create_key("dev", database_url=db)
    api_keys.revoke_key(revoked.id, database_url=db)
    assert client.get("/api/v1/webhooks", headers={"authorization": f"Bearer {revoked.key}"}).status_code == 401


@pytest.mark.parametrize("ident", ["whk_nope", "../../etc/passwd", "whk_" + "a" * 500, "%00", "msg_x"])
def test_unknown_or_hostile_ids_are_404(client: TestClient, ident: str) -> None:
    for method, suffix in (("get", ""), ("delete", ""), ("post", "/enable"), ("get", "/deliveries")):
        response = getattr(client, method)(f"/api/v1/webhooks/{ident}{suffix}")
        assert response.status_code == 404, (method, ident, response.text)
