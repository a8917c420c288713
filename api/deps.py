"""The app's shared state and the `Annotated` dependencies routes ask for."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from api.access import current_principal
from api.prefect import PrefectApi
from api.ratelimit import RateLimiter
from api.schemas.runs import RunDetail
from api.security import PrincipalCache
from api.source_status import SourceStatusCache
from headwater.auth.roles import Principal
from headwater.config import Project
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
