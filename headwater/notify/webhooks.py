"""Webhook bodies (generic JSON or a Slack message), Standard Webhooks signing, and one
HTTP attempt with its outcome classified (delivered, retry, give up)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from headwater.config.notifications import WebhookChannel

SECRET_PREFIX = "whsec_"
"""Standard Webhooks secrets look like `whsec_<base64 key>`."""

RETRY_STATUSES = frozenset({408, 429})
"""4xx answers that mean "later" (timeout, rate limit); every other 4xx is final."""

USER_AGENT = "Headwater-Webhooks/1"

Outcome = Literal["delivered", "retry", "failed"]
"""What an attempt means for its delivery: done, try again later, or give up."""


class ChannelSetupError(Exception):
    """The channel cannot be used as configured (an env var it names is not set, a bad URL):
    trying again in the same process would not help."""


@dataclass(frozen=True)
class AttemptResult:
    """What one HTTP try of a delivery gave."""

    outcome: Outcome
    """delivered (2xx), retry (5xx, 408, 429, network error) or failed (other answers,
    or a channel that cannot be used)."""
    status_code: int | None
    """The receiver's HTTP status; None when no answer came."""
    latency_ms: float | None
    """From sending to the answer; None when nothing was sent."""
    error: str | None
    """Why it was not delivered, for people (with the start of the receiver's answer)."""


def signing_key(secret: str) -> bytes:
    """The HMAC key of a secret: the base64-decoded part after `whsec_` when it has that
    prefix (the Standard Webhooks form), else the secret's UTF-8 bytes."""
    if secret.startswith(SECRET_PREFIX):
        encoded = secret[len(SECRET_PREFIX) :]
        try:
            # Padding may be left off (as the Standard Webhooks libraries accept).
            return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except ValueError:
            raise ChannelSetupError(
                "the signing secret starts with whsec_ but the rest is not base64; "
                "use whsec_<base64 key> or a secret without that prefix"
            ) from None
    return secret.encode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return f"v1,{base64.b64encode(digest).decode()}"


def _env(name: str, field: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise ChannelSetupError(
            f"the env var {name} (the channel's {field}) is not set in this process; "
            f"export {name} where flows and the API run"
        )
    return value


def channel_url(channel: WebhookChannel) -> str:
    """The receiver URL: `url`, or the value of the env var `url_env`."""
    url = channel.url if channel.url is not None else _env(str(channel.url_env), "url_env")
    if not url.startswith(("http://", "https://")):
        field = "url" if channel.url is not None else f"{channel.url_env} (url_env)"
        raise ChannelSetupError(f"{field} must start with http:// or https://")
    return url


def generic_body(payload: dict[str, Any]) -> dict[str, Any]:
    """The generic JSON body: id, kind, summary, source, console, details, occurred_at,
    project."""
    return payload


_ICONS = {
    "run_failed": ":red_circle:",
    "run_succeeded": ":large_green_circle:",
    "schema_drift": ":warning:",
    "new_pii": ":lock:",
    "source_stale": ":hourglass:",
    "console_assertion_failed": ":x:",
    "cdc_lag": ":snail:",
    "test": ":bell:",
}


def _short(value: Any, limit: int = 200) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_body(payload: dict[str, Any]) -> dict[str, Any]:
    """A Slack message: `text` (the fallback line for notifications) and `blocks`."""
    icon = _ICONS.get(payload["kind"], ":bell:")
    text = f"{icon} [{payload['project']}] {payload['summary']}"
    context = [f"*{payload['kind']}*"]
    if payload.get("source"):
        context.append(f"source `{payload['source']}`")
    if payload.get("console"):
        context.append(f"console `{payload['console']}`")
    context.append(str(payload["occurred_at"]))
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]},
    ]
    details = payload.get("details") or {}
    if details:
        # Slack allows 10 fields per section block.
        fields = [
            {"type": "mrkdwn", "text": f"*{key}*\n{_short(value)}"}
            for key, value in list(details.items())[:10]
        ]
        blocks.insert(1, {"type": "section", "fields": fields})
    return {"text": text, "blocks": blocks}


def render_body(channel: WebhookChannel, payload: dict[str, Any]) -> bytes:
    """The exact bytes POSTed (and signed) for `payload` in the channel's format."""
    body = slack_body(payload) if channel.format == "slack" else generic_body(payload)
    return json.dumps(body, separators=(",", ":"), default=str).encode()


_shared: httpx.Client | None = None
_shared_lock = threading.Lock()


def _client() -> httpx.Client:
    """One pooled client per process (building one costs a TLS context, ~0.1 s)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = httpx.Client(follow_redirects=False)
        return _shared


def attempt(channel: WebhookChannel, message_id: str, body: bytes) -> AttemptResult:
    """POST `body` to the channel once, signed when it has a secret; never raises."""
    try:
        url = channel_url(channel)
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": message_id,
        }
        # A fresh timestamp per try: receivers refuse old ones (replay protection).
        timestamp = int(time.time())
        headers["webhook-timestamp"] = str(timestamp)
        if channel.secret_env:
            secret = _env(channel.secret_env, "secret_env")
            headers["webhook-signature"] = sign(secret, message_id, timestamp, body)
    except ChannelSetupError as exc:
        return AttemptResult("failed", None, None, str(exc))
    started = time.perf_counter()
    try:
        response = _client().post(
            url, content=body, headers=headers, timeout=channel.timeout_seconds
        )
    except httpx.TimeoutException:
        latency = (time.perf_counter() - started) * 1000
        error = f"no answer within {channel.timeout_seconds:g} s"
        return AttemptResult("retry", None, round(latency, 1), error)
    except (httpx.HTTPError, OSError) as exc:
        latency = (time.perf_counter() - started) * 1000
        return AttemptResult("retry", None, round(latency, 1), f"{type(exc).__name__}: {exc}")
    latency = round((time.perf_counter() - started) * 1000, 1)
    code = response.status_code
    if 200 <= code < 300:
        return AttemptResult("delivered", code, latency, None)
    answer = response.text.strip().replace("\n", " ")[:300]
    error = f"HTTP {code}" + (f": {answer}" if answer else "")
    if code >= 500 or code in RETRY_STATUSES:
        return AttemptResult("retry", code, latency, error)
    return AttemptResult("failed", code, latency, error)
