"""Publishing events and delivering them: rules matched, one delivery per rule recorded,
attempts made with exponential backoff, every attempt logged.

Deliveries live in the metadata DB, so they survive the process that published them:
`publish` makes the first attempt at once and keeps retrying in-process while the next try
is due within `retry_within` seconds (30 by default: with the default backoff of 2 s all
five tries fit, 2+4+8+16 = 30 s); later tries are left to `deliver_due`, which the API runs
every few seconds and `headwater notifications deliver` runs once. A process holds a
delivery through a lease (`locked_until`), so two processes never send the same try and a
process that dies mid-delivery only delays it until the lease ends.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from headwater.config import Project
from headwater.config.notifications import EventKind, NotificationRule, NotificationsConfig
from headwater.notify.events import NotificationEvent
from headwater.notify.webhooks import AttemptResult, attempt, render_body
from headwater.store import MetadataStore, utcnow
from headwater.store.notifications import (
    NotificationAttempt,
    NotificationDelivery,
    NotificationEventRecord,
)

logger = logging.getLogger("headwater.notify")

INLINE_RETRY_SECONDS = 30.0
"""How long `publish` keeps retrying in the publishing process (flows may exit right after);
tries due later are sent by `deliver_due`."""

LEASE_MARGIN_SECONDS = 30.0
"""A lease lasts the channel's timeout plus this: long enough for one try and its logging."""

TEST_KIND = "test"
"""The kind of the event `send_test` sends (not a rule kind: no rule fires on it)."""


@dataclass(frozen=True)
class DeliveryResult:
    """Where one delivery stands after `publish`, `deliver_due` or `send_test`."""

    delivery_id: int
    """Row id in notification_deliveries."""
    event_id: str
    """The event's id."""
    rule: str | None
    """The rule that matched (None for a test sent straight to a channel)."""
    channel: str
    """The channel it goes to."""
    status: str
    """pending, delivered or failed."""
    attempts: int
    """Tries made so far."""
    status_code: int | None
    """HTTP status of the last try (None: no answer or not tried)."""
    latency_ms: float | None
    """Latency of the last try."""
    error: str | None
    """Error of the last try."""
    next_attempt_at: datetime | None
    """When the next try is due (pending only)."""


def matching_rules(config: NotificationsConfig, event: NotificationEvent) -> list[str]:
    """Names of the enabled rules that `event` fires (none when notifications are off).

    A rule without `sources` and `consoles` matches every event of its kinds; with filters
    it matches events whose `source` (or one of `other_sources`) is in `sources`, or whose
    `console` is in `consoles`."""
    if not config.enabled:
        return []
    return [name for name, rule in config.rules.items() if _matches(rule, event)]


def _matches(rule: NotificationRule, event: NotificationEvent) -> bool:
    if not rule.enabled or event.kind not in rule.events:
        return False
    if not rule.sources and not rule.consoles:
        return True
    sources = {event.source, *event.other_sources}
    return any(source in rule.sources for source in sources if source is not None) or (
        event.console is not None and event.console in rule.consoles
    )


def event_payload(project_name: str, record: NotificationEventRecord) -> dict[str, Any]:
    """The JSON facts of an event, as the generic format sends them."""
    return {
        "id": record.id,
        "kind": record.kind,
        "summary": record.summary,
        "source": record.source,
        "console": record.console,
        "details": record.details or {},
        "occurred_at": record.occurred_at.isoformat(),
        "project": project_name,
    }


def publish(
    project: Project,
    event: NotificationEvent,
    *,
    store: MetadataStore | None = None,
    retry_within: float = INLINE_RETRY_SECONDS,
) -> list[DeliveryResult]:
    """Send `event` to the channel of every enabled rule it matches; never raises.

    No matching rule (or notifications off): nothing is written, [] is returned. An event id
    already published: nothing is sent again, its deliveries are returned. Otherwise one
    delivery per rule is recorded and tried at once; retries due within `retry_within`
    seconds happen here (pass 0 from the API: its housekeeping sends the retries), later
    ones are left to `deliver_due`. `store`: an open metadata DB (else opened and closed
    here, as flows in worker processes need)."""
    try:
        rules = matching_rules(project.config.notifications, event)
        if not rules:
            return []
        owned = store is None
        db = store if store is not None else MetadataStore.open(project)
        try:
            token = uuid.uuid4().hex
            ids = _record(project, db, event, rules, token)
            if ids is None:  # published before: sent once only
                return _results_for_event(db, event.id)
            deadline = time.monotonic() + max(retry_within, 0.0)
            _send_inline(project, db, ids, token, deadline)
            return _results(db, ids)
        finally:
            if owned:
                db.close()
    except Exception:  # a notification problem must never fail the flow or route calling it
        logger.exception("publishing notification %s (%s) failed", event.id, event.kind)
        return []


def deliver_due(
    project: Project, store: MetadataStore, *, limit: int = 100
) -> list[DeliveryResult]:
    """One try of every pending delivery whose next try is due and that no process holds;
    what they gave. Nothing is sent while notifications are switched off."""
    if not project.config.notifications.enabled:
        return []
    now = utcnow()
    with store.session() as session:
        ids = list(
            session.scalars(
                select(NotificationDelivery.id)
                .where(
                    NotificationDelivery.status == "pending",
                    NotificationDelivery.next_attempt_at <= now,
                    (NotificationDelivery.locked_until.is_(None))
                    | (NotificationDelivery.locked_until < now),
                )
                .order_by(NotificationDelivery.next_attempt_at)
                .limit(limit)
            )
        )
    token = uuid.uuid4().hex
    sent = []
    for delivery_id in ids:
        if _claim(project, store, delivery_id, token):
            _attempt_once(project, store, delivery_id, token, hold_until=None)
            sent.append(delivery_id)
    return _results(store, sent)


def send_test(
    project: Project, store: MetadataStore, *, rule: str | None = None, channel: str | None = None
) -> DeliveryResult:
    """Send a `test` event now, once (no retries), to `rule`'s channel or to `channel`;
    recorded like any delivery. KeyError when the rule or channel is not in project.yml."""
    config = project.config.notifications
    if rule is not None:
        channel = config.rules[rule].channel
    if channel is None or channel not in config.channels:
        raise KeyError(channel)
    target = f"rule {rule}" if rule else f"channel {channel}"
    event = NotificationEvent(
        kind=cast(EventKind, TEST_KIND),
        summary=f"Test notification from Headwater ({target})",
        details={"rule": rule, "channel": channel},
    )
    token = uuid.uuid4().hex
    with store.session() as session:
        session.add(_event_record(event))
        delivery = _new_delivery(event.id, rule, channel, 1, token, project)
        session.add(delivery)
        session.flush()
        delivery_id = delivery.id
    _attempt_once(project, store, delivery_id, token, hold_until=None)
    return _results(store, [delivery_id])[0]


def _event_record(event: NotificationEvent) -> NotificationEventRecord:
    return NotificationEventRecord(
        id=event.id,
        kind=event.kind,
        summary=event.summary,
        source=event.source,
        console=event.console,
        # JSON-safe whatever the producer put in (datetimes, paths become strings).
        details=json.loads(json.dumps(dict(event.details), default=str)),
        occurred_at=event.occurred_at,
    )


def _lease(project: Project, channel: str) -> timedelta:
    found = project.config.notifications.channels.get(channel)
    timeout = found.timeout_seconds if found else 10.0
    return timedelta(seconds=timeout + LEASE_MARGIN_SECONDS)


def _new_delivery(
    event_id: str, rule: str | None, channel: str, max_attempts: int, token: str, project: Project
) -> NotificationDelivery:
    now = utcnow()
    return NotificationDelivery(
        event_id=event_id,
        rule=rule,
        channel=channel,
        message_id=f"msg_{uuid.uuid4().hex}",
        status="pending",
        attempts=0,
        max_attempts=max_attempts,
        next_attempt_at=now,
        # Held by its creator from the start, so deliver_due never races the first try.
        locked_until=now + _lease(project, channel),
        lock_token=token,
        created_at=now,
    )


def _record(
    project: Project, store: MetadataStore, event: NotificationEvent, rules: list[str], token: str
) -> list[int] | None:
    """Record the event and a delivery per rule; None when the event id is known already."""
    config = project.config.notifications
    try:
        with store.session() as session:
            if session.get(NotificationEventRecord, event.id) is not None:
                return None
            session.add(_event_record(event))
            deliveries = [
                _new_delivery(event.id, name, config.rules[name].channel, config.max_attempts,
                              token, project)
                for name in rules
            ]
            session.add_all(deliveries)
            session.flush()
            return [delivery.id for delivery in deliveries]
    except IntegrityError:  # another process recorded the same event a moment ago
        return None


def _claim(project: Project, store: MetadataStore, delivery_id: int, token: str) -> bool:
    """Take the lease of a due delivery that nobody holds; whether we got it."""
    now = utcnow()
    with store.session() as session:
        channel = session.scalar(
            select(NotificationDelivery.channel).where(NotificationDelivery.id == delivery_id)
        )
        if channel is None:
            return False
        claimed = session.execute(
            update(NotificationDelivery)
            .where(
                NotificationDelivery.id == delivery_id,
                NotificationDelivery.status == "pending",
                NotificationDelivery.next_attempt_at <= now,
                (NotificationDelivery.locked_until.is_(None))
                | (NotificationDelivery.locked_until < now),
            )
            .values(locked_until=now + _lease(project, channel), lock_token=token)
        )
        return bool(getattr(claimed, "rowcount", 0) == 1)


def _send_inline(
    project: Project, store: MetadataStore, ids: list[int], token: str, deadline: float
) -> None:
    """Try each delivery now and again while its next try falls before `deadline`."""
    due = dict.fromkeys(ids, time.monotonic())
    while due:
        delivery_id = min(due, key=due.__getitem__)
        wait = due[delivery_id] - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        next_in = _attempt_once(project, store, delivery_id, token, hold_until=deadline)
        if next_in is None:
            del due[delivery_id]
        else:
            due[delivery_id] = time.monotonic() + next_in


def _attempt_once(
    project: Project,
    store: MetadataStore,
    delivery_id: int,
    token: str,
    hold_until: float | None,
) -> float | None:
    """One try of a delivery this process holds, logged. Returns the seconds until the next
    try when it stays pending and is due before `hold_until` (monotonic; the lease is kept),
    else None (delivered, given up, or released for deliver_due)."""
    with store.session() as session:
        delivery = session.get(NotificationDelivery, delivery_id)
        if delivery is None or delivery.status != "pending" or delivery.lock_token != token:
            return None  # lost the lease (we were too slow): whoever holds it sends
        channel = project.config.notifications.channels.get(delivery.channel)
        payload = event_payload(project.config.project.name, delivery.event)
        message_id = delivery.message_id
    if channel is None:
        result = AttemptResult(
            "failed", None, None, f"channel '{delivery.channel}' is no longer in project.yml"
        )
    else:
        result = attempt(channel, message_id, render_body(channel, payload))
    with store.session() as session:
        return _log_attempt(session, project, delivery_id, result, hold_until)


def _log_attempt(
    session: Session,
    project: Project,
    delivery_id: int,
    result: AttemptResult,
    hold_until: float | None,
) -> float | None:
    delivery = session.get(NotificationDelivery, delivery_id)
    assert delivery is not None
    now = utcnow()
    delivery.attempts += 1
    session.add(
        NotificationAttempt(
            delivery_id=delivery_id,
            number=delivery.attempts,
            status_code=result.status_code,
            latency_ms=result.latency_ms,
            error=result.error,
            at=now,
        )
    )
    delivery.last_status_code = result.status_code
    delivery.last_error = result.error
    outcome = result.outcome
    if outcome == "retry" and delivery.attempts >= delivery.max_attempts:
        outcome = "failed"
    if outcome != "retry":
        delivery.status = outcome
        delivery.next_attempt_at = None
        delivery.finished_at = now
        delivery.locked_until = None
        delivery.lock_token = None
        _log_end(delivery, result)
        return None
    backoff = project.config.notifications.backoff_seconds * 2 ** (delivery.attempts - 1)
    delivery.next_attempt_at = now + timedelta(seconds=backoff)
    if hold_until is not None and time.monotonic() + backoff <= hold_until:
        delivery.locked_until = delivery.next_attempt_at + _lease(project, delivery.channel)
        return backoff
    delivery.locked_until = None
    delivery.lock_token = None
    return None


def _log_end(delivery: NotificationDelivery, result: AttemptResult) -> None:
    if delivery.status == "delivered":
        logger.info("notification %s delivered to %s (rule %s, attempt %d)",
                    delivery.event_id, delivery.channel, delivery.rule, delivery.attempts)
    else:
        logger.warning("notification %s to %s (rule %s) failed after %d attempt(s): %s",
                       delivery.event_id, delivery.channel, delivery.rule, delivery.attempts,
                       result.error)


def _to_result(delivery: NotificationDelivery) -> DeliveryResult:
    last = delivery.attempt_log[-1] if delivery.attempt_log else None
    return DeliveryResult(
        delivery_id=delivery.id,
        event_id=delivery.event_id,
        rule=delivery.rule,
        channel=delivery.channel,
        status=delivery.status,
        attempts=delivery.attempts,
        status_code=last.status_code if last else None,
        latency_ms=last.latency_ms if last else None,
        error=last.error if last else None,
        next_attempt_at=delivery.next_attempt_at,
    )


def _results(store: MetadataStore, ids: list[int]) -> list[DeliveryResult]:
    if not ids:
        return []
    with store.session() as session:
        rows = session.scalars(
            select(NotificationDelivery)
            .where(NotificationDelivery.id.in_(ids))
            .order_by(NotificationDelivery.id)
        ).all()
        return [_to_result(row) for row in rows]


def _results_for_event(store: MetadataStore, event_id: str) -> list[DeliveryResult]:
    with store.session() as session:
        ids = list(
            session.scalars(
                select(NotificationDelivery.id).where(NotificationDelivery.event_id == event_id)
            )
        )
    return _results(store, ids)
