"""Source schema changes while changes flow: added columns, safe widening, and drift."""

from __future__ import annotations

import pytest

from connectors.postgres_cdc.replicator import Replicator
from connectors.postgres_cdc.status import cdc_status, schema_health
from headwater.cdc.merge import live_columns
from headwater.warehouse import Warehouse
from tests.cdc.conftest import CdcSource, assert_same, source_rows, warehouse_rows
from tests.cdc.test_replication import drain

pytestmark = pytest.mark.slow


def test_added_column_and_widened_types_follow(cdc_source: CdcSource) -> None:
    cdc_source.execute(
        "CREATE TABLE items (id integer PRIMARY KEY, qty integer, price numeric(8,2), "
        "label varchar(10))"
    )
    cdc_source.execute("INSERT INTO items VALUES (1, 1, 1.50, 'a'), (2, 2, 2.50, 'b')")
    project = cdc_source.project(tables="items: {}")
    replicator = Replicator(project, cdc_source.name)
    replicator.prepare()
    cdc_source.execute("INSERT INTO items VALUES (3, 3, 3.50, 'c')")
    cdc_source.execute("ALTER TABLE items ADD COLUMN color text")
    cdc_source.execute("UPDATE items SET color = 'red' WHERE id = 1")
    cdc_source.execute("ALTER TABLE items ALTER COLUMN qty TYPE bigint")
    cdc_source.execute("ALTER TABLE items ALTER COLUMN price TYPE numeric(14,2)")
    cdc_source.execute("ALTER TABLE items ALTER COLUMN label TYPE varchar(200)")
    cdc_source.execute(
        "INSERT INTO items VALUES (4, 9000000000, 123456789.25, %s, 'blue')", ("x" * 150,)
    )
    drain(replicator)
    with Warehouse(project).reader() as conn:
        live = live_columns(conn, replicator.schema, "items")
    assert (
        live["qty"] == "BIGINT" and live["price"] == "DECIMAL(14,2)" and live["color"] == "VARCHAR"
    )
    columns = ["id", "qty", "price", "label", "color"]
    assert_same(
        source_rows(cdc_source, "items", columns),
        warehouse_rows(project, replicator.schema, "items", columns),
    )
    assert all(row.status == "match" for row in schema_health(replicator))


def test_incompatible_change_is_drift_until_resync(cdc_source: CdcSource) -> None:
    cdc_source.execute("CREATE TABLE items (id integer PRIMARY KEY, code text)")
    cdc_source.execute("CREATE TABLE other (id integer PRIMARY KEY)")
    cdc_source.execute("INSERT INTO items VALUES (1, '10'), (2, '20')")
    project = cdc_source.project(tables="items: {}\nother: {}")
    replicator = Replicator(project, cdc_source.name)
    replicator.prepare()
    cdc_source.execute("ALTER TABLE items ALTER COLUMN code TYPE integer USING code::integer")
    cdc_source.execute("UPDATE items SET code = 30 WHERE id = 1")
    cdc_source.execute("INSERT INTO other VALUES (1)")
    result = replicator.run_batch()
    assert "items" in result.drift and "code" in result.drift["items"]
    # The other table keeps streaming; the drifted one is left exactly as it was.
    assert warehouse_rows(project, replicator.schema, "other", ["id"]) == [(1,)]
    assert sorted(warehouse_rows(project, replicator.schema, "items", ["id", "code"])) == [
        (1, "10"),
        (2, "20"),
    ]
    status = cdc_status(replicator)
    assert [t.status for t in status.tables if t.table == "items"] == ["drift"]
    assert any("items" in reason for reason in status.needs_attention)
    health = {(row.table, row.column): row for row in schema_health(replicator)}
    assert health[("items", "code")].status == "drift"
    assert health[("items", "code")].live_type == "VARCHAR"
    assert health[("items", "code")].expected_type == "INTEGER"
    # Changes to the drifted table are not applied, but the slot moves on.
    cdc_source.execute("UPDATE items SET code = 40 WHERE id = 2")
    drain(replicator)
    snapshots = replicator.prepare(resync=["items"])
    assert [s.table for s in snapshots] == ["items"]
    cdc_source.execute("INSERT INTO items VALUES (3, 50)")
    drain(replicator)
    assert_same(
        source_rows(cdc_source, "items", ["id", "code"]),
        warehouse_rows(project, replicator.schema, "items", ["id", "code"]),
    )
    assert all(t.status == "streaming" for t in cdc_status(replicator).tables)
