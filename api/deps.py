"""The app's shared state and the `Annotated` dependencies routes ask for."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from api.access import current_principal
from api.errors import ApiError
from api.prefect import PrefectApi
from api.ratelimit import RateLimiter
from api.schemas.runs import RunDetail
from api.security import PrincipalCache
from api.source_status import SourceStatusCache
from headwater.auth.roles import Principal
from headwater.config import Project, load_project
from headwater.errors import ConfigError
from headwater.store import MetadataStore
from headwater.warehouse import Warehouse


@dataclass
class AppContext:
    """Everything a request may need, created once per app."""

    project: Project
    """The loaded project.yml."""
    store: MetadataStore
    """The metadata DB (users, sessions, keys, audit log)."""
    warehouse: Warehouse
    """The DuckLake warehouse (routes open read-only sessions)."""
    prefect: PrefectApi
    """Prefect's REST API: flow runs, deployments, logs, events."""
    login_limiter: RateLimiter = field(default_factory=lambda: RateLimiter(10))
    """Sign-in attempts per client address."""
    api_limiter: RateLimiter = field(default_factory=lambda: RateLimiter(1200))
    """Requests per user or API key."""
    trigger_locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    """One lock per source, so concurrent triggers see each other's runs."""
    source_status: SourceStatusCache = field(default_factory=SourceStatusCache)
    """Sources' states, reused for a moment under load."""
    principals: PrincipalCache = field(default_factory=PrincipalCache)
    """Recently verified credentials."""
    finished_runs: dict[str, RunDetail] = field(default_factory=dict)
    """Details of runs that ended (they never change), by run id."""
    project_stamp: int | None = None
    """Modification time (ns) of project.yml when `project` was last read from it."""

    def current_project(self) -> Project:
        """project.yml as it is on disk now, read again only when the file changed, so
        routes about schedules and consoles see an edit (and `reload` applies it) without a
        restart. A changed file that does not validate answers 409 `project_invalid` with
        its problems; `project` keeps the last valid version."""
        try:
            stamp = self.project.file.stat().st_mtime_ns
        except OSError:
            return self.project
        if self.project_stamp is None:
            self.project_stamp = stamp  # as loaded at start
        if stamp != self.project_stamp:
            try:
                self.use_project(load_project(self.project.file))
            except ConfigError as exc:
                raise ApiError(
                    409, f"project.yml has errors; fix them first:\n{exc}", "project_invalid"
                ) from None
        return self.project

    def use_project(self, project: Project) -> None:
        """Serve `project` (just read or written) from now on."""
        self.project = project
        self.warehouse = Warehouse(project)
        try:
            self.project_stamp = project.file.stat().st_mtime_ns
        except OSError:
            self.project_stamp = None


def get_context(request: Request) -> AppContext:
    """The app's context (set by the lifespan)."""
    context: AppContext = request.app.state.context
    return context


def db_session(context: Annotated[AppContext, Depends(get_context)]) -> Iterator[Session]:
    """A metadata-DB session, committed when the route returns normally."""
    with context.store.session() as session:
        yield session


Context = Annotated[AppContext, Depends(get_context)]
"""The app's context."""
DbSession = Annotated[Session, Depends(db_session, scope="function")]
"""A metadata-DB session for this request."""
CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
"""The authenticated caller (routes that are not public)."""
