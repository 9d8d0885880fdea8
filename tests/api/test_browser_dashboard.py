"""The dashboard in a real browser (Debian's chromium driven by Playwright, against uvicorn on loopback): the run page
follows a run live from QUEUED to COMPLETED with its progress bar moving, without a reload; a run is canceled from
its page. Screenshots are saved under test-artifacts/ (gitignored)."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from api.app import create_app
from api.settings import ApiSettings
from runtime import RunStatus, Worker, runs, tasks
from store import api_keys
from tests.api import dashboard_tasks
from tests.api.browser_support import ARTIFACTS, CHROMIUM, ServerThread, require_chromium
from tests.runtime.conftest import fresh_database


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("TASKPACK_PROJECT_ROOT", str(Path(__file__).resolve().parents[2]))
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def server(db: str) -> Iterator[ServerThread]:
    with ServerThread(create_app(ApiSettings(database_url=db))) as s:
        yield s


@pytest.fixture
def browser_page(server: ServerThread, db: str) -> Iterator[object]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    key = api_keys.create_key("dev", "browser", database_url=db).key
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.goto(f"{server.url}/runs")
            assert "/login" in page.url
            page.fill("#key", key)
            page.click("#login")
            page.wait_for_url(f"{server.url}/runs")
            page.js_errors = errors  # type: ignore[attr-defined]
            yield page
        finally:
            browser.close()


@contextmanager
def worker_thread(db: str) -> Iterator[Worker]:
    """A worker started and stopped from another thread: Playwright's sync API keeps an event loop running in this
    one, and DBOS refuses its sync set-up calls where a loop runs."""
    worker = Worker(database_url=db, tasks=[dashboard_tasks], concurrency=2, heartbeat_interval=0.5)
    _in_thread(worker.start)
    try:
        yield worker
    finally:
        _in_thread(worker.stop)


def _in_thread(fn) -> None:  # type: ignore[no-untyped-def]
    failure: list[BaseException] = []

    def target() -> None:
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            failure.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(timeout=120)
    if failure:
        raise failure[0]


def wait_text(page, selector: str, text: str, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    """Poll from Python: a string for page.wait_for_function is evaluated in the page, which our CSP forbids."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if (page.text_content(selector) or "").strip() == text:
                return
        except Exception:  # the page is navigating
            pass
        time.sleep(0.1)
    raise AssertionError(f"{selector} never showed {text!r}; it shows {page.text_content(selector)!r}")


def screenshot(page, name: str) -> Path:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 1000
    return path


def test_run_page_goes_live_from_queued_to_completed_with_a_moving_progress_bar(browser_page, server: ServerThread, db: str, request) -> None:  # type: ignore[no-untyped-def]
    page = browser_page
    handle = tasks.trigger("dash-stages", {"pause": 1.2}, database_url=db)  # no worker yet: it stays QUEUED
    page.goto(f"{server.url}/runs/{handle.id}")
    assert page.text_content("#run-status").strip() == "QUEUED"
    wait_text(page, "#live", "live", timeout=15)
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url) if frame == page.main_frame else None)
    seen_progress: list[float] = []
    seen_status: list[str] = []
    seen_stages: list[str] = []
    with worker_thread(db):
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            status = page.text_content("#run-status").strip()
            value = float(page.eval_on_selector("#progress", "e => e.value"))
            current = page.eval_on_selector_all("#timeline .step.current", "els => els.map(e => e.dataset.name)")
            if not seen_status or seen_status[-1] != status:
                seen_status.append(status)
            if not seen_progress or seen_progress[-1] != value:
                seen_progress.append(value)
            for name in current:
                if name not in seen_stages:
                    seen_stages.append(name)
            if status == "COMPLETED":
                break
            time.sleep(0.1)
        shot = screenshot(page, f"run-page-completed-{request.node.callspec.id}")
    assert seen_status[0] == "QUEUED" and seen_status[-1] == "COMPLETED", seen_status
    assert "EXECUTING" in seen_status
    assert seen_progress == sorted(seen_progress) and seen_progress[-1] == 1.0, seen_progress
    assert len(set(seen_progress)) >= 3, seen_progress  # it moved through the stages, not 0 -> 1 at once
    assert len(seen_stages) >= 2, seen_stages  # the timeline followed the stages
    assert navigations == []  # live by SSE: never reloaded
    assert page.text_content("#live").strip() == "finished"
    done = page.eval_on_selector_all("#timeline .step.done", "els => els.map(e => e.dataset.name)")
    stages = ["connecting", "introspecting", "profiling", "saving", "done"]
    # every stage the page saw, in order, all done at the end (a loaded machine may hide a short one)
    assert done[-1] == "done" and len(done) >= 3 and done == [s for s in stages if s in done], (done, seen_stages)
    assert "stage started" in page.text_content("#logs")  # logs re-fetched when the status changed
    assert page.js_errors == []  # type: ignore[attr-defined]
    assert shot.exists()


def test_cancel_from_the_run_page(browser_page, server: ServerThread, db: str, request) -> None:  # type: ignore[no-untyped-def]
    page = browser_page
    with worker_thread(db):
        handle = tasks.trigger("dash-slow", None, database_url=db)
        page.goto(f"{server.url}/runs/{handle.id}")
        wait_text(page, "#run-status", "EXECUTING")
        page.once("dialog", lambda dialog: dialog.accept())
        page.click("#cancel")
        wait_text(page, "#run-status", "CANCELED")
        assert runs.wait(handle.id, timeout=30, database_url=db).status is RunStatus.CANCELED
        assert page.is_disabled("#cancel")
        screenshot(page, f"run-page-canceled-{request.node.callspec.id}")
    assert page.js_errors == []  # type: ignore[attr-defined]


def test_runs_list_filters_in_the_browser(browser_page, server: ServerThread, db: str) -> None:  # type: ignore[no-untyped-def]
    page = browser_page
    with worker_thread(db):
        echo = tasks.trigger("dash-echo", {"a": 1}, tags=["blue"], database_url=db)
        other = tasks.trigger("dash-echo", {"a": 2}, tags=["red"], database_url=db)
        runs.wait(echo.id, timeout=30, database_url=db)
        runs.wait(other.id, timeout=30, database_url=db)
        page.goto(f"{server.url}/runs")
        page.fill("#filter-tag", "blue")
        page.press("#filter-tag", "Enter")
        deadline = time.monotonic() + 15
        while page.locator("tr.run-row").count() != 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert page.get_attribute("tr.run-row", "data-run-id") == echo.id
        assert "tag=blue" in page.url  # the filter is in the address: shareable, survives a reload
    assert page.js_errors == []  # type: ignore[attr-defined]


def test_the_run_page_outlives_its_stream_token(browser_page, server: ServerThread, db: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Stream tokens last 15 minutes; here 3 s. The stream ends when its token does; the page fetches a fresh one and
    follows the run to the end without a reload."""
    from api.dashboard import routes as dashboard_routes

    monkeypatch.setattr(dashboard_routes, "RUN_TOKEN_TTL_S", 3)
    page = browser_page
    navigations: list[str] = []
    with worker_thread(db):
        handle = tasks.trigger("dash-stages", {"pause": 2.5}, database_url=db)  # about 10 s: several token lifetimes
        page.goto(f"{server.url}/runs/{handle.id}")
        page.on("framenavigated", lambda frame: navigations.append(frame.url) if frame == page.main_frame else None)
        refreshed: list[str] = []
        page.on("request", lambda req: refreshed.append(req.url) if req.url.endswith(f"/runs/{handle.id}/token") else None)
        wait_text(page, "#run-status", "COMPLETED", timeout=90)
    assert navigations == []
    assert refreshed, "the page never asked for a fresh token"
    assert float(page.eval_on_selector("#progress", "e => e.value")) == 1.0
    assert page.text_content("#live").strip() == "finished"
