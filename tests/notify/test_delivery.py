"""publish against a local receiver that checks signatures: retries, give-ups, formats,
rule filters, sending once, and deliver_due for tries left to later."""

from __future__ import annotations

import itertools
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from standardwebhooks.webhooks import Webhook

from headwater.notify import NotificationEvent, deliver_due, publish, send_test
from headwater.store import MetadataStore, utcnow
from headwater.store.notifications import (
    NotificationAttempt,
    NotificationDelivery,
    NotificationEventRecord,
)
from tests.conftest import free_port
from tests.notify.conftest import SECRET, SECRET_ENV, NotifyProject
from tests.notify.receiver import webhook_receiver


def _event(**kwargs: object) -> NotificationEvent:
    fields: dict[str, object] = {"kind": "schema_drift", "summary": "orders: column dropped"}
    fields.update(kwargs)
    return NotificationEvent(**fields)  # type: ignore[arg-type]


def _attempts(store: MetadataStore, delivery_id: int) -> list[NotificationAttempt]:
    with store.session() as session:
        return list(
            session.scalars(
                select(NotificationAttempt)
                .where(NotificationAttempt.delivery_id == delivery_id)
                .order_by(NotificationAttempt.id)
            )
        )


def test_retries_with_backoff_until_the_receiver_accepts(notify_project: NotifyProject) -> None:
    with webhook_receiver(SECRET, fail_first=3) as receiver:
        project = notify_project(receiver.url)
        event = _event(source="a", details={"table": "t", "removed": ["x"]})
        [result] = publish(project, event)

    assert result.status == "delivered" and result.attempts == 4 and result.status_code == 200
    assert [r.status for r in receiver.requests] == [500, 500, 500, 200]
    # Every request passed the receiver's own signature and timestamp checks...
    assert {r.verdict for r in receiver.requests} == {"ok"}
    # ... and the Standard Webhooks reference library's.
    verifier = Webhook(SECRET)
    for request in receiver.requests:
        assert verifier.verify(request.body, request.headers) == request.json
    # One message id across the retries, so a receiver can drop duplicates.
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
    body = receiver.accepted[0].json
    assert body == {
        "id": event.id,
        "kind": "schema_drift",
        "summary": "orders: column dropped",
        "source": "a",
        "console": None,
        "details": {"table": "t", "removed": ["x"]},
        "occurred_at": event.occurred_at.isoformat(),
        "project": "notify_test",
    }
    store = MetadataStore.open(project)
    attempts = _attempts(store, result.delivery_id)
    assert [a.number for a in attempts] == [1, 2, 3, 4]
    assert [a.status_code for a in attempts] == [500, 500, 500, 200]
    assert all(a.latency_ms is not None for a in attempts)
    assert attempts[0].error is not None and "HTTP 500" in attempts[0].error
    assert attempts[-1].error is None
    # Backoff 0.05 s doubling: each wait at least as long as planned (lower bounds only).
    gaps = [(b.at - a.at).total_seconds() for a, b in itertools.pairwise(attempts)]
    assert [gap >= 0.05 * 2**i for i, gap in enumerate(gaps)] == [True, True, True]
    with store.session() as session:
        delivery = session.get(NotificationDelivery, result.delivery_id)
        assert delivery is not None
        assert (delivery.status, delivery.next_attempt_at, delivery.lock_token) == (
            "delivered", None, None
        )
    store.close()


def test_a_4xx_answer_fails_at_once(notify_project: NotifyProject) -> None:
    with webhook_receiver(SECRET, always=400) as receiver:
        [result] = publish(notify_project(receiver.url), _event())
    assert (result.status, result.attempts, result.status_code) == ("failed", 1, 400)
    assert len(receiver.requests) == 1


def test_429_is_retried(notify_project: NotifyProject) -> None:
    with webhook_receiver(SECRET, fail_first=1, fail_status=429) as receiver:
        [result] = publish(notify_project(receiver.url), _event())
    assert (result.status, result.attempts) == ("delivered", 2)


def test_a_receiver_that_is_down_fails_after_max_attempts(notify_project: NotifyProject) -> None:
    project = notify_project(f"http://127.0.0.1:{free_port()}/hook", max_attempts=3)
    [result] = publish(project, _event())
    assert (result.status, result.attempts, result.status_code) == ("failed", 3, None)
    store = MetadataStore.open(project)
    attempts = _attempts(store, result.delivery_id)
    store.close()
    assert [a.number for a in attempts] == [1, 2, 3]
    assert all(a.error and "ConnectError" in a.error for a in attempts)


def test_a_missing_secret_is_logged_not_raised(
    notify_project: NotifyProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    with webhook_receiver(SECRET) as receiver:
        project = notify_project(receiver.url)
        monkeypatch.delenv(SECRET_ENV)
        [result] = publish(project, _event())
    assert (result.status, result.attempts) == ("failed", 1)
    assert result.error is not None and SECRET_ENV in result.error
    assert receiver.requests == []


def test_slack_format(notify_project: NotifyProject) -> None:
    with webhook_receiver(None) as receiver:
        project = notify_project(receiver.url, fmt="slack")
        publish(project, _event(kind="run_failed", summary="sync of a failed", source="a",
                                details={"run_id": "r1", "state": "Failed"}))
    [request] = receiver.requests
    body = request.json
    assert set(body) == {"text", "blocks"}
    assert "sync of a failed" in body["text"] and "notify_test" in body["text"]
    assert body["blocks"][0]["type"] == "section"
    texts = str(body["blocks"])
    assert "run_failed" in texts and "`a`" in texts and "r1" in texts
    assert "webhook-signature" not in request.headers  # no secret_env on this channel
    assert "webhook-id" in request.headers


def test_rule_filters(notify_project: NotifyProject) -> None:
    rules = {
        "a_only": {"events": ["schema_drift", "run_failed"], "channel": "hook", "sources": ["a"]},
        "console_c": {"events": ["console_assertion_failed"], "channel": "hook",
                      "consoles": ["c"]},
        "any_pii": {"events": ["new_pii"], "channel": "hook"},
        "off": {"events": ["schema_drift"], "channel": "hook", "enabled": False},
    }
    with webhook_receiver(SECRET) as receiver:
        project = notify_project(receiver.url, rules=rules)
        sent = {
            name: [r.rule for r in publish(project, event)]
            for name, event in {
                "drift a": _event(source="a"),
                "drift b": _event(source="b"),
                "drift none": _event(),
                "failed a": _event(kind="run_failed", source="a"),
                "stale a": _event(kind="source_stale", source="a"),
                "assert c": _event(kind="console_assertion_failed", console="c"),
                "assert other": _event(kind="console_assertion_failed", console="d"),
                "pii b": _event(kind="new_pii", source="b"),
            }.items()
        }
    assert sent == {
        "drift a": ["a_only"],
        "drift b": [],
        "drift none": [],
        "failed a": ["a_only"],
        "stale a": [],
        "assert c": ["console_c"],
        "assert other": [],
        "pii b": ["any_pii"],
    }
    assert len(receiver.accepted) == 4


def test_one_delivery_per_matching_rule(notify_project: NotifyProject) -> None:
    with webhook_receiver(SECRET) as receiver, webhook_receiver(None) as slack:
        project = notify_project(
            receiver.url,
            channels={"chat": {"url": slack.url, "format": "slack"}},
            rules={"hook": {"events": ["new_pii"], "channel": "hook"},
                   "chat": {"events": ["new_pii"], "channel": "chat"}},
        )
        results = publish(project, _event(kind="new_pii", source="a"))
    assert sorted((r.rule, r.status) for r in results) == [
        ("chat", "delivered"), ("hook", "delivered")
    ]
    assert len(receiver.accepted) == len(slack.accepted) == 1


def test_the_same_event_is_sent_once(notify_project: NotifyProject) -> None:
    with webhook_receiver(SECRET) as receiver:
        project = notify_project(receiver.url)
        event = _event()
        first = publish(project, event)
        again = publish(project, event)
    assert [r.delivery_id for r in first] == [r.delivery_id for r in again]
    assert len(receiver.requests) == 1


def test_nothing_is_written_without_rules_or_when_switched_off(
    notify_project: NotifyProject,
) -> None:
    with webhook_receiver(SECRET) as receiver:
        no_rules = notify_project(receiver.url, rules={})
        assert publish(no_rules, _event()) == []
        assert not no_rules.path(no_rules.config.store.path).exists()
        off = notify_project(receiver.url, enabled=False)
        assert publish(off, _event()) == []
        assert not off.path(off.config.store.path).exists()
    assert receiver.requests == []


def test_later_tries_are_left_to_deliver_due(notify_project: NotifyProject) -> None:
    with webhook_receiver(SECRET, fail_first=2) as receiver:
        project = notify_project(receiver.url)
        [first] = publish(project, _event(), retry_within=0)
        assert (first.status, first.attempts) == ("pending", 1)
        assert first.next_attempt_at is not None
        store = MetadataStore.open(project)
        try:
            statuses = []
            for _ in range(50):
                time.sleep(0.05)
                statuses += [(r.status, r.attempts) for r in deliver_due(project, store)]
                if statuses and statuses[-1][0] == "delivered":
                    break
        finally:
            store.close()
    assert statuses == [("pending", 2), ("delivered", 3)]
    assert [r.status for r in receiver.requests] == [500, 500, 200]


def test_deliver_due_skips_held_deliveries_and_takes_over_expired_leases(
    notify_project: NotifyProject,
) -> None:
    with webhook_receiver(SECRET, fail_first=1) as receiver:
        project = notify_project(receiver.url)
        [result] = publish(project, _event(), retry_within=0)
        store = MetadataStore.open(project)
        try:
            # Another process holds it (publishing, retrying in-process): not sent here.
            with store.session() as session:
                session.execute(
                    update(NotificationDelivery).values(
                        next_attempt_at=utcnow() - timedelta(seconds=1),
                        locked_until=utcnow() + timedelta(minutes=1),
                        lock_token="other",
                    )
                )
            assert deliver_due(project, store) == []
            # That process died: once its lease ends, the delivery is sent.
            with store.session() as session:
                session.execute(
                    update(NotificationDelivery).values(
                        locked_until=utcnow() - timedelta(seconds=1)
                    )
                )
            [done] = deliver_due(project, store)
        finally:
            store.close()
    assert (done.delivery_id, done.status, done.attempts) == (result.delivery_id, "delivered", 2)


def test_send_test(notify_project: NotifyProject) -> None:
    with webhook_receiver(SECRET, always=503) as receiver:
        project = notify_project(receiver.url)
        store = MetadataStore.open(project)
        try:
            result = send_test(project, store, rule="all")
            with store.session() as session:
                kinds = list(session.scalars(select(NotificationEventRecord.kind)))
        finally:
            store.close()
    # A test is tried once, whatever the answer: it reports the channel as it is now.
    assert (result.status, result.attempts, result.status_code) == ("failed", 1, 503)
    assert kinds == ["test"]
    assert receiver.requests[0].json["kind"] == "test"
