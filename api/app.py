"""`create_app()`: the platform's HTTP API (FastAPI), realtime streams and, when present, webhooks and the dashboard.

    from api.app import create_app
    from api.settings import ApiSettings
    app = create_app(ApiSettings(database_url="postgresql://..."))   # then uvicorn.run(app)

One app per process. Its lifespan starts the realtime poller (one for every subscriber), the optional embedded
worker (`taskpack serve` without `--no-worker`: the SQLite default needs one in the same process), and the start-up
hooks of the feature packages. Routers come from `CORE_ROUTERS` and from each module in `FEATURE_MODULES` that
exists: such a module exposes `router` (an APIRouter, or a list of them) and may expose `startup(app)` and
`shutdown(app)` (plain functions, called in the lifespan, in that order / in reverse). Adding a feature is one line.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import logging
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Callable

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from api import access_log
from api.auth.rate_limit import RateLimiter
from api.errors import install_error_handlers
from api.middleware import BodyLimitMiddleware
from api.realtime import RunFeed
from api.realtime import router as realtime_router
from api.routes import auth, runs, schedules, tasks
from api.settings import ApiSettings

log = logging.getLogger("taskpack.api")
SWAGGER_DIR = Path(__file__).resolve().parent / "static" / "swagger"
DOCS_STATIC_PATH = "/docs/static"

CORE_ROUTERS: tuple[APIRouter, ...] = (auth.router, tasks.router, runs.router, schedules.router, realtime_router)
# Optional packages mounted when they exist (engineer W's webhooks and dashboard).
FEATURE_MODULES: tuple[str, ...] = ("api.webhooks.routes", "api.dashboard.routes")

DESCRIPTION = """Trigger and follow analyst-taskpack's runs over HTTP, shaped like Trigger.dev's API.

Every `/api/*` request needs `Authorization: Bearer <secret key>` (`taskpack keys create --env dev`). Browsers use a
public access token (`POST /api/v1/auth/public-token`, or the one a trigger returns) that can read only its runs.
Errors are `{"error": {"code", "message", "metadata"}}`."""


def _feature_modules() -> list[Any]:
    found = []
    for name in FEATURE_MODULES:
        try:
            spec = importlib.util.find_spec(name)
        except ModuleNotFoundError:  # its package does not exist in this checkout
            spec = None
        if spec is not None:
            found.append(importlib.import_module(name))  # a feature that exists but fails to import fails the app
    return found


def create_app(
    settings: ApiSettings | None = None,
    *,
    worker_factory: Callable[[], Any] | None = None,
) -> FastAPI:
    """The API app. `worker_factory` returns an unstarted `runtime.Worker` to run inside this process's lifespan."""
    settings = settings or ApiSettings.from_env()
    features = _feature_modules()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker = worker_factory() if worker_factory is not None else None
        started: list[Any] = []
        if worker is not None:
            await asyncio.to_thread(worker.start)  # DBOS refuses some set-up calls from inside an event loop
            app.state.worker = worker
        # Open the database (DBOS's migrations, the key tables) and read the token secret now, not in the first
        # requests: fifty clients arriving together would otherwise all wait on that.
        await asyncio.to_thread(_warm_up, settings)
        app.state.run_feed.start()
        try:
            for module in features:
                if callable(getattr(module, "startup", None)):
                    module.startup(app)
                started.append(module)
            yield
        finally:
            for module in reversed(started):
                if callable(getattr(module, "shutdown", None)):
                    try:
                        module.shutdown(app)
                    except Exception:
                        log.exception("shutdown of %s failed", module.__name__)
            app.state.run_feed.stop()
            if worker is not None:
                await asyncio.to_thread(worker.stop)

    app = FastAPI(title="analyst-taskpack API", version="1", description=DESCRIPTION, lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.rate_limiter = RateLimiter(settings.rate_limit_burst, settings.rate_limit_refill, settings.rate_limit_interval_s)
    app.state.run_feed = RunFeed(settings.database_url, settings.realtime_poll_interval_s)
    app.state.worker = None
    install_error_handlers(app)
    access_log.install()
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        # Credentials are bearer keys and tokens, never cookies, so any origin may be allowed: a page elsewhere can
        # only use a token it was given. allow_credentials stays off (the dashboard's cookie never goes cross-origin).
        app.add_middleware(
            CORSMiddleware, allow_origins=list(settings.cors_origins), allow_credentials=False,
            allow_methods=["GET", "POST", "PUT", "DELETE"], allow_headers=["Authorization", "Content-Type", "Last-Event-ID"],
            max_age=600,
        )
    _mount_docs(app)
    for router in CORE_ROUTERS:
        app.include_router(router)
    for module in features:
        routers = module.router if isinstance(module.router, (list, tuple)) else [module.router]
        for router in routers:
            app.include_router(router)
    return app


def _mount_docs(app: FastAPI) -> None:
    """`/docs`: Swagger UI from the vendored files under api/static/swagger (FastAPI's default page loads it from a
    CDN, which an offline machine cannot reach)."""
    app.mount(DOCS_STATIC_PATH, StaticFiles(directory=SWAGGER_DIR), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} - docs",
            swagger_js_url=f"{DOCS_STATIC_PATH}/swagger-ui-bundle.js", swagger_css_url=f"{DOCS_STATIC_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_STATIC_PATH}/favicon-32x32.png",
        )


def _warm_up(settings: ApiSettings) -> None:
    from api.auth import tokens
    from store import api_keys

    api_keys.list_keys(include_revoked=False, database_url=settings.database_url)
    try:
        tokens.signing_key(settings.database_url)
    except Exception as exc:  # e.g. no TASKPACK_SECRET_KEY on PostgreSQL: requests will say so (503), start anyway
        log.warning("public access tokens are not available yet: %s", exc)


def app_from_env() -> FastAPI:
    """The factory `taskpack serve` / `taskpack dev` hand to uvicorn (`--factory`): settings from the environment,
    an embedded worker unless TASKPACK_SERVE_WORKER=0."""
    import os

    settings = ApiSettings.from_env(os.environ.get("TASKPACK_DATABASE_URL") or None)
    factory = None
    if os.environ.get("TASKPACK_SERVE_WORKER", "1") != "0":
        concurrency = int(os.environ.get("TASKPACK_SERVE_CONCURRENCY", "8"))

        def factory() -> Any:
            from runtime import Worker
            from runtime.console_log import show_warnings_on_console

            show_warnings_on_console()  # the embedded worker's run warnings on the server's console
            return Worker(database_url=settings.database_url, concurrency=concurrency, shutdown_timeout=10)

    return create_app(settings, worker_factory=factory)
