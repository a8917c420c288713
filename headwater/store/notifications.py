"""The notification log: events published, one delivery per matching rule, every attempt,
and the cursor of the Prefect run watcher (so a restart neither re-sends nor misses)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from headwater.store.models import Base
from headwater.store.types import utcnow


class NotificationEventRecord(Base):
    """An event published once (its id is the producer's: publishing it again sends nothing)."""

    __tablename__ = "notification_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    """The event's id (`evt_...`, or one the producer derived, e.g. from a run id)."""
    kind: Mapped[str] = mapped_column(String(40), index=True)
    """An EventKind, or `test` for a test notification."""
    summary: Mapped[str] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(100))
    console: Mapped[str | None] = mapped_column(String(100))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    occurred_at: Mapped[datetime]
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)

    deliveries: Mapped[list[NotificationDelivery]] = relationship(
        back_populates="event", cascade="all, delete-orphan", passive_deletes=True
    )


class NotificationDelivery(Base):
    """One event sent to one rule's channel: retried until delivered or given up."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "rule", name="uq_notification_delivery_event_rule"),
        Index("ix_notification_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(
        ForeignKey("notification_events.id", ondelete="CASCADE"), index=True
    )
    rule: Mapped[str | None] = mapped_column(String(100), index=True)
    """The rule that matched; None for a test sent straight to a channel."""
    channel: Mapped[str] = mapped_column(String(100))
    message_id: Mapped[str] = mapped_column(String(100), unique=True)
    """The `webhook-id` header: the same on every retry so receivers can drop duplicates."""
    status: Mapped[str] = mapped_column(String(20), default="pending")
    """pending, delivered or failed (given up)."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    """Tries allowed (notifications.max_attempts when it was created; 1 for a test)."""
    next_attempt_at: Mapped[datetime | None]
    """When the next try is due (None once delivered or failed)."""
    locked_until: Mapped[datetime | None]
    """A process is sending it until then; another one must not (a lease, so a process
    that dies mid-delivery only delays it)."""
    lock_token: Mapped[str | None] = mapped_column(String(40))
    """Which process holds the lease."""
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    finished_at: Mapped[datetime | None]
    """When it was delivered or given up."""

    event: Mapped[NotificationEventRecord] = relationship(back_populates="deliveries")
    attempt_log: Mapped[list[NotificationAttempt]] = relationship(
        back_populates="delivery",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="NotificationAttempt.number",
    )


class NotificationAttempt(Base):
    """One HTTP try of a delivery."""

    __tablename__ = "notification_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("notification_deliveries.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    """1 for the first try."""
    status_code: Mapped[int | None] = mapped_column(Integer)
    """The receiver's HTTP status; None when no answer came (network error, timeout)."""
    latency_ms: Mapped[float | None]
    error: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)

    delivery: Mapped[NotificationDelivery] = relationship(back_populates="attempt_log")


class NotificationCursor(Base):
    """How far a watcher has read (the Prefect run watcher: last end time seen and the
    run ids at that time, so runs ending in the same instant are neither lost nor re-sent)."""

    __tablename__ = "notification_cursors"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    position: Mapped[datetime | None]
    seen_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
