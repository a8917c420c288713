"""`notifications:` in project.yml: webhook channels and the rules that send to them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from headwater.config.base import EnvVarName, Identifier, StrictModel

EventKind = Literal[
    "run_failed",
    "run_succeeded",
    "schema_drift",
    "new_pii",
    "source_stale",
    "console_assertion_failed",
    "cdc_lag",
]
"""What a rule can fire on."""

EVENT_KINDS: tuple[str, ...] = EventKind.__args__  # type: ignore[attr-defined]
"""Every event kind, in the order the docs list them."""


class WebhookChannel(StrictModel):
    """An HTTP endpoint that receives a POST per notification, signed the Standard Webhooks
    way (`webhook-id`, `webhook-timestamp`, `webhook-signature` headers)."""

    type: Literal["webhook"] = "webhook"
    """Channel type (only webhooks today)."""
    url: str | None = None
    """Receiver URL (http or https); use `url_env` when the URL itself is a secret."""
    url_env: EnvVarName | None = None
    """Env var holding the receiver URL (e.g. a Slack incoming-webhook URL)."""
    format: Literal["generic", "slack"] = "generic"
    """generic: a JSON event; slack: a Slack message (`text` and `blocks`)."""
    secret_env: EnvVarName | None = None
    """Env var holding the signing secret (`whsec_<base64>` or any text); required for
    the generic format, optional for Slack."""
    timeout_seconds: float = Field(default=10, gt=0, le=120)
    """How long one delivery attempt waits for an answer."""

    @model_validator(mode="after")
    def _one_url(self) -> WebhookChannel:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("set exactly one of `url` or `url_env` (the env var holding it)")
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https://, got '{self.url}'")
        if self.format == "generic" and self.secret_env is None:
            raise ValueError(
                "a generic webhook needs `secret_env`, the env var holding its signing secret, "
                "so the receiver can check that Headwater sent it"
            )
        return self


class NotificationRule(StrictModel):
    """Which events go to which channel."""

    events: list[EventKind] = Field(min_length=1)
    """Events that fire this rule, e.g. [run_failed, schema_drift]."""
    channel: Identifier
    """Name of a channel under `notifications.channels`."""
    sources: list[Identifier] = Field(default_factory=list)
    """Only events about these sources (empty: no filter on sources)."""
    consoles: list[Identifier] = Field(default_factory=list)
    """Only events about these consoles (empty: no filter on consoles)."""
    enabled: bool = True
    """Disabled rules send nothing."""


class NotificationsConfig(StrictModel):
    """Notification channels and rules."""

    enabled: bool = True
    """Master switch for every rule."""
    channels: dict[Identifier, WebhookChannel] = Field(default_factory=dict)
    """Channel name -> where notifications go."""
    rules: dict[Identifier, NotificationRule] = Field(default_factory=dict)
    """Rule name -> which events go to which channel."""
    max_attempts: int = Field(default=5, ge=1, le=10)
    """Tries per delivery before it is given up (exponential backoff between them)."""
    backoff_seconds: float = Field(default=2, gt=0, le=600)
    """Wait before the second try; doubled before each later one."""
