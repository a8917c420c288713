"""Reading the notification setup and the delivery log (for the CLI and the API)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from headwater.config import Project
from headwater.store.notifications import NotificationDelivery, NotificationEventRecord

DELIVERY_STATUSES = ("pending", "delivered", "failed")
"""Where a delivery can stand."""


@dataclass(frozen=True)
class RuleView:
    """A rule with its channel, as people may see it: no secret, no URL held in an env var."""

    name: str
    """Rule name."""
    enabled: bool
    """The rule's own switch (notifications.enabled off disables every rule)."""
    events: tuple[str, ...]
    """Event kinds that fire it."""
    sources: tuple[str, ...]
    """Source filter (empty: any)."""
    consoles: tuple[str, ...]
    """Console filter (empty: any)."""
    channel: str
    """Channel name."""
    channel_type: str
    """webhook."""
    format: str
    """generic or slack."""
    url: str | None
    """The URL when project.yml holds it."""
    url_env: str | None
    """The env var holding the URL (its value is never shown)."""
    secret_env: str | None
    """The env var holding the signing secret (its value is never shown)."""
    signed: bool
    """Whether deliveries carry a `webhook-signature`."""


def rule_views(project: Project) -> list[RuleView]:
    """Every rule of project.yml with its channel, in file order."""
    config = project.config.notifications
    views = []
    for name, rule in config.rules.items():
        channel = config.channels[rule.channel]
        views.append(
            RuleView(
                name=name,
                enabled=rule.enabled,
                events=tuple(rule.events),
                sources=tuple(rule.sources),
                consoles=tuple(rule.consoles),
                channel=rule.channel,
                channel_type=channel.type,
                format=channel.format,
                url=channel.url,
                url_env=channel.url_env,
                secret_env=channel.secret_env,
                signed=channel.secret_env is not None,
            )
        )
    return views


def list_deliveries(
    session: Session,
    *,
    skip: int = 0,
    limit: int = 50,
    rule: str | None = None,
    status: str | None = None,
    kind: str | None = None,
) -> tuple[Sequence[NotificationDelivery], int]:
    """Deliveries, newest first, with their event and attempts loaded, and how many match."""
    query = select(NotificationDelivery).join(NotificationDelivery.event)
    if rule is not None:
        query = query.where(NotificationDelivery.rule == rule)
    if status is not None:
        query = query.where(NotificationDelivery.status == status)
    if kind is not None:
        query = query.where(NotificationEventRecord.kind == kind)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.options(
            selectinload(NotificationDelivery.attempt_log),
            selectinload(NotificationDelivery.event),
        )
        .order_by(NotificationDelivery.created_at.desc(), NotificationDelivery.id.desc())
        .offset(skip)
        .limit(limit)
    ).all()
    return rows, total
