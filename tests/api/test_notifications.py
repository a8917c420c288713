"""`/api/notifications`: rules (no secrets), the delivery log, test sends and permissions."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from headwater.config import Project
from headwater.notify import NotificationEvent, publish
from headwater.store.models import AuditEntry
from tests.conftest import MakeProject
from tests.notify.conftest import SECRET, SECRET_ENV
from tests.notify.receiver import Receiver, webhook_receiver

pytestmark = pytest.mark.anyio

Bearer = Callable[[str], dict[str, str]]
SLACK_URL_ENV = "HW_TEST_SLACK_URL"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver checking the signatures of SECRET."""
    with webhook_receiver(SECRET) as running:
        yield running


@pytest.fixture
def slack() -> Iterator[Receiver]:
    """A receiver of unsigned messages (the Slack channel has no secret)."""
    with webhook_receiver(None) as running:
        yield running


@pytest.fixture
def api_project(
    make_project: MakeProject,
    receiver: Receiver,
    slack: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> Project:
    """A project whose rules send to `receiver` (generic, signed) and to `slack`, whose URL
    is held in an env var."""
    monkeypatch.setenv(SECRET_ENV, SECRET)
    monkeypatch.setenv(SLACK_URL_ENV, slack.url + "/slack-secret-path")
    notifications = {
        "backoff_seconds": 0.05,
        "max_attempts": 2,
        "channels": {
            "hook": {"url": receiver.url, "secret_env": SECRET_ENV},
            "chat": {"url_env": SLACK_URL_ENV, "format": "slack"},
        },
        "rules": {
            "drift": {"events": ["schema_drift"], "channel": "hook", "sources": ["orders"]},
            "pii_chat": {"events": ["new_pii"], "channel": "chat", "enabled": False},
        },
    }
    return make_project(
        f"""
        project:
          name: api_notify
        sources:
          orders: {{type: files, tables: {{orders: {{path: data/orders.csv}}}}}}
        notifications: {json.dumps(notifications)}
        """
    )


async def test_rules_show_env_var_names_never_values(
    client: httpx.AsyncClient, viewer_key: str, bearer: Bearer
) -> None:
    response = await client.get("/api/notifications/rules", headers=bearer(viewer_key))
    assert response.status_code == 200, response.text
    rules = {rule["name"]: rule for rule in response.json()["items"]}
    assert response.json()["total"] == len(rules)
    assert rules["drift"] == {
        "name": "drift",
        "enabled": True,
        "active": True,
        "events": ["schema_drift"],
        "sources": ["orders"],
        "consoles": [],
        "channel": "hook",
        "channel_type": "webhook",
        "format": "generic",
        "url": rules["drift"]["url"],
        "url_env": None,
        "secret_env": SECRET_ENV,
        "signed": True,
    }
    chat = rules["pii_chat"]
    assert (chat["enabled"], chat["active"], chat["format"]) == (False, False, "slack")
    assert (chat["url"], chat["url_env"], chat["signed"]) == (None, SLACK_URL_ENV, False)
    assert SECRET not in response.text and "slack-secret-path" not in response.text


async def test_deliveries_newest_first_with_attempts_and_filters(
    app: FastAPI, client: httpx.AsyncClient, viewer_key: str, bearer: Bearer, receiver: Receiver
) -> None:
    context = app.state.context
    first = NotificationEvent(kind="schema_drift", summary="orders: x dropped", source="orders")
    publish(context.project, first, store=context.store)
    receiver.always = 400
    second = NotificationEvent(kind="schema_drift", summary="orders: y typed", source="orders")
    publish(context.project, second, store=context.store)

    response = await client.get("/api/notifications/deliveries", headers=bearer(viewer_key))
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["total"] == 2
    newest, oldest = page["items"]
    assert (newest["event"]["id"], newest["status"], newest["attempts"]) == (
        second.id, "failed", 1
    )
    assert newest["attempt_log"][0]["status_code"] == 400
    assert "HTTP 400" in newest["attempt_log"][0]["error"]
    assert (oldest["event"]["id"], oldest["status"], oldest["rule"]) == (
        first.id, "delivered", "drift"
    )
    assert oldest["attempt_log"][0]["number"] == 1
    assert oldest["event"]["source"] == "orders"

    async def ids(query: str) -> list[str]:
        answer = await client.get(
            f"/api/notifications/deliveries?{query}", headers=bearer(viewer_key)
        )
        assert answer.status_code == 200, answer.text
        return [item["event"]["id"] for item in answer.json()["items"]]

    assert await ids("status=failed") == [second.id]
    assert await ids("status=delivered&rule=drift&kind=schema_drift") == [first.id]
    assert await ids("kind=new_pii") == []
    assert await ids("limit=1&skip=1") == [first.id]
    bad = await client.get("/api/notifications/deliveries?status=lost", headers=bearer(viewer_key))
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_input"


async def test_test_send_needs_governance_manage(
    app: FastAPI,
    client: httpx.AsyncClient,
    viewer_key: str,
    editor_key: str,
    bearer: Bearer,
    receiver: Receiver,
    slack: Receiver,
) -> None:
    refused = await client.post(
        "/api/notifications/test", json={"rule": "drift"}, headers=bearer(viewer_key)
    )
    assert refused.status_code == 403
    assert receiver.requests == []

    response = await client.post(
        "/api/notifications/test", json={"rule": "drift"}, headers=bearer(editor_key)
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["status"], result["status_code"], result["error"]) == ("delivered", 200, None)
    assert result["latency_ms"] >= 0 and result["channel"] == "hook"
    [request] = receiver.requests
    assert request.verdict == "ok" and request.json["kind"] == "test"

    # Straight to a channel: the Slack one, its URL from the env var.
    response = await client.post(
        "/api/notifications/test", json={"channel": "chat"}, headers=bearer(editor_key)
    )
    assert response.status_code == 200 and response.json()["status"] == "delivered"
    [message] = slack.requests
    assert set(message.json) == {"text", "blocks"} and "test" in message.json["text"].lower()

    receiver.always = 503
    failed = await client.post(
        "/api/notifications/test", json={"rule": "drift"}, headers=bearer(editor_key)
    )
    assert failed.status_code == 200
    assert (failed.json()["status"], failed.json()["status_code"]) == ("failed", 503)

    unknown = await client.post(
        "/api/notifications/test", json={"rule": "drfit"}, headers=bearer(editor_key)
    )
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "notification_rule_not_found"
    assert "drift" in unknown.json()["detail"]
    both = await client.post(
        "/api/notifications/test",
        json={"rule": "drift", "channel": "hook"},
        headers=bearer(editor_key),
    )
    assert both.status_code == 422

    with app.state.context.store.session() as session:
        actions = list(session.scalars(select(AuditEntry.action)))
    assert actions.count("POST /api/notifications/test") == 6
