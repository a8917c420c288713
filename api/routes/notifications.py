"""`/api/notifications`: the rules of project.yml, the delivery log, test sends."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool

from api.access import GuardedRoute, requires
from api.deps import Context, DbSession
from api.errors import not_found
from api.schemas.common import Page, Paging
from api.schemas.notifications import (
    AttemptOut,
    DeliveryKind,
    DeliveryOut,
    DeliveryStatus,
    EventOut,
    RuleOut,
    TestRequest,
    TestResult,
)
from headwater.notify import send_test
from headwater.notify.log import list_deliveries, rule_views
from headwater.store.notifications import NotificationDelivery

router = APIRouter(route_class=GuardedRoute, tags=["notifications"])


@router.get("/api/notifications/rules", openapi_extra=requires("governance.view"))
def list_rules(context: Context, paging: Paging) -> Page[RuleOut]:
    """Every notification rule with its channel, in project.yml order."""
    master = context.project.config.notifications.enabled
    rules = [
        RuleOut(**asdict(view), active=master and view.enabled)
        for view in rule_views(context.project)
    ]
    return Page[RuleOut](items=list(paging.window(rules)), total=len(rules))


def _delivery_out(row: NotificationDelivery) -> DeliveryOut:
    event = row.event
    return DeliveryOut(
        id=row.id,
        rule=row.rule,
        channel=row.channel,
        message_id=row.message_id,
        status=row.status,
        attempts=row.attempts,
        max_attempts=row.max_attempts,
        next_attempt_at=row.next_attempt_at,
        created_at=row.created_at,
        finished_at=row.finished_at,
        event=EventOut(
            id=event.id,
            kind=event.kind,
            summary=event.summary,
            source=event.source,
            console=event.console,
            details=event.details or {},
            occurred_at=event.occurred_at,
        ),
        attempt_log=[
            AttemptOut(
                number=attempt.number,
                status_code=attempt.status_code,
                latency_ms=attempt.latency_ms,
                error=attempt.error,
                at=attempt.at,
            )
            for attempt in row.attempt_log
        ],
    )


@router.get("/api/notifications/deliveries", openapi_extra=requires("governance.view"))
def get_deliveries(
    session: DbSession,
    paging: Paging,
    rule: Annotated[str | None, Query(description="Only deliveries of this rule.")] = None,
    status: Annotated[DeliveryStatus | None, Query(description="Only in this state.")] = None,
    kind: Annotated[DeliveryKind | None, Query(description="Only events of this kind.")] = None,
) -> Page[DeliveryOut]:
    """Deliveries, newest first, each with its event and every attempt."""
    rows, total = list_deliveries(
        session, skip=paging.skip, limit=paging.limit, rule=rule, status=status, kind=kind
    )
    return Page[DeliveryOut](items=[_delivery_out(row) for row in rows], total=total)


@router.post("/api/notifications/test", openapi_extra=requires("governance.manage"))
async def test_notification(context: Context, body: TestRequest) -> TestResult:
    """Send a test notification now to a rule's channel (or a channel), once, and answer
    with what the receiver said. It is recorded in the delivery log like any other."""
    config = context.project.config.notifications
    if body.rule is not None and body.rule not in config.rules:
        raise not_found("notification rule", body.rule, list(config.rules))
    if body.channel is not None and body.channel not in config.channels:
        raise not_found("notification channel", body.channel, list(config.channels))
    result = await run_in_threadpool(
        send_test, context.project, context.store, rule=body.rule, channel=body.channel
    )
    return TestResult(
        delivery_id=result.delivery_id,
        event_id=result.event_id,
        rule=result.rule,
        channel=result.channel,
        status=result.status,
        status_code=result.status_code,
        latency_ms=result.latency_ms,
        error=result.error,
    )
