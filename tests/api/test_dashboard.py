"""The dashboard over HTTP (httpx through FastAPI's TestClient, the real app, a real worker) on SQLite and PostgreSQL:
login by pasted key, runs list filters and paging, the run page, cancel and replay, the other pages; and attacks
(forged cross-site actions, open redirects, script injection through tags and payloads, path traversal, revoked keys)."""

from __future__ import annotations

import html as html_lib
import re
import time
from pathlib import Path
from typing import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.dashboard import session
from api.settings import ApiSettings
from runtime import RunStatus, Worker, runs, tasks
from store import api_keys
from tests.api import dashboard_tasks
from tests.runtime.conftest import fresh_database

VENDORED = Path(__file__).resolve().parents[2] / "api" / "dashboard" / "static" / "vendor" / "htmx.min.js"


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("TASKPACK_PROJECT_ROOT", str(Path(__file__).resolve().parents[2]))
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def worker(db: str) -> Iterator[Worker]:
    with Worker(database_url=db, tasks=[dashboard_tasks], concurrency=4, heartbeat_interval=0.5) as w:
        yield w


@pytest.fixture
def key(db: str) -> str:
    return api_keys.create_key("dev", "dashboard-test", database_url=db).key


@pytest.fixture
def client(db: str, worker: Worker) -> Iterator[TestClient]:
    with TestClient(create_app(ApiSettings(database_url=db)), follow_redirects=False) as c:
        yield c


def login(client: TestClient, key: str) -> None:
    response = client.post("/login", data={"key": key, "next": "/runs"})
    assert response.status_code == 303 and response.headers["location"] == "/runs"


def csrf_of(html: str) -> str:
    found = re.search(r'"csrf": "([0-9a-f]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


# -- login -------------------------------------------------------------------------------------------------------------
def test_pages_need_a_key_and_login_sets_a_strict_httponly_cookie(client: TestClient, key: str) -> None:
    for path in ("/runs", "/runs/run_x", "/schedules", "/tasks", "/sources", "/webhooks"):
        response = client.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith("/login"), path
    page = client.get("/login")
    assert page.status_code == 200 and 'name="key"' in page.text
    response = client.post("/login", data={"key": key, "next": "/tasks"})
    assert response.status_code == 303 and response.headers["location"] == "/tasks"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{session.COOKIE}=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert key not in cookie and key.split("_")[-1][:12] not in cookie  # the session names the key, never holds it
    assert client.get("/runs").status_code == 200


@pytest.mark.parametrize("bad", ["", "tp_dev_" + "x" * 40, "not-a-key", "x" * 5000, "eyJhbGciOiJub25lIn0.e30."])
def test_a_wrong_key_is_refused_with_the_reason(client: TestClient, bad: str) -> None:
    response = client.post("/login", data={"key": bad})
    assert response.status_code == 401 and 'id="login-error"' in response.text
    assert session.COOKIE not in response.headers.get("set-cookie", "")
    assert bad[:30] not in response.text or bad == ""


def test_guessing_keys_in_the_login_form_or_cookie_spends_the_address_bucket(db: str, worker: Worker, key: str) -> None:
    """The form and the cookie are the same guessing channel as the Authorization header: after `burst` refused keys
    from one address the form answers 429 with Retry-After, whichever way the guesses came."""
    app = create_app(ApiSettings(database_url=db, rate_limit_burst=3, rate_limit_refill=1, rate_limit_interval_s=60))
    with TestClient(app, follow_redirects=False) as c:
        assert c.post("/login", data={"key": "tp_dev_" + "1" * 40}).status_code == 401
        assert c.post("/login", data={"key": "tp_dev_" + "2" * 40}).status_code == 401
        c.cookies.set(session.COOKIE, "tp_dev_" + "3" * 40)  # a forged cookie: the third guess
        assert c.get("/runs").status_code == 303
        c.cookies.clear()
        limited = c.post("/login", data={"key": "tp_dev_" + "4" * 40})
        assert limited.status_code == 429 and 1 <= int(limited.headers["retry-after"]) <= 60
        assert 'id="login-error"' in limited.text and "too many refused credentials" in limited.text
        assert session.COOKIE not in limited.headers.get("set-cookie", "")
        assert c.post("/login", data={"key": key}).status_code == 303  # a real key is never locked out by guessers


def test_a_forged_or_expired_session_cookie_is_refused(client: TestClient, db: str, key: str) -> None:
    login(client, key)
    good = client.cookies.get(session.COOKIE)
    key_id, expires, signature = good.split(".")
    assert key_id == api_keys.verify_key(key, database_url=db).id and client.get("/runs").status_code == 200
    forged = [
        f"{key_id}.{int(expires) + 10**6}.{signature}",  # a later expiry under the old signature
        f"{key_id}.{expires}.{'0' * len(signature)}",
        f"{api_keys.create_key('dev', database_url=db).id}.{expires}.{signature}",  # another key's id
        f"{key_id}.{expires}",
        key,  # the secret key itself is no session
    ]
    for value in forged:
        client.cookies.clear()  # only the forged cookie is sent
        client.cookies.set(session.COOKIE, value)
        response = client.get("/runs")
        assert response.status_code == 303 and response.headers["location"].startswith("/login"), value
    app = client.app
    with TestClient(app, follow_redirects=False) as other:
        from starlette.requests import Request

        request = Request({"type": "http", "app": app, "headers": []})
        expired = session.session_value(request, key_id, now=time.time() - session.MAX_AGE_S - 5)
        other.cookies.set(session.COOKIE, expired)
        assert other.get("/runs").status_code == 303
        other.cookies.clear()
        other.cookies.set(session.COOKIE, good)
        assert other.get("/runs").status_code == 200  # the real session still works


def test_a_revoked_key_logs_the_browser_out(client: TestClient, db: str, key: str) -> None:
    login(client, key)
    assert client.get("/runs").status_code == 200
    api_keys.revoke_key(api_keys.verify_key(key, database_url=db).id, database_url=db)
    response = client.get("/runs")
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert 'taskpack_session=""' in response.headers.get("set-cookie", "") or "Max-Age=0" in response.headers.get("set-cookie", "")


def test_a_key_of_another_environment_is_refused(client: TestClient, db: str) -> None:
    prod = api_keys.create_key("prod", database_url=db).key
    response = client.post("/login", data={"key": prod})
    assert response.status_code == 401 and "prod" in response.text


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)", "/\x00x"])
def test_no_open_redirect_after_login(client: TestClient, key: str, target: str) -> None:
    response = client.post("/login", data={"key": key, "next": target})
    assert response.status_code == 303 and response.headers["location"] == "/runs"


def test_a_bearer_header_works_without_login(client: TestClient, key: str) -> None:
    assert client.get("/runs", headers={"authorization": f"Bearer {key}"}).status_code == 200


# -- runs list ---------------------------------------------------------------------------------------------------------
def test_runs_list_filters_and_pages(client: TestClient, db: str, key: str) -> None:
    login(client, key)
    handles = [tasks.trigger("dash-echo", {"i": i}, tags=["batch"] if i % 2 else ["other"], database_url=db) for i in range(28)]
    stages = tasks.trigger("dash-stages", {}, tags=["stages"], database_url=db)
    for handle in handles + [stages]:
        runs.wait(handle.id, timeout=60, database_url=db)
    first = client.get("/runs")
    assert first.status_code == 200
    listed = re.findall(r'data-run-id="(run_[^"]+)"', first.text)
    assert len(listed) == 25 and listed[0] == stages.id  # newest first, 25 a page
    older = re.search(r'<a href="([^"]+)" id="next-page"', first.text).group(1).replace("&amp;", "&")
    second = client.get(older)
    rest = re.findall(r'data-run-id="(run_[^"]+)"', second.text)
    assert len(rest) == 4 and not set(rest) & set(listed) and 'id="next-page"' not in second.text
    assert 'id="first-page"' in second.text

    by_task = re.findall(r'data-run-id="(run_[^"]+)"', client.get("/runs?task=dash-stages").text)
    assert by_task == [stages.id]
    by_tag = re.findall(r'data-run-id="(run_[^"]+)"', client.get("/runs?tag=batch").text)
    assert len(by_tag) == 14 and set(by_tag) <= {h.id for h in handles}
    by_status = client.get("/runs?status=FAILED").text
    assert "No runs match." in by_status
    assert len(re.findall(r'data-run-id=', client.get("/runs?period=1h").text)) == 25
    bad = client.get("/runs?status=NOPE")
    assert bad.status_code == 200 and "unknown status" in bad.text
    partial = client.get("/runs?task=dash-stages", headers={"hx-request": "true", "hx-target": "runs-table"})
    assert partial.text.lstrip().startswith('<div id="runs-table"') and "<html" not in partial.text


def test_tags_and_payloads_cannot_inject_script(client: TestClient, db: str, key: str) -> None:
    login(client, key)
    evil = "<script>alert(1)</script>"
    handle = tasks.trigger("dash-echo", {"x": evil, "y": "\"><img src=x onerror=alert(1)>"}, tags=[evil[:60]], database_url=db)
    runs.wait(handle.id, timeout=30, database_url=db)
    for page in (client.get("/runs").text, client.get(f"/runs/{handle.id}").text):
        assert evil not in page and "<img src=x" not in page
        assert "&lt;script&gt;" in page


# -- run page ----------------------------------------------------------------------------------------------------------
def test_run_page_shows_timeline_progress_masked_payload_logs_and_a_token_for_this_run_only(
    client: TestClient, db: str, key: str
) -> None:
    login(client, key)
    handle = tasks.trigger("dash-stages", {"password": "hunter2-secret"}, database_url=db)
    other = tasks.trigger("dash-echo", {"a": 1}, database_url=db)
    runs.wait(handle.id, timeout=60, database_url=db)
    page = client.get(f"/runs/{handle.id}")
    assert page.status_code == 200
    html = page.text
    assert "hunter2-secret" not in html and "[REDACTED]" in html
    assert 'id="run-status" class="status s-COMPLETED"' in html
    assert re.search(r'<progress id="progress" max="1" value="1.0"', html)
    assert "stage started" in html  # the logs
    assert '"stage": "done"' in html_lib.unescape(html)  # the metadata
    token = re.search(r'data-token="([^"]+)"', html).group(1)
    own = client.get(f"/api/v1/runs/{handle.id}", headers={"authorization": f"Bearer {token}"})
    assert own.status_code == 200 and own.json()["id"] == handle.id
    assert client.get(f"/api/v1/runs/{other.id}", headers={"authorization": f"Bearer {token}"}).status_code == 403
    assert client.get("/api/v1/runs", headers={"authorization": f"Bearer {token}"}).status_code == 403
    # security headers: no inline script, no other origin, no framing
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and page.headers["x-frame-options"] == "DENY"
    assert not re.search(r"<script(?![^>]*src=\"/static/)", html)  # every script is ours, from /static/
    assert "http://" not in html and "https://" not in html  # nothing from a CDN


def test_agent_states_make_the_timeline(client: TestClient, db: str, key: str) -> None:
    login(client, key)
    handle = tasks.trigger("dash-agent", None, database_url=db)
    runs.wait(handle.id, timeout=30, database_url=db)
    html = client.get(f"/runs/{handle.id}").text
    names = re.findall(r'<li class="step (\w+)" data-name="(\w+)"', html)
    assert names == [("done", n) for n in ["initialization", "searching", "planning", "analyzing", "reviewing"]]
    assert "planning ok" in html


def test_stages_of_a_running_introspection_show_done_current_pending(client: TestClient, db: str, key: str, tmp_path: Path) -> None:
    login(client, key)
    handle = tasks.trigger("dash-stages", {"pause": 30}, database_url=db)
    deadline = time.monotonic() + 30
    while runs.retrieve(handle.id, database_url=db).metadata.get("stage") != "connecting" and time.monotonic() < deadline:
        time.sleep(0.1)
    html = client.get(f"/runs/{handle.id}").text
    runs.cancel(handle.id, database_url=db)
    assert '<li class="step pending" data-name="introspecting"' in html or '<li class="step current" data-name="connecting"' in html
    assert 'data-final="false"' in html and "/static/run.js" in html


def test_unknown_run_is_a_404_page(client: TestClient, key: str) -> None:
    login(client, key)
    response = client.get("/runs/run_does_not_exist")
    assert response.status_code == 404 and "No run with id" in response.text


# -- actions -----------------------------------------------------------------------------------------------------------
def test_cancel_needs_the_csrf_token_then_cancels(client: TestClient, db: str, key: str) -> None:
    login(client, key)
    handle = tasks.trigger("dash-slow", None, database_url=db)
    html = client.get(f"/runs/{handle.id}").text
    token = csrf_of(html)
    # a page on another site can make the browser post, but it cannot read our token
    for forged in ({}, {"csrf": "0" * 40}, {"csrf": session.csrf_token("tp_dev_someone_else")}):
        assert client.post(f"/runs/{handle.id}/cancel", data=forged).status_code == 403
    assert not runs.retrieve(handle.id, database_url=db).is_final
    response = client.post(f"/runs/{handle.id}/cancel", data={"csrf": token}, headers={"hx-request": "true"})
    assert response.status_code == 204 and response.headers["hx-redirect"] == f"/runs/{handle.id}"
    assert runs.wait(handle.id, timeout=30, database_url=db).status is RunStatus.CANCELED


def test_actions_without_a_session_go_to_login(client: TestClient, db: str) -> None:
    handle = tasks.trigger("dash-echo", None, database_url=db)
    response = client.post(f"/runs/{handle.id}/cancel", data={"csrf": "x"})
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


def test_replay_makes_a_new_run_with_the_same_payload(client: TestClient, db: str, key: str) -> None:
    login(client, key)
    handle = tasks.trigger("dash-echo", {"n": 7}, database_url=db)
    runs.wait(handle.id, timeout=30, database_url=db)
    token = csrf_of(client.get(f"/runs/{handle.id}").text)
    response = client.post(f"/runs/{handle.id}/replay", data={"csrf": token})
    assert response.status_code == 303
    new_id = response.headers["location"].removeprefix("/runs/")
    assert new_id != handle.id
    assert runs.wait(new_id, timeout=30, database_url=db).output == {"n": 7}


# -- other pages, static files ------------------------------------------------------------------------------------------
def test_schedules_tasks_sources_and_webhooks_pages(client: TestClient, db: str, key: str) -> None:
    from runtime import schedules
    from store import sources

    login(client, key)
    schedules.create(task="dash-echo", cron="0 3 * * *", timezone="Europe/Paris", database_url=db)
    sources.add_source("warehouse", {"type": "postgres", "host": "db.internal", "database": "analytics",
                                     "username": "reader", "password": "s3cret-pw"}, database_url=db)
    assert "0 3 * * *" in client.get("/schedules").text and "Europe/Paris" in client.get("/schedules").text
    tasks_html = client.get("/tasks").text
    assert "dash-stages" in tasks_html and "dash-slow" in tasks_html
    sources_html = client.get("/sources").text
    assert "warehouse" in sources_html and "not introspected yet" in sources_html and "s3cret-pw" not in sources_html
    source_id = re.search(r'href="/sources/(src_[0-9a-f]+)"', sources_html).group(1)
    assert "Not introspected yet" in client.get(f"/sources/{source_id}").text
    assert client.get("/sources/nope").status_code == 404
    assert "No endpoints." in client.get("/webhooks").text


def test_static_files_are_a_fixed_list(client: TestClient) -> None:
    htmx = client.get("/static/htmx.min.js")
    assert htmx.status_code == 200 and htmx.content == VENDORED.read_bytes()
    assert "javascript" in htmx.headers["content-type"]
    for path in ("/static/../app.py", "/static/..%2F..%2Fapp.py", "/static/vendor%2Fhtmx.LICENSE", "/static/%2e%2e%2fsettings.py",
                 "/static/routes.py"):
        assert client.get(path).status_code == 404, path


def test_the_dashboard_is_not_in_the_openapi_schema(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/runs" not in paths and "/login" not in paths and "/api/v1/webhooks" in paths


def test_a_source_page_shows_its_latest_catalog(client: TestClient, db: str, key: str) -> None:
    from connectors.catalog import Catalog
    from store import snapshots, sources

    login(client, key)
    source = sources.add_source("shop", {"type": "postgres", "host": "db.internal", "database": "shop", "username": "r",
                                         "password": "pw-not-shown"}, database_url=db)
    catalog = Catalog.model_validate({"source_type": "postgres", "server_version": "16.4", "databases": [{"name": "shop", "schemas": [
        {"name": "sales", "tables": [{"name": "orders", "row_count": 23685, "primary_key": ["id"], "columns": [
            {"ordinal": 1, "name": "id", "data_type": "bigint", "normalized_type": "integer", "nullable": False},
            {"ordinal": 2, "name": "<b>channel</b>", "data_type": "text", "normalized_type": "string", "comment": "web or store"}]}]}]}]})
    snapshots.save_snapshot(data_source_id=source.id, catalog=catalog, database_url=db)
    html = client.get(f"/sources/{source.name}").text
    assert "shop.sales.orders" in html and "23,685 rows" in html and "2 columns" in html
    assert "web or store" in html and "<b>channel</b>" not in html and "&lt;b&gt;channel&lt;/b&gt;" in html
    assert "pw-not-shown" not in html
    listing = client.get("/sources").text
    assert "1</td>" in listing and "pw-not-shown" not in listing


def test_a_fresh_stream_token_for_a_page_open_long(client: TestClient, db: str, key: str) -> None:
    handle = tasks.trigger("dash-echo", {"a": 1}, database_url=db)
    other = tasks.trigger("dash-echo", {"a": 2}, database_url=db)
    assert client.get(f"/runs/{handle.id}/token").status_code == 401
    login(client, key)
    response = client.get(f"/runs/{handle.id}/token")
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    token = response.json()["token"]
    assert client.get(f"/api/v1/runs/{handle.id}", headers={"authorization": f"Bearer {token}"}).status_code == 200
    assert client.get(f"/api/v1/runs/{other.id}", headers={"authorization": f"Bearer {token}"}).status_code == 403
    assert client.get("/runs/run_nope/token").status_code == 404
