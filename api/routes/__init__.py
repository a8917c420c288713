"""One router per resource; `ROUTERS` is what the app includes."""

from api.routes import (
    api_keys,
    auth,
    catalog,
    consoles,
    dbt,
    events,
    governance,
    health,
    lineage,
    monitoring,
    notifications,
    pii,
    profiling,
    query,
    runs,
    schedules,
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
    schedules.router,  # before sources: /api/sources/unscheduled, not /api/sources/{name}
    sources.router,
    sync.router,
    runs.router,
    dbt.router,
    consoles.router,
    catalog.router,  # before profiling's /api/catalog/{source}/{table}/... routes
    lineage.router,
    profiling.router,  # after catalog: its fixed /api/catalog/... paths win
    pii.router,
    governance.router,
    monitoring.router,
    query.router,
    events.router,
    notifications.router,
]
"""Every router, in the order the OpenAPI document lists them."""
