"""`headwater governance drift | accept | freshness` and `headwater monitoring`."""

from __future__ import annotations

from typer.testing import CliRunner

from headwater.cli.main import app
from headwater.governance.drift import check_drift
from headwater.store import MetadataStore, list_audit
from tests.conftest import MakeProject

PROJECT = """
project: {name: gov_cli}
sources:
  shop: {type: files, tables: {items: {path: items.csv}, users: {path: users.csv}}}
"""


def test_drift_listing_and_accept_from_the_cli_are_audited(make_project: MakeProject) -> None:
    project = make_project(PROJECT)
    store = MetadataStore.open(project)
    check_drift(project, store, "shop", {"items": {"id": "bigint", "name": "text"}})
    check_drift(project, store, "shop", {"items": {"id": "bigint"}})
    runner = CliRunner()
    where = ["--project", str(project.file)]

    listed = runner.invoke(app, ["governance", "drift", "shop", *where])
    assert listed.exit_code == 0, listed.output
    assert "shop.items" in listed.output and "name removed" in listed.output
    assert "open" in listed.output and "1 of 1 drift events" in listed.output

    unknown = runner.invoke(app, ["governance", "accept", "shopp", *where])
    assert unknown.exit_code == 1 and "known: shop" in unknown.output
    no_table = runner.invoke(app, ["governance", "accept", "shop", "--table", "users", *where])
    assert no_table.exit_code == 1 and "tables with one: items" in no_table.output

    accepted = runner.invoke(app, ["governance", "accept", "shop", *where])
    assert accepted.exit_code == 0, accepted.output
    assert "accepted 1 breaking drift events of shop" in accepted.output
    again = runner.invoke(app, ["governance", "accept", "shop", *where])
    assert "shop: no drift to accept" in again.output
    with store.session() as session:
        entries, total = list_audit(session, action="headwater governance accept")
        assert total == 2
        assert entries[1].method == "CLI" and entries[1].user_email.startswith("cli:")
        assert entries[1].detail == "accepted 1 drift events; baseline set for items"
    store.close()

    never = runner.invoke(app, ["monitoring", *where])
    assert never.exit_code == 1 and "headwater monitoring --run" in never.output
