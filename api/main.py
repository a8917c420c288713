"""The FastAPI app: `create_app(project)`; `headwater api` and `headwater serve` run it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version

from fastapi import FastAPI

from api.audit import AuditMiddleware
from api.deps import AppContext
from api.errors import install_error_handlers
from api.housekeeping import start_housekeeping
from api.limits import BodyLimitMiddleware
from api.prefect import PrefectApi
from api.ratelimit import RateLimiter
from api.routes import ROUTERS
from api.security import install_auth_error_handler
from headwater.config import Project
from headwater.prefect_server import api_url
from headwater.query.session import close_sessions
from headwater.runs import project_tag
from headwater.store import MetadataStore
from headwater.warehouse import Warehouse

DESCRIPTION = """\
Trigger syncs and dbt builds, follow their runs (read from Prefect), browse sources and
query the warehouse read-only.

Authenticate with the session cookie from `POST /api/auth/login`, or with an API key:
`Authorization: Bearer hw_...`. Each route names the permission it needs (`x-permission`).
Errors always have the body `{"detail": "...", "code": "..."}`.
"""


def create_app(project: Project, prefect_url: str | None = None) -> FastAPI:
    """The API for `project`, reading runs from the Prefect API at `prefect_url` (by default
    the one project.yml or PREFECT_API_URL names)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = MetadataStore.open(project)
        prefect = PrefectApi(prefect_url or api_url(project), project_tag(project))
        api = project.config.api
        app.state.context = AppContext(
            project=project,
            store=store,
            warehouse=Warehouse(project),
            prefect=prefect,
            login_limiter=RateLimiter(project.config.auth.login_rate_limit_per_minute),
            api_limiter=RateLimiter(api.rate_limit_per_minute),
        )
        housekeeping = start_housekeeping(store, project, prefect.api_url)
        try:
            yield
        finally:
            housekeeping.shutdown(wait=False)
            await prefect.close()
            store.close()
            close_sessions()

    app = FastAPI(
        title="Headwater API",
        version=version("headwater"),
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url="/api/docs",
        redoc_url="/api/redoc",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    install_auth_error_handler(app)
    app.add_middleware(AuditMiddleware)
    app.add_middleware(BodyLimitMiddleware)  # outermost: before anything reads a body
    for router in ROUTERS:
        app.include_router(router)
    return app
