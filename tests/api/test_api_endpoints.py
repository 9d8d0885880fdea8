"""Every endpoint's happy path over HTTP, on SQLite and PostgreSQL: trigger, batch, runs, logs, cancel, replay,
schedules, tasks, public tokens, the OpenAPI schema."""

from __future__ import annotations

import time
import uuid

import httpx

from tests.api.conftest import Api


def test_trigger_then_retrieve_a_completed_run_in_camel_case(api: Api, client: httpx.Client) -> None:
    response = client.post("/api/v1/tasks/api-echo/trigger", json={"payload": {"n": 1}, "options": {"tags": ["org:1"], "metadata": {"m": 1}}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"].startswith("run_") and body["isCached"] is False and body["publicAccessToken"].count(".") == 2
    run = api.wait_run(client, body["id"])
    assert run["status"] == "COMPLETED" and run["isFinished"] is True
    assert run["taskIdentifier"] == "api-echo"
    assert run["payload"] == {"n": 1} and run["output"] == {"echo": {"n": 1}}
    assert run["tags"] == ["org:1"] and run["metadata"] == {"m": 1}
    assert run["attempts"] == 1 and run["error"] is None
    for field in ("createdAt", "startedAt", "finishedAt"):
        assert run[field] is not None, field
    assert "task_id" not in run and "created_at" not in run


def test_idempotency_key_over_http_gives_the_same_run(client: httpx.Client) -> None:
    key = f"idem-{uuid.uuid4().hex}"
    first = client.post("/api/v1/tasks/api-echo/trigger", json={"payload": 1, "options": {"idempotencyKey": key}}).json()
    second = client.post("/api/v1/tasks/api-echo/trigger", json={"payload": 2, "options": {"idempotencyKey": key, "idempotencyKeyTTL": "1h"}}).json()
    other = client.post("/api/v1/tasks/api-echo/trigger", json={"payload": 3, "options": {"idempotencyKey": key + "x"}}).json()
    assert first["id"] == second["id"] != other["id"]
    assert (first["isCached"], second["isCached"], other["isCached"]) == (False, True, False)


def test_trigger_options_reach_the_run(api: Api, client: httpx.Client) -> None:
    body = {"payload": {}, "options": {"delay": "1h", "ttl": 7200, "concurrencyKey": "tenant-1", "maxAttempts": 2, "maxDuration": "10m"}}
    run_id = client.post("/api/v1/tasks/api-echo/trigger", json=body).json()["id"]
    run = client.get(f"/api/v1/runs/{run_id}").json()
    assert run["status"] == "DELAYED" and run["concurrencyKey"] == "tenant-1"
    assert run["delayUntil"] is not None and run["expiresAt"] is not None
    assert client.post(f"/api/v1/runs/{run_id}/cancel").status_code == 200


def test_delay_as_an_iso_date(client: httpx.Client) -> None:
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    run_id = client.post("/api/v1/tasks/api-echo/trigger", json={"options": {"delay": at}}).json()["id"]
    assert client.get(f"/api/v1/runs/{run_id}").json()["status"] == "DELAYED"
    client.post(f"/api/v1/runs/{run_id}/cancel")


def test_batch_of_several_tasks(api: Api, client: httpx.Client) -> None:
    items = [{"task": "api-echo", "payload": i} for i in range(3)] + [{"task": "api-fails", "payload": None}]
    response = client.post("/api/v1/tasks/batch", json={"items": items})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["batchId"].startswith("batch_") and len(body["runs"]) == 4
    assert [r["taskIdentifier"] for r in body["runs"]] == ["api-echo"] * 3 + ["api-fails"]
    finished = [api.wait_run(client, r["id"]) for r in body["runs"]]
    assert [r["output"] for r in finished[:3]] == [{"echo": 0}, {"echo": 1}, {"echo": 2}]
    assert finished[3]["status"] == "FAILED" and finished[3]["error"]["message"] == "planned failure"
    token = body["publicAccessToken"]
    with api.client(token) as browser:
        assert all(browser.get(f"/api/v1/runs/{r['id']}").status_code == 200 for r in body["runs"])


def test_list_runs_filters_and_cursor_paging(api: Api, client: httpx.Client) -> None:
    tag = f"page-{uuid.uuid4().hex[:8]}"
    ids = [client.post("/api/v1/tasks/api-echo/trigger", json={"payload": i, "options": {"tags": [tag]}}).json()["id"] for i in range(5)]
    for run_id in ids:
        api.wait_run(client, run_id)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"tag": tag, "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/runs", params=params).json()
        seen += [r["id"] for r in page["data"]]
        cursor = page["nextCursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))  # newest first, each once
    completed = client.get("/api/v1/runs", params={"tag": tag, "status": "COMPLETED,FAILED", "taskIdentifier": "api-echo"}).json()
    assert {r["id"] for r in completed["data"]} == set(ids)
    assert client.get("/api/v1/runs", params={"tag": tag, "status": "FAILED"}).json()["data"] == []
    assert client.get("/api/v1/runs", params={"tag": tag, "taskIdentifier": "api-fails"}).json()["data"] == []


def test_logs_of_a_run(api: Api, client: httpx.Client) -> None:
    run_id = client.post("/api/v1/tasks/api-echo/trigger", json={"payload": "abc"}).json()["id"]
    api.wait_run(client, run_id)
    logs = client.get(f"/api/v1/runs/{run_id}/logs").json()["data"]
    assert any(line["message"] == "echoing" and line["fields"] == {"size": 3} and line["runId"] == run_id for line in logs)


def test_cancel_an_executing_run(api: Api, client: httpx.Client) -> None:
    run_id = client.post("/api/v1/tasks/api-holds/trigger", json={"payload": {}}).json()["id"]
    deadline = time.monotonic() + 20
    while client.get(f"/api/v1/runs/{run_id}").json()["status"] != "EXECUTING" and time.monotonic() < deadline:
        time.sleep(0.05)
    response = client.post(f"/api/v1/runs/{run_id}/cancel")
    assert response.status_code == 200 and response.json() == {"id": run_id}
    assert api.wait_run(client, run_id)["status"] == "CANCELED"


def test_replay_makes_a_new_run_with_the_same_payload_and_tags(api: Api, client: httpx.Client) -> None:
    original = client.post("/api/v1/tasks/api-echo/trigger", json={"payload": {"x": 9}, "options": {"tags": ["replayed"]}}).json()["id"]
    api.wait_run(client, original)
    response = client.post(f"/api/v1/runs/{original}/replay")
    assert response.status_code == 200
    replay = response.json()["id"]
    assert replay != original
    run = api.wait_run(client, replay)
    assert run["payload"] == {"x": 9} and run["tags"] == ["replayed"] and run["output"] == {"echo": {"x": 9}}


def test_schedules_crud(client: httpx.Client) -> None:
    created = client.post("/api/v1/schedules", json={"task": "api-echo", "cron": "0 3 * * *", "timezone": "Europe/Paris", "externalId": "org-1"})
    assert created.status_code == 200, created.text
    schedule = created.json()
    assert schedule["id"].startswith("sched_") and schedule["task"] == "api-echo" and schedule["type"] == "IMPERATIVE"
    assert schedule["externalId"] == "org-1" and len(schedule["upcoming"]) == 5 and schedule["nextRun"]
    sid = schedule["id"]
    assert client.get(f"/api/v1/schedules/{sid}").json()["cron"] == "0 3 * * *"
    assert sid in [s["id"] for s in client.get("/api/v1/schedules").json()["data"]]
    assert sid in [s["id"] for s in client.get("/api/v1/schedules", params={"task": "api-echo"}).json()["data"]]
    updated = client.put(f"/api/v1/schedules/{sid}", json={"task": "api-echo", "cron": "30 4 * * 1", "timezone": "UTC", "externalId": "org-2"})
    assert updated.status_code == 200, updated.text
    assert (updated.json()["cron"], updated.json()["timezone"], updated.json()["externalId"]) == ("30 4 * * 1", "UTC", "org-2")
    assert updated.json()["id"] == sid
    deleted = client.delete(f"/api/v1/schedules/{sid}")
    assert deleted.status_code == 200 and deleted.json()["id"] == sid
    assert client.get(f"/api/v1/schedules/{sid}").status_code == 404


def test_schedule_deduplication_key_updates_instead_of_duplicating(client: httpx.Client) -> None:
    key = f"dedup-{uuid.uuid4().hex[:8]}"
    first = client.post("/api/v1/schedules", json={"task": "api-echo", "cron": "0 1 * * *", "deduplicationKey": key}).json()
    second = client.post("/api/v1/schedules", json={"task": "api-echo", "cron": "0 2 * * *", "deduplicationKey": key}).json()
    assert first["id"] == second["id"] and second["cron"] == "0 2 * * *"
    client.delete(f"/api/v1/schedules/{first['id']}")


def test_tasks_list_shows_registered_tasks_with_settings(client: httpx.Client) -> None:
    tasks = {t["id"]: t for t in client.get("/api/v1/tasks").json()["data"]}
    assert {"api-echo", "api-fails", "api-typed"} <= set(tasks)
    assert tasks["api-echo"]["retry"]["max_attempts"] == 1 and tasks["api-echo"]["queue"]
    assert tasks["api-typed"]["hasSchema"] is True and "password" in tasks["api-typed"]["payloadSchema"]["properties"]


def test_public_token_endpoint_scopes_by_run_and_tag(api: Api, client: httpx.Client) -> None:
    tag = f"org-{uuid.uuid4().hex[:6]}"
    tagged = client.post("/api/v1/tasks/api-echo/trigger", json={"options": {"tags": [tag]}}).json()["id"]
    named = client.post("/api/v1/tasks/api-echo/trigger", json={}).json()["id"]
    other = client.post("/api/v1/tasks/api-echo/trigger", json={}).json()["id"]
    response = client.post("/api/v1/auth/public-token", json={"scopes": {"read": {"runs": [named], "tags": [tag]}}, "expires_in": 60})
    assert response.status_code == 200, response.text
    token = response.json()["token"]
    with api.client(token) as browser:
        assert browser.get(f"/api/v1/runs/{named}").status_code == 200
        assert browser.get(f"/api/v1/runs/{tagged}").status_code == 200
        assert browser.get(f"/api/v1/runs/{tagged}/logs").status_code == 200
        assert browser.get(f"/api/v1/runs/{other}").status_code == 403


def test_secrets_are_masked_in_the_payload(api: Api, client: httpx.Client) -> None:
    run_id = client.post("/api/v1/tasks/api-typed/trigger", json={"payload": {"user": "u", "password": "hunter2-api"}}).json()["id"]
    run = api.wait_run(client, run_id)
    assert run["status"] == "COMPLETED", run
    assert run["payload"]["password"] == "[REDACTED]" and "hunter2-api" not in str(run)


def test_openapi_schema_and_docs(api: Api) -> None:
    with api.client() as anonymous:
        schema = anonymous.get("/openapi.json").json()
        assert "/api/v1/tasks/{task_id}/trigger" in schema["paths"] and "/realtime/v1/runs/{run_id}" in schema["paths"]
        props = schema["components"]["schemas"]["TriggerOptions"]["properties"]
        assert {"idempotencyKey", "idempotencyKeyTTL", "concurrencyKey", "maxAttempts"} <= set(props)
        assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
        docs = anonymous.get("/docs")
        assert docs.status_code == 200 and "swagger" in docs.text.lower()
        assert "cdn" not in docs.text and "https://" not in docs.text  # works offline: nothing from a CDN
        assert anonymous.get("/docs/static/swagger-ui-bundle.js").status_code == 200
        assert anonymous.get("/docs/static/swagger-ui.css").headers["content-type"].startswith("text/css")
        assert anonymous.get("/docs/static/../app.py").status_code == 404



def test_racing_triggers_with_one_key_get_one_run(api: Api, secret: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    key = f"race-{uuid.uuid4().hex}"

    def trigger(_: int) -> dict:
        with api.client(secret) as c:
            return c.post("/api/v1/tasks/api-echo/trigger", json={"payload": 1, "options": {"idempotencyKey": key, "tags": [key[:40]]}}).json()

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(trigger, range(12)))
    assert len({a["id"] for a in answers}) == 1
    assert sum(1 for a in answers if a["isCached"] is False) == 1
    with api.client(secret) as c:
        assert len(c.get("/api/v1/runs", params={"tag": key[:40]}).json()["data"]) == 1


def test_cors_lets_a_browser_elsewhere_use_a_token(api: Api) -> None:
    with api.client() as browser:
        preflight = browser.options(
            "/realtime/v1/runs/run_x",
            headers={"Origin": "https://app.example", "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"},
        )
        assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in preflight.headers
        simple = browser.get("/openapi.json", headers={"Origin": "https://app.example"})
        assert simple.headers["access-control-allow-origin"] == "*"
