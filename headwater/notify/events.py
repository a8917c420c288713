"""What a notification is about: the contract between what happens (a failed run, drift,
new PII, a stale source, a failed console assertion, CDC lag) and the rules that send it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from headwater.config.notifications import EventKind


@dataclass(frozen=True)
class NotificationEvent:
    """One thing that happened, in the form every channel formats from."""

    kind: EventKind
    """run_failed, run_succeeded, schema_drift, new_pii, source_stale,
    console_assertion_failed or cdc_lag."""
    summary: str
    """One line for people, e.g. `sync of orders failed: table orders: file not found`."""
    source: str | None = None
    """The source it concerns, if any (rules filter on it)."""
    console: str | None = None
    """The console it concerns, if any (rules filter on it)."""
    other_sources: tuple[str, ...] = ()
    """Further sources it concerns (a schedule's run syncing several); rules filtered on
    sources match `source` or any of these."""
    details: dict[str, Any] = field(default_factory=dict)
    """Event-specific JSON-safe facts (run id and state, drift changes, PII columns, ...)."""
    occurred_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    """When it happened."""
    id: str = field(default_factory=lambda: f"evt_{uuid.uuid4().hex}")
    """Unique id; publishing the same id twice sends it once."""
