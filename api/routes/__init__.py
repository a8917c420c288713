"""One router per resource; `ROUTERS` is what the app includes."""

from api.routes import (
    api_keys,
    auth,
    dbt,
    events,
    health,
    notifications,
    query,
    runs,
    sources,
    sync,
    two_factor,
    users,
)

ROUTERS = [
    health.router,
    auth.router,
    two_factor.router,
    api_keys.router,
    users.router,
    sources.router,
    sync.router,
    runs.router,
    dbt.router,
    query.router,
    events.router,
    notifications.router,
]
"""Every router, in the order the OpenAPI document lists them."""
