"""The dashboard's pages, at `/` of the API app (left out of the OpenAPI schema).

    /login  /logout                     paste a secret key (cookie), forget it
    /runs                               filters (status, task, tag, period) and cursor paging; the table refreshes itself
    /runs/{id}                          live state timeline, progress bar, metadata, payload/output (masked), error,
                                        attempts, logs; cancel and replay buttons
    /schedules  /tasks  /sources  /sources/{id}  /webhooks

The run page follows the run by the realtime stream (`/realtime/v1/runs/{id}?token=`) with a public access token
minted for that run alone (15 minutes): the secret key never reaches page scripts. Everything a page shows comes
from the same runtime and store calls as the API, so secrets are masked exactly as there. Pages are sent with a
strict Content-Security-Policy (scripts and styles from this origin only: no inline script, no CDN).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

import runtime
from api.auth import tokens
from api.auth.dependencies import authenticate, spend_refused_credential
from api.dashboard import session, views
from api.errors import ApiError
from api.schemas import run_json

log = logging.getLogger("taskpack.dashboard")
HERE = Path(__file__).resolve().parent
STATIC: dict[str, tuple[Path, str]] = {
    "htmx.min.js": (HERE / "static" / "vendor" / "htmx.min.js", "text/javascript"),
    "run.js": (HERE / "static" / "run.js", "text/javascript"),
    "dashboard.css": (HERE / "static" / "dashboard.css", "text/css"),
}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
PAGE_SIZE = 25
RUN_TOKEN_TTL_S = 900
MAX_FORM_BYTES = 4096

templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))
templates.filters["pretty"] = views.pretty
router = APIRouter(include_in_schema=False)


def _url(request: Request) -> str | None:
    return request.app.state.settings.database_url


def _page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    key = session.presented_key(request)
    html = templates.get_template(name).render(
        request=request, csrf=session.csrf_token(key) if key else "", nav=context.pop("nav", ""), **context
    )
    response = HTMLResponse(html, status_code=status_code)
    response.headers["content-security-policy"] = CSP
    response.headers["x-frame-options"] = "DENY"
    response.headers["referrer-policy"] = "no-referrer"
    response.headers["x-content-type-options"] = "nosniff"
    response.headers["cache-control"] = "no-store"
    return response


def _to_login(request: Request) -> Response:
    target = "/login?" + urlencode({"next": request.url.path})
    if request.headers.get("hx-request"):
        return Response(status_code=401, headers={"hx-redirect": target})
    response = RedirectResponse(target, status_code=303)
    if request.cookies.get(session.COOKIE):
        session.log_out(response)  # a revoked or unknown key: forget it
    return response


def _safe_next(value: str | None) -> str:
    """Only a path on this site (never `//evil.example` or a full URL): no open redirect after login."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value or any(ord(c) < 0x20 for c in value):
        return "/runs"
    return value


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in parsed.items() if v}


# -- static files (a fixed list: no path reaches the file system) ------------------------------------------------------
@router.get("/static/{name}")
def static_file(name: str) -> Response:
    found = STATIC.get(name)
    if found is None:
        return Response("not found", status_code=404, media_type="text/plain")
    return FileResponse(found[0], media_type=found[1], headers={"cache-control": "public, max-age=3600", "x-content-type-options": "nosniff"})


# -- login -----------------------------------------------------------------------------------------------------------
@router.get("/")
def home(request: Request) -> Response:
    return RedirectResponse("/runs" if session.principal(request) else "/login", status_code=303)


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:
    return _page(request, "login.html", next=_safe_next(next), error=None)


@router.post("/login")
async def login(request: Request) -> Response:
    form = await _form(request)
    key = (form.get("key") or "").strip()
    target = _safe_next(form.get("next"))
    try:
        try:
            if not key or len(key) > 512:
                raise ApiError(401, "invalid_api_key", "paste a secret key (tp_…)")
            who = authenticate(key, request.app.state.settings, allow_public=False)
        except ApiError as exc:
            if exc.status == 401:
                spend_refused_credential(request)  # guessing keys in the form is limited like guessing them in headers
            raise
    except ApiError as exc:
        page = _page(request, "login.html", status_code=exc.status, next=target, error=exc.message)
        page.headers.update(exc.headers or {})
        return page
    response = RedirectResponse(target, status_code=303)
    session.log_in(response, request, who.key_id)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    response = RedirectResponse("/login", status_code=303)
    session.log_out(response)
    return response


# -- runs ------------------------------------------------------------------------------------------------------------
@router.get("/runs")
def runs_page(
    request: Request,
    status: str | None = None,
    task: str | None = None,
    tag: str | None = None,
    period: str | None = None,
    cursor: str | None = None,
) -> Response:
    if session.principal(request) is None:
        return _to_login(request)
    filters = {"status": status or "", "task": (task or "").strip(), "tag": (tag or "").strip(), "period": period or ""}
    error = None
    data: list[runtime.Run] = []
    next_cursor = None
    try:
        if filters["status"] and filters["status"] not in views.STATUSES:
            raise runtime.InputError(f"status: unknown status {filters['status'][:40]!r}", field="status")
        found = runtime.runs.list(
            status=filters["status"] or None, task_id=filters["task"] or None, tag=filters["tag"] or None,
            limit=PAGE_SIZE, cursor=cursor or None, database_url=_url(request),
        )
        data, next_cursor = found.data, found.next_cursor
        cutoff = views.since(filters["period"])
        if cutoff is not None:
            kept = [r for r in data if r.created_at >= cutoff]
            if len(kept) < len(data):
                next_cursor = None  # newest first: everything after this page is older still
            data = kept
    except runtime.InputError as exc:
        error = str(exc)
    query = {k: v for k, v in filters.items() if v}
    context = dict(
        runs=data, filters=filters, statuses=views.STATUSES, periods=list(views.PERIODS), error=error,
        next_url=f"/runs?{urlencode({**query, 'cursor': next_cursor})}" if next_cursor else None,
        first_url=f"/runs?{urlencode(query)}" if cursor else None, live=not cursor, self_url=f"/runs?{urlencode(query)}",
        task_ids=_task_ids(request), progress=views.progress, nav="runs",
    )
    name = "_runs_table.html" if request.headers.get("hx-request") and request.headers.get("hx-target") == "runs-table" else "runs.html"
    return _page(request, name, **context)


def _task_ids(request: Request) -> list[str]:
    from api.routes.tasks import list_tasks

    try:
        return [t.id for t in list_tasks(request).data]
    except Exception:  # the filter's suggestions are a convenience: never fail the page for them
        return []


def _run_or_404(request: Request, run_id: str) -> runtime.Run | Response:
    try:
        return runtime.runs.retrieve(run_id, database_url=_url(request))
    except runtime.RunNotFoundError:
        return _page(request, "not_found.html", status_code=404, what="run", ident=run_id[:80], nav="runs")


@router.get("/runs/{run_id}")
def run_page(request: Request, run_id: str) -> Response:
    principal = session.principal(request)
    if principal is None:
        return _to_login(request)
    run = _run_or_404(request, run_id)
    if isinstance(run, Response):
        return run
    token = _run_token(request, principal, run.id)
    data = run_json(run)
    return _page(
        request, "run.html", run=run, data=data, token=token, progress=views.progress(run.metadata),
        timeline=views.timeline(run.task_id, run.metadata, run.status.value), logs=_logs(request, run.id),
        duration=views.duration(run), known_stages=views.KNOWN_STAGES.get(run.task_id, []), nav="runs",
    )


@router.get("/runs/{run_id}/token")
def run_token(request: Request, run_id: str) -> Response:
    """A fresh public access token for this run's stream, for a page open longer than the last one lasted."""
    principal = session.principal(request)
    if principal is None:
        return JSONResponse({"error": {"code": "unauthorized", "message": "log in again", "metadata": {}}}, status_code=401)
    run = _run_or_404(request, run_id)
    if isinstance(run, Response):
        return JSONResponse({"error": {"code": "run_not_found", "message": "no such run", "metadata": {}}}, status_code=404)
    return JSONResponse({"token": _run_token(request, principal, run.id)}, headers={"cache-control": "no-store"})


def _run_token(request: Request, principal: Any, run_id: str) -> str:
    return tokens.issue(
        principal.key_id, principal.environment, tokens.TokenScopes(runs=frozenset({run_id})), RUN_TOKEN_TTL_S,
        database_url=_url(request),
    )


def _logs(request: Request, run_id: str) -> list[runtime.LogEntry]:
    return runtime.runs.logs(run_id, database_url=_url(request))[-500:]


@router.get("/runs/{run_id}/logs")
def run_logs(request: Request, run_id: str) -> Response:
    if session.principal(request) is None:
        return _to_login(request)
    run = _run_or_404(request, run_id)
    if isinstance(run, Response):
        return run
    return _page(request, "_logs.html", logs=_logs(request, run.id))


async def _checked_action(request: Request) -> Response | None:
    if session.principal(request) is None:
        return _to_login(request)
    form = await _form(request)
    if not session.csrf_ok(request, form.get(session.CSRF_FIELD) or request.headers.get(session.CSRF_HEADER)):
        return Response("invalid or missing CSRF token", status_code=403, media_type="text/plain")
    return None


@router.post("/runs/{run_id}/cancel")
async def cancel_run(request: Request, run_id: str) -> Response:
    refused = await _checked_action(request)
    if refused is not None:
        return refused
    try:
        runtime.runs.cancel(run_id, database_url=_url(request))
    except runtime.RunNotFoundError:
        return _page(request, "not_found.html", status_code=404, what="run", ident=run_id[:80], nav="runs")
    return _after_action(request, f"/runs/{run_id}")


@router.post("/runs/{run_id}/replay")
async def replay_run(request: Request, run_id: str) -> Response:
    refused = await _checked_action(request)
    if refused is not None:
        return refused
    try:
        handle = runtime.runs.replay(run_id, database_url=_url(request))
    except runtime.RunNotFoundError:
        return _page(request, "not_found.html", status_code=404, what="run", ident=run_id[:80], nav="runs")
    except (runtime.InputError, runtime.UnknownTaskError) as exc:
        return Response(f"cannot replay: {str(exc)[:300]}", status_code=409, media_type="text/plain")
    return _after_action(request, f"/runs/{handle.id}")


def _after_action(request: Request, target: str) -> Response:
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"hx-redirect": target})
    return RedirectResponse(target, status_code=303)


# -- schedules, tasks, sources, webhooks -------------------------------------------------------------------------------
@router.get("/schedules")
def schedules_page(request: Request) -> Response:
    if session.principal(request) is None:
        return _to_login(request)
    return _page(request, "schedules.html", schedules=runtime.schedules.list(database_url=_url(request)), nav="schedules")


@router.get("/tasks")
def tasks_page(request: Request) -> Response:
    if session.principal(request) is None:
        return _to_login(request)
    from api.routes.tasks import list_tasks

    return _page(request, "tasks.html", tasks=list_tasks(request).data, nav="tasks")


@router.get("/sources")
def sources_page(request: Request) -> Response:
    if session.principal(request) is None:
        return _to_login(request)
    from store import snapshots, sources

    rows = []
    error = None
    try:
        for source in sources.list_sources(database_url=_url(request)):
            rows.append((source.public_dict(), _latest(snapshots, source.id, request)))
    except Exception as exc:  # a lost key: say so instead of a 500
        error = getattr(exc, "message", None) or type(exc).__name__
    return _page(request, "sources.html", sources=rows, error=error, nav="sources")


def _latest(snapshots: Any, source_id: str, request: Request) -> Any:
    try:
        return snapshots.latest_snapshot(source_id, database_url=_url(request))
    except Exception:
        return None


@router.get("/sources/{ref}")
def source_page(request: Request, ref: str) -> Response:
    if session.principal(request) is None:
        return _to_login(request)
    from store import snapshots, sources

    try:
        source = sources.resolve(ref, database_url=_url(request))
    except Exception:
        return _page(request, "not_found.html", status_code=404, what="data source", ident=ref[:80], nav="sources")
    snapshot = _latest(snapshots, source.id, request)
    return _page(request, "source.html", source=source, snapshot=snapshot, nav="sources")


@router.get("/webhooks")
def webhooks_page(request: Request) -> Response:
    if session.principal(request) is None:
        return _to_login(request)
    from store import webhooks as registry

    endpoints = registry.list_endpoints(database_url=_url(request))
    deliveries = {e.id: registry.list_messages(e.id, limit=10, database_url=_url(request)).data for e in endpoints}
    return _page(request, "webhooks.html", endpoints=endpoints, deliveries=deliveries, nav="webhooks")
