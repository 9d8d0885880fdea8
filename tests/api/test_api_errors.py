"""Every error code of the API, with its body `{"error": {"code", "message", "metadata"}}`: 400, 401, 403, 404, 409,
413, 422 (naming the field), 429 (with Retry-After)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.settings import ApiSettings
from tests.api.conftest import Api
from tests.api.live_server import LiveServer


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text[:500])
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "metadata"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


def test_400_malformed_json(client: httpx.Client) -> None:
    response = client.post("/api/v1/tasks/api-echo/trigger", content=b'{"payload": ', headers={"content-type": "application/json"})
    assert error_of(response, 400)["code"] == "invalid_json"


def test_401_without_key_with_unknown_key_and_with_a_bad_scheme(api: Api) -> None:
    with api.client() as anonymous:
        err = error_of(anonymous.get("/api/v1/runs"), 401)
        assert err["code"] == "missing_api_key"
        assert anonymous.get("/api/v1/runs").headers["www-authenticate"].startswith("Bearer")
        assert error_of(anonymous.get("/api/v1/runs", headers={"Authorization": "Basic dXNlcjpwdw=="}), 401)["code"] == "unauthorized"
    with api.client("tp_dev_" + "x" * 32) as guessing:
        assert error_of(guessing.get("/api/v1/runs"), 401)["code"] == "invalid_api_key"
    with api.client("not-a-key") as junk:
        assert error_of(junk.post("/api/v1/tasks/api-echo/trigger", json={}), 401)["code"] == "invalid_api_key"


def test_401_for_a_revoked_key_at_once(api: Api) -> None:
    from store import api_keys

    created = api.key(name="to revoke")
    with api.client(created.key) as c:
        assert c.get("/api/v1/runs", params={"limit": 1}).status_code == 200
        api_keys.revoke_key(created.id, database_url=api.database_url)
        assert error_of(c.get("/api/v1/runs", params={"limit": 1}), 401)["code"] == "invalid_api_key"
        assert error_of(c.post("/api/v1/tasks/api-echo/trigger", json={}), 401)["code"] == "invalid_api_key"


def test_401_for_a_key_of_another_environment(api: Api) -> None:
    with api.client(api.key("prod").key) as prod:
        err = error_of(prod.get("/api/v1/runs"), 401)
        assert err["code"] == "wrong_environment" and "prod" in err["message"]


def test_403_public_token_outside_its_scope_and_on_write_endpoints(api: Api, client: httpx.Client) -> None:
    mine = client.post("/api/v1/tasks/api-echo/trigger", json={}).json()
    theirs = client.post("/api/v1/tasks/api-echo/trigger", json={}).json()["id"]
    with api.client(mine["publicAccessToken"]) as browser:
        assert browser.get(f"/api/v1/runs/{mine['id']}").status_code == 200
        assert error_of(browser.get(f"/api/v1/runs/{theirs}"), 403)["code"] == "forbidden"
        assert error_of(browser.get(f"/api/v1/runs/{theirs}/logs"), 403)["code"] == "forbidden"
        # a run that does not exist is refused the same way: a token cannot probe for ids
        assert error_of(browser.get("/api/v1/runs/run_000000000000000000000000"), 403)["code"] == "forbidden"
        assert error_of(browser.post("/api/v1/tasks/api-echo/trigger", json={}), 403)["code"] == "forbidden"
        assert error_of(browser.post(f"/api/v1/runs/{mine['id']}/cancel"), 403)["code"] == "forbidden"
        assert error_of(browser.get("/api/v1/runs"), 403)["code"] == "forbidden"
        assert error_of(browser.post("/api/v1/auth/public-token", json={"scopes": {"read": {"runs": [theirs]}}}), 403)["code"] == "forbidden"


def test_404_unknown_task_run_schedule_route(client: httpx.Client) -> None:
    err = error_of(client.post("/api/v1/tasks/no-such-task/trigger", json={}), 404)
    assert err["code"] == "task_not_found" and err["metadata"]["taskIdentifier"] == "no-such-task"
    assert error_of(client.post("/api/v1/tasks/batch", json={"items": [{"task": "api-echo"}, {"task": "nope"}]}), 404)["code"] == "task_not_found"
    assert error_of(client.get("/api/v1/runs/run_000000000000000000000000"), 404)["code"] == "run_not_found"
    assert error_of(client.post("/api/v1/runs/run_000000000000000000000000/cancel"), 404)["code"] == "run_not_found"
    assert error_of(client.post("/api/v1/runs/run_000000000000000000000000/replay"), 404)["code"] == "run_not_found"
    assert error_of(client.get("/api/v1/schedules/sched_nope"), 404)["code"] == "schedule_not_found"
    assert error_of(client.delete("/api/v1/schedules/sched_nope"), 404)["code"] == "schedule_not_found"
    assert error_of(client.post("/api/v1/schedules", json={"task": "nope", "cron": "0 1 * * *"}), 404)["code"] == "task_not_found"
    assert error_of(client.get("/api/v1/nothing-here"), 404)["code"] == "not_found"


def test_batch_with_an_unknown_task_creates_no_run(client: httpx.Client) -> None:
    tag = f"half-{uuid.uuid4().hex[:8]}"
    items = [{"task": "api-echo", "options": {"tags": [tag]}}, {"task": "nope", "options": {"tags": [tag]}}]
    error_of(client.post("/api/v1/tasks/batch", json={"items": items}), 404)
    assert client.get("/api/v1/runs", params={"tag": tag}).json()["data"] == []


def test_409_cancel_a_finished_run(api: Api, client: httpx.Client) -> None:
    run_id = client.post("/api/v1/tasks/api-echo/trigger", json={}).json()["id"]
    api.wait_run(client, run_id)
    err = error_of(client.post(f"/api/v1/runs/{run_id}/cancel"), 409)
    assert err["code"] == "run_finished" and err["metadata"]["status"] == "COMPLETED"


def test_413_body_over_3_mb_declared_or_streamed(client: httpx.Client) -> None:
    big = json.dumps({"payload": "x" * (3 * 1024 * 1024 + 10)}).encode()
    err = error_of(client.post("/api/v1/tasks/api-echo/trigger", content=big, headers={"content-type": "application/json"}), 413)
    assert err["code"] == "payload_too_large"

    def chunks():  # no Content-Length: the server must count as it reads
        for _ in range(4):
            yield b" " * (1024 * 1024)

    response = client.post("/api/v1/tasks/api-echo/trigger", content=chunks(), headers={"content-type": "application/json"})
    assert error_of(response, 413)["code"] == "payload_too_large"


def test_422_invalid_payload_names_the_field(client: httpx.Client) -> None:
    err = error_of(client.post("/api/v1/tasks/api-typed/trigger", json={"payload": {"user": "u", "password": "p", "port": 70000}}), 422)
    assert err["code"] == "invalid_payload"
    assert "payload.port" in err["message"] and any(e["field"] == "payload.port" for e in err["metadata"]["errors"])
    err = error_of(client.post("/api/v1/tasks/api-typed/trigger", json={"payload": {"user": "u"}}), 422)
    assert any(e["field"] == "payload.password" for e in err["metadata"]["errors"])
    assert "p" not in [e.get("input") for e in err["metadata"]["errors"]]


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"delay": "soon"}, "options.delay"),
        ({"ttl": -5}, "options.ttl"),
        ({"maxAttempts": 0}, "options.maxAttempts"),
        ({"maxAttempts": "3"}, "options.maxAttempts"),
        ({"tags": ["a"] * 11}, "options.tags"),
        ({"idempotencyKey": "k" * 300}, "options.idempotencyKey"),
        ({"queue": "fast"}, "options.queue"),
        ({"metadata": [1]}, "options.metadata"),
    ],
)
def test_422_invalid_option_names_it(client: httpx.Client, options: dict[str, Any], field: str) -> None:
    err = error_of(client.post("/api/v1/tasks/api-echo/trigger", json={"payload": 1, "options": options}), 422)
    assert err["metadata"]["field"] == field, err


def test_422_batch_item_named_by_its_place(client: httpx.Client) -> None:
    items = [{"task": "api-echo"}, {"task": "api-fails"}, {"task": "api-echo", "options": {"delay": "whenever"}}]
    err = error_of(client.post("/api/v1/tasks/batch", json={"items": items}), 422)
    assert err["metadata"]["field"] == "items[2].options.delay", err
    err = error_of(client.post("/api/v1/tasks/batch", json={"items": []}), 422)
    assert err["metadata"]["field"] == "items"


def test_422_bad_query_and_schedule(client: httpx.Client) -> None:
    assert error_of(client.get("/api/v1/runs", params={"status": "SLEEPING"}), 422)["metadata"]["field"] == "status"
    assert error_of(client.get("/api/v1/runs", params={"limit": 1000}), 422)["metadata"]["field"] == "limit"
    assert error_of(client.get("/api/v1/runs", params={"cursor": "garbage"}), 422)["metadata"]["field"] == "cursor"
    err = error_of(client.post("/api/v1/schedules", json={"task": "api-echo", "cron": "every day"}), 422)
    assert err["metadata"]["field"] == "cron"
    err = error_of(client.post("/api/v1/schedules", json={"task": "api-echo", "cron": "0 3 31 2 *"}), 422)  # was a 500
    assert err["metadata"]["field"] == "cron" and "never fires" in err["message"]
    err = error_of(client.post("/api/v1/schedules", json={"task": "api-echo", "cron": "0 1 * * *", "timezone": "Mars/Olympus"}), 422)
    assert err["metadata"]["field"] == "timezone"
    err = error_of(client.post("/api/v1/auth/public-token", json={"scopes": {"read": {}}}), 422)
    assert err["metadata"]["field"] == "scopes.read"
    err = error_of(client.post("/api/v1/auth/public-token", json={"scopes": {"read": {"runs": ["r"]}}, "expires_in": 10**9}), 422)
    assert err["metadata"]["field"] == "expires_in"


def test_429_rate_limit_per_key_with_retry_after(api: Api) -> None:
    app = create_app(ApiSettings(database_url=api.database_url, rate_limit_burst=3, rate_limit_refill=1, rate_limit_interval_s=60))
    with LiveServer(app) as server:
        one, two = api.key().key, api.key().key
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {one}"}) as c:
            codes = [c.get("/api/v1/runs", params={"limit": 1}).status_code for _ in range(3)]
            assert codes == [200, 200, 200]
            limited = c.get("/api/v1/runs", params={"limit": 1})
            err = error_of(limited, 429)
            assert err["code"] == "rate_limited" and 1 <= int(limited.headers["retry-after"]) <= 60
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {two}"}) as c:
            assert c.get("/api/v1/runs", params={"limit": 1}).status_code == 200  # another key, another bucket


def test_429_bucket_refills() -> None:
    from api.auth.rate_limit import RateLimiter

    now = [0.0]
    limiter = RateLimiter(2, 1, 10.0, clock=lambda: now[0])
    assert limiter.take("k") is None and limiter.take("k") is None
    wait = limiter.take("k")
    assert wait is not None and 9.9 < wait <= 10.0
    now[0] += 10.0
    assert limiter.take("k") is None and limiter.take("k") is not None


def test_500_hides_the_internals(api: Api, client: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    import runtime

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("internal detail: /secret/path password=hunter2")

    monkeypatch.setattr(runtime.runs, "list", broken)
    response = client.get("/api/v1/runs")
    err = error_of(response, 500)
    assert err == {"code": "internal_error", "message": "internal server error", "metadata": {}}


def test_429_guessing_keys_from_one_address_is_rate_limited(api: Api) -> None:
    app = create_app(ApiSettings(database_url=api.database_url, rate_limit_burst=3, rate_limit_refill=1, rate_limit_interval_s=60))
    with LiveServer(app) as server, httpx.Client(base_url=server.url) as c:
        guesses = [c.get("/api/v1/runs", headers={"Authorization": f"Bearer tp_dev_{n:032d}"}) for n in range(4)]
        assert [g.status_code for g in guesses] == [401, 401, 401, 429]
        assert error_of(guesses[3], 429)["code"] == "rate_limited" and "retry-after" in guesses[3].headers
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {api.key().key}"}) as good:
            assert good.get("/api/v1/runs", params={"limit": 1}).status_code == 200  # a real key has its own bucket
