"""Notification rules, deliveries and test sends as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import model_validator

from api.schemas.common import ApiModel, RequestModel
from headwater.config.notifications import EventKind

DeliveryStatus = Literal["pending", "delivered", "failed"]
"""Where a delivery stands."""
DeliveryKind = Literal[EventKind, "test"]
"""An event kind, or `test` for test sends."""


class RuleOut(ApiModel):
    """A notification rule and its channel (secrets and URLs held in env vars are never
    shown: only the env var names)."""

    name: str
    """Rule name."""
    enabled: bool
    """The rule's own switch."""
    active: bool
    """Whether it sends now: the rule and `notifications.enabled` are both on."""
    events: list[str]
    """Event kinds that fire it."""
    sources: list[str]
    """Only events about these sources (empty: no filter)."""
    consoles: list[str]
    """Only events about these consoles (empty: no filter)."""
    channel: str
    """Channel name."""
    channel_type: str
    """webhook."""
    format: str
    """generic (JSON event) or slack (Slack message)."""
    url: str | None
    """Receiver URL when project.yml holds it."""
    url_env: str | None
    """Env var holding the receiver URL (its value is not shown)."""
    secret_env: str | None
    """Env var holding the signing secret (its value is not shown)."""
    signed: bool
    """Whether deliveries carry a Standard Webhooks signature."""


class AttemptOut(ApiModel):
    """One HTTP try of a delivery."""

    number: int
    """1 for the first try."""
    status_code: int | None
    """The receiver's HTTP status (None: no answer)."""
    latency_ms: float | None
    """Milliseconds until the answer."""
    error: str | None
    """Why it was not delivered."""
    at: datetime
    """When."""


class EventOut(ApiModel):
    """The event a delivery carries."""

    id: str
    """Event id (the same for every rule it matched)."""
    kind: str
    """Event kind (`test` for test sends)."""
    summary: str
    """One line for people."""
    source: str | None
    """The source it concerns."""
    console: str | None
    """The console it concerns."""
    details: dict[str, Any]
    """Event-specific facts."""
    occurred_at: datetime
    """When it happened."""


class DeliveryOut(ApiModel):
    """One event sent to one rule's channel, with every attempt."""

    id: int
    """Delivery id."""
    rule: str | None
    """The rule that matched (None: a test sent straight to a channel)."""
    channel: str
    """The channel."""
    message_id: str
    """The `webhook-id` header (the same on every retry)."""
    status: DeliveryStatus
    """pending (more tries to come), delivered, or failed (given up)."""
    attempts: int
    """Tries made."""
    max_attempts: int
    """Tries allowed."""
    next_attempt_at: datetime | None
    """When the next try is due (pending only)."""
    created_at: datetime
    """When the event was published."""
    finished_at: datetime | None
    """When it was delivered or given up."""
    event: EventOut
    """What was sent."""
    attempt_log: list[AttemptOut]
    """Every try, first first."""


class TestRequest(RequestModel):
    """Which rule's channel, or which channel, to send a test notification to."""

    rule: str | None = None
    """A rule name: the test goes to its channel."""
    channel: str | None = None
    """A channel name (instead of `rule`)."""

    @model_validator(mode="after")
    def _one_target(self) -> TestRequest:
        if (self.rule is None) == (self.channel is None):
            raise ValueError("give exactly one of `rule` or `channel`")
        return self


class TestResult(ApiModel):
    """What the one try of a test notification gave."""

    delivery_id: int
    """The delivery recorded for it (see /api/notifications/deliveries)."""
    event_id: str
    """The test event's id."""
    rule: str | None
    """The rule asked for."""
    channel: str
    """The channel it went to."""
    status: DeliveryStatus
    """delivered or failed (a test is tried once)."""
    status_code: int | None
    """The receiver's HTTP status (None: no answer)."""
    latency_ms: float | None
    """Milliseconds until the answer."""
    error: str | None
    """Why it was not delivered."""
