"""`/api/governance`: schema drift events and accepting them, sources needing attention,
and freshness. (PII findings and overrides: api/routes/pii.py.)"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from api.access import GuardedRoute, requires
from api.audit import note_detail
from api.deps import Context, CurrentPrincipal
from api.errors import not_found
from api.schemas.common import Page, Paging
from api.schemas.governance import (
    AcceptOut,
    AcceptRequest,
    AttentionOut,
    ColumnChangeOut,
    DriftEventOut,
    FreshnessOut,
    ReasonOut,
    SourceAttentionOut,
)
from headwater.governance.attention import sources_needing_attention
from headwater.governance.drift import accept_drift, baseline_tables, list_drift_events
from headwater.governance.freshness import source_freshness
from headwater.store.governance import DriftEvent

router = APIRouter(route_class=GuardedRoute, tags=["governance"])


def _event_out(event: DriftEvent) -> DriftEventOut:
    return DriftEventOut(
        id=event.id,
        source=event.source,
        table=event.table_name,
        detected_at=event.detected_at,
        breaking=event.breaking,
        changes=[ColumnChangeOut(**change) for change in event.changes],
        accepted_by=event.accepted_by,
        accepted_at=event.accepted_at,
        run_id=event.flow_run_id,
    )


@router.get("/api/governance/schema-drift", openapi_extra=requires("governance.view"))
async def list_schema_drift(
    context: Context,
    paging: Paging,
    source: Annotated[str | None, Query(description="Only this source.")] = None,
    table: Annotated[str | None, Query(description="Only this table.")] = None,
) -> Page[DriftEventOut]:
    """Schema drift events, newest first: each sync whose columns differed from the table's
    baseline, with the changes (added, removed, type_changed), whether they are breaking,
    and who accepted them."""

    def read() -> Page[DriftEventOut]:
        with context.store.session() as session:
            rows, total = list_drift_events(
                session, source=source, table=table, skip=paging.skip, limit=paging.limit
            )
            return Page[DriftEventOut](items=[_event_out(row) for row in rows], total=total)

    return await run_in_threadpool(read)


@router.post(
    "/api/governance/drift/{source}/accept", openapi_extra=requires("governance.manage")
)
async def accept_schema_drift(
    context: Context,
    principal: CurrentPrincipal,
    request: Request,
    source: str,
    body: AcceptRequest | None = None,
) -> AcceptOut:
    """Accept the source's schema drift: each table's baseline becomes the schema its last
    sync delivered, and its open breaking events are marked accepted by you. dbt builds
    after the source's syncs run again. Audit-logged."""
    if source not in context.project.config.sources:
        raise not_found("source", source, list(context.project.config.sources))
    table = body.table if body else None

    def accept() -> AcceptOut:
        if table is not None:
            with context.store.session() as session:
                known = baseline_tables(session, source)
            if table not in known:
                raise not_found(f"table of source '{source}' with a schema baseline", table,
                                known)
        done = accept_drift(context.store, source, principal.email, table)
        return AcceptOut(source=source, tables=done.tables, accepted_events=done.events)

    result = await run_in_threadpool(accept)
    note_detail(
        request,
        f"accepted {result.accepted_events} drift events of {source}; baseline set for "
        f"{', '.join(result.tables) or 'no table'}",
    )
    return result


@router.get("/api/governance/attention", openapi_extra=requires("governance.view"))
async def attention(context: Context, paging: Paging) -> AttentionOut:
    """Sources needing attention, each with its reasons: unaccepted breaking drift, new PII,
    a failing latest sync, staleness, failing dbt tests. `not_checked` names the reasons
    that could not be checked now, and why."""
    report = await run_in_threadpool(
        sources_needing_attention, context.project, context.store, context.prefect.api_url
    )
    items = [
        SourceAttentionOut(
            source=entry.source,
            reasons=[ReasonOut(kind=r.kind, message=r.message, details=r.details)
                     for r in entry.reasons],
        )
        for entry in report.sources
    ]
    return AttentionOut(
        items=list(paging.window(items)), total=len(items), not_checked=report.not_checked
    )


@router.get("/api/governance/freshness", openapi_extra=requires("governance.view"))
async def freshness(context: Context, paging: Paging) -> Page[FreshnessOut]:
    """Each source's freshness: its last successful sync against its `freshness` setting,
    or twice its schedule's interval; sources with neither are `unmonitored`."""
    found = await run_in_threadpool(source_freshness, context.project, context.prefect.api_url)
    items = [
        FreshnessOut(
            source=f.source,
            state=f.state,
            stale=f.stale,
            last_success_at=f.last_success_at,
            threshold_seconds=f.threshold.total_seconds() if f.threshold else None,
            threshold_from=f.threshold_from,
            reason=f.reason,
        )
        for f in found.values()
    ]
    return Page[FreshnessOut](items=list(paging.window(items)), total=len(items))
