"""PII scans of real warehouse tables: findings, overrides, new-PII notifications sent once
to a local receiver that checks signatures, the after-sync hook and its Prefect event."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from prefect import flow
from prefect.runtime import flow_run
from sqlalchemy import select

from headwater.config import Project
from headwater.governance.pii import (
    PII_DETECTED_EVENT,
    sample_values,
    scan_after_sync,
    scan_table,
)
from headwater.governance.pii_lineage import effective_pii, pii_columns
from headwater.store import MetadataStore
from headwater.store.notifications import NotificationEventRecord
from headwater.store.pii import PiiFinding
from headwater.warehouse import Warehouse
from tests.conftest import MakeProject, wait_for_event
from tests.notify.conftest import SECRET, SECRET_ENV
from tests.notify.receiver import webhook_receiver

ROWS = 100

PEOPLE_SQL = f"""
CREATE OR REPLACE TABLE raw_crm.people AS
SELECT i AS id,
       'user' || i || '@example.com' AS contact,
       '+351 91' || lpad(CAST(i AS VARCHAR), 7, '0') AS tel,
       -- 3 in 4 are valid cards; every 4th fails the Luhn check
       CASE WHEN i % 4 = 0 THEN '4111 1111 1111 1112' ELSE '4111 1111 1111 1111' END AS card,
       CASE WHEN i % 2 = 0 THEN 'DE89370400440532013000' ELSE 'GB82WEST12345698765432' END
           AS account,
       '10.0.' || (i % 7) || '.' || i AS client,
       'v1.' || (i % 5) || '.' || i AS app_version,
       CAST(100000000 + i AS VARCHAR) AS legacy_id,
       'order ' || i || ' shipped' AS note,
       DATE '1980-01-01' + CAST(i AS INTEGER) AS dob,
       CASE WHEN i % 10 = 0 THEN NULL ELSE 'x' || i || '@example.org' END AS sometimes_mail,
       'row-' || i AS _dlt_id
FROM range(1, {ROWS} + 1) t(i)
"""
"""Emails, phones, cards (75 % Luhn-valid), IBANs, IPs; versions, ids and notes that are
clean; a DATE found by its name; dlt's own column."""

ProjectFor = Callable[..., Project]


@pytest.fixture
def project_for(make_project: MakeProject, monkeypatch: pytest.MonkeyPatch) -> ProjectFor:
    """A project with source crm (table people written), new_pii sent to `url`."""
    monkeypatch.setenv(SECRET_ENV, SECRET)

    def make(url: str = "http://127.0.0.1:9/none", overrides: list[dict[str, Any]] | None = None,
             rules: bool = True) -> Project:
        notifications = {
            "backoff_seconds": 0.05,
            "channels": {"hook": {"url": url, "secret_env": SECRET_ENV}},
            "rules": {"pii": {"events": ["new_pii"], "channel": "hook"}} if rules else {},
        }
        project = make_project(
            f"""
            project: {{name: pii_test}}
            sources:
              crm: {{type: files, tables: {{people: {{path: people.csv}}}}}}
              shop: {{type: files, tables: {{orders: {{path: orders.csv}}}}}}
            governance:
              pii_sample_rows: 1000
              pii_overrides: {json.dumps(overrides or [])}
            notifications: {json.dumps(notifications)}
            """
        )
        with Warehouse(project).writer() as conn:
            conn.execute("CREATE SCHEMA IF NOT EXISTS raw_crm")
            conn.execute(PEOPLE_SQL)
        return project

    return make


def _kinds(findings: list[Any]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for finding in findings:
        found.setdefault(finding.column, set()).add(finding.kind)
    return found


def test_scan_finds_each_kind_and_leaves_clean_columns(project_for: ProjectFor) -> None:
    project = project_for(rules=False)
    scan = scan_table(project, "crm", "people")

    assert scan.sampled_rows == ROWS
    assert _kinds(scan.findings) == {
        "contact": {"email"},
        "tel": {"phone"},
        "card": {"card_number"},
        "account": {"iban"},
        "client": {"ip_address"},
        "dob": {"birth_date"},
        "sometimes_mail": {"email"},
    }
    by_column = {f.column: f for f in scan.findings}
    assert by_column["card"].share == 0.75 and by_column["card"].matches == 75
    assert by_column["contact"].share == 1.0 and by_column["contact"].sample_size == ROWS
    # NULLs are not samples: 90 non-empty values, all emails.
    assert by_column["sometimes_mail"].sample_size == 90
    assert by_column["sometimes_mail"].share == 1.0
    assert by_column["contact"].masked_example == "u***@e***.com"
    assert by_column["contact"].evidence == ["values"]
    # A DATE column is not value-scanned: its name is the evidence.
    dob = by_column["dob"]
    assert dob.share is None and dob.evidence == ["name_hint"]
    assert scan.text_columns == ["contact", "tel", "card", "account", "client", "app_version",
                                 "legacy_id", "note", "sometimes_mail"]
    assert {f.column for f in scan.new} == set(by_column)

    # Sampling reads at most the rows asked for.
    with Warehouse(project).reader() as conn:
        sampled, values = sample_values(conn, "raw_crm", "people", ["contact", "note"], 30)
    assert sampled == 30 and len(values["contact"]) == 30 and len(set(values["note"])) == 30

    # One row per (column, kind); no sampled value reaches the metadata DB.
    store = MetadataStore.open(project)
    try:
        with store.session() as session:
            assert len(list(session.scalars(select(PiiFinding)))) == 7
    finally:
        store.close()
    db_file = project.path(project.config.store.path)
    stored = b"".join(p.read_bytes() for p in db_file.parent.glob(db_file.name + "*"))
    for value in ("user7@example.com", "example.com", "+351 910000007", "DE8937040044"):
        assert value.encode() not in stored


def test_overrides_win_both_ways(project_for: ProjectFor) -> None:
    overrides = [
        {"source": "crm", "table": "people", "column": "tel", "pii": False,
         "reason": "a shop's switchboard numbers"},
        {"source": "crm", "table": "people", "column": "note", "pii": True,
         "reason": "free text may name people"},
        {"source": "shop", "table": "orders", "column": "gift_message", "pii": True,
         "reason": "free text"},
    ]  # fmt: skip
    with webhook_receiver(SECRET) as receiver:
        project = project_for(receiver.url, overrides)
        scan = scan_table(project, "crm", "people")
    # tel was found, but it is declared not PII: not announced as new.
    assert "tel" in {f.column for f in scan.findings}
    assert "tel" not in {f.column for f in scan.new}
    [sent] = receiver.accepted
    assert "tel" not in {c["column"] for c in sent.json["details"]["columns"]}

    store = MetadataStore.open(project)
    try:
        columns = {(c.relation, c.column): c for c in effective_pii(project, store)}
        flags = pii_columns(project, store)
    finally:
        store.close()
    tel = columns[("raw_crm.people", "tel")]
    assert tel.kinds == ["phone"] and tel.overridden and not tel.pii and not tel.new
    assert tel.override_reason == "a shop's switchboard numbers"
    note = columns[("raw_crm.people", "note")]
    assert note.pii and note.overridden and note.kinds == ["declared"] and note.findings == []
    gift = columns[("raw_shop.orders", "gift_message")]
    assert gift.pii and gift.source == "shop"
    assert "tel" not in flags["raw_crm.people"] and flags["raw_crm.people"]["note"] == ["declared"]
    assert flags["raw_crm.people"]["contact"] == ["email"]
    assert columns[("raw_crm.people", "contact")].new


def test_new_pii_is_notified_once_then_only_for_new_columns(project_for: ProjectFor) -> None:
    with webhook_receiver(SECRET) as receiver:
        project = project_for(receiver.url)
        first = scan_table(project, "crm", "people")
        again = scan_table(project, "crm", "people")
        assert first.notified and not again.notified and again.new == []
        [sent] = receiver.accepted
        body = sent.json
        assert body["kind"] == "new_pii" and body["source"] == "crm"
        assert body["details"]["table"] == "people"
        columns = {c["column"]: c for c in body["details"]["columns"]}
        assert set(columns) == {"contact", "tel", "card", "account", "client", "dob",
                                "sometimes_mail"}
        assert columns["card"] == {"column": "card", "kind": "card_number", "share": 0.75}
        assert "contact" in body["summary"]

        # The table changes: a new email column appears, the cards are gone.
        with Warehouse(project).writer() as conn:
            conn.execute(
                "CREATE OR REPLACE TABLE raw_crm.people AS SELECT id, contact, "
                "'a' || id || '@b.io' AS backup_email FROM raw_crm.people"
            )
        third = scan_table(project, "crm", "people")
    assert [(f.column, f.kind) for f in third.new] == [("backup_email", "email")]
    assert len(receiver.accepted) == 2
    assert [c["column"] for c in receiver.accepted[1].json["details"]["columns"]] == [
        "backup_email"
    ]
    store = MetadataStore.open(project)
    try:
        with store.session() as session:
            events = list(session.scalars(select(NotificationEventRecord)))
        listed = {c.column: c for c in effective_pii(project, store, models=False)}
    finally:
        store.close()
    assert [e.kind for e in events] == ["new_pii", "new_pii"]
    # Findings the latest scan no longer made are not listed; seen-before ones are not new.
    assert set(listed) == {"contact", "backup_email"}
    assert listed["backup_email"].new and not listed["contact"].new


def test_scan_after_sync_never_raises_and_skips_empty_loads(project_for: ProjectFor) -> None:
    project = project_for(rules=False)
    tables = [{"table": "people", "rows": 5}, {"table": "empty", "rows": 0},
              {"table": "gone", "rows": 3}]  # fmt: skip
    [scan] = scan_after_sync(project, "crm", tables)
    assert scan.table == "people" and scan.profiled and len(scan.findings) == 7
    assert scan_after_sync(project, "crm", [{"table": "people", "rows": 0}]) == []
    # governance.profile_after_sync: false scans but leaves profiling to on-demand calls.
    no_profiles = project.config.governance.model_copy(update={"profile_after_sync": False})
    config = project.config.model_copy(update={"governance": no_profiles})
    [scan] = scan_after_sync(Project(config=config, file=project.file), "crm", tables[:1])
    assert not scan.profiled and len(scan.findings) == 7
    assert scan_after_sync(project, "no_such_source", [{"table": "x", "rows": 1}]) == []
    with pytest.raises(Exception, match="no table 'gone'"):
        scan_table(project, "crm", "gone")


@pytest.mark.slow
def test_a_scan_in_a_flow_emits_a_prefect_event(project_for: ProjectFor, prefect_api: str) -> None:
    project = project_for(rules=False)
    name = f"pii-{uuid.uuid4().hex[:8]}"

    @flow(name=name)
    def after_sync() -> str:
        scan_after_sync(project, "crm", [{"table": "people", "rows": ROWS}])
        return str(flow_run.id)

    run_id = after_sync()
    payload = wait_for_event(prefect_api, PII_DETECTED_EVENT, run_id)
    assert payload["source"] == "crm" and payload["table"] == "people"
    assert {c["column"] for c in payload["columns"]} >= {"contact", "card"}
