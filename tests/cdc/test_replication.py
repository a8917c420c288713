"""Snapshot plus change batches from a real PostgreSQL slot into the real warehouse."""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest
from psycopg.types.json import Jsonb

from connectors.postgres_cdc.replicator import Replicator
from headwater.cdc.state import read_states
from headwater.warehouse import Warehouse
from tests.cdc.conftest import CdcSource, assert_same, source_rows, warehouse_rows

ACCOUNT_COLUMNS = [
    "id",
    "name",
    "balance",
    "opened",
    "meta",
    "tags",
    "ref",
    "note",
    "active",
    "level",
    "born",
    "score",
]
ACCOUNT_JSON = ("meta",)
LINE_COLUMNS = ["order_id", "line", "sku", "qty"]

SCHEMA = """
CREATE TABLE accounts (
  id bigint PRIMARY KEY, name text, balance numeric(12,2), opened timestamptz, meta jsonb,
  tags text[], ref uuid, note text, active boolean, level smallint, born date,
  score double precision);
CREATE TABLE lines (
  order_id integer, line integer, sku varchar(20), qty integer, PRIMARY KEY (order_id, line));
CREATE TABLE notes_nokey (body text, n integer);
ALTER TABLE notes_nokey REPLICA IDENTITY FULL;
"""


def drain(replicator: Replicator) -> list[dict[str, int]]:
    """Apply batches until the slot is caught up; the counts of each batch."""
    counts = []
    while True:
        result = replicator.run_batch()
        counts.append(result.counts)
        if result.drained:
            return counts


def assert_tables_equal(cdc: CdcSource, replicator: Replicator, soft: bool = False) -> None:
    project = replicator.project
    schema = replicator.schema
    live = "WHERE _hw_deleted_at IS NULL" if soft else ""
    assert_same(
        source_rows(cdc, "accounts", ACCOUNT_COLUMNS, ACCOUNT_JSON),
        warehouse_rows(project, schema, "accounts", ACCOUNT_COLUMNS, ACCOUNT_JSON, live),
    )
    assert_same(
        source_rows(cdc, "lines", LINE_COLUMNS),
        warehouse_rows(project, schema, "lines", LINE_COLUMNS, where=live),
    )


class Workload:
    """Random transactions over the source tables, with a model of which keys exist."""

    def __init__(self, cdc: CdcSource, seed: int) -> None:
        self.cdc = cdc
        self.rng = random.Random(seed)
        self.accounts: set[int] = set()
        self.next_id = 1
        self.lines: set[tuple[int, int]] = set()
        self.gone: set[int] = set()
        """Account keys deleted, or moved away by a key update."""

    def account_values(self, key: int) -> dict[str, Any]:
        rng = self.rng
        big = rng.random() < 0.05
        return {
            "id": key,
            "name": rng.choice([None, "", "Ann O'Neil", 'Zoë "Z" Ünal', f"name {key}", "a,b\\c"]),
            "balance": rng.choice(
                [None, "0.00", "-12.50", f"{rng.randint(-(10**9), 10**9)}.{rng.randint(0, 99):02d}"]
            ),
            "opened": rng.choice(
                [None, "2024-02-29 23:59:59.123456+05:30", "1999-12-31 00:00:00+00"]
            ),
            "meta": rng.choice(
                [None, Jsonb({"k": key, "nested": {"a": [1, 2, None]}}), Jsonb([]), Jsonb("text")]
            ),
            "tags": rng.choice([None, [], ["a", "b c", "NULL", 'q"uote', "{brace}"], ["x", None]]),
            "ref": rng.choice([None, str(uuid.UUID(int=rng.getrandbits(128)))]),
            # Large values are TOASTed: later updates that leave them alone send no value.
            "note": "".join(rng.choices("abcdefghij \n\t,", k=200_000))
            if big
            else rng.choice([None, "short"]),
            "active": rng.choice([None, True, False]),
            "level": rng.choice([None, -32768, 0, 32767]),
            "born": rng.choice([None, "2000-01-01", "1970-06-15"]),
            "score": rng.choice([None, 0.1, -1e300, 3.141592653589793]),
        }

    def transaction(self) -> None:
        """One transaction of a few random changes; one in ten rolls back."""
        rng = self.rng
        before = (set(self.accounts), self.next_id, set(self.lines), set(self.gone))
        rollback = rng.random() < 0.1
        try:
            with self.cdc.pg.transaction():
                self.cdc.pg.execute(f"SET LOCAL search_path TO {self.cdc.schema}")
                for _ in range(rng.randint(1, 8)):
                    self.change()
                if rollback:
                    raise _RollbackError
        except _RollbackError:
            self.accounts, self.next_id, self.lines, self.gone = before

    def change(self) -> None:
        rng, pg = self.rng, self.cdc.pg
        op = rng.random()
        if op < 0.4 or not self.accounts:
            values = self.account_values(self.next_id)
            self.accounts.add(self.next_id)
            self.next_id += 1
            pg.execute(
                "INSERT INTO accounts VALUES (%(id)s, %(name)s, %(balance)s, %(opened)s, "
                "%(meta)s, %(tags)s, %(ref)s, %(note)s, %(active)s, %(level)s, %(born)s, "
                "%(score)s)",
                values,
            )
        elif op < 0.7:
            key = rng.choice(sorted(self.accounts))
            pg.execute(
                "UPDATE accounts SET balance = balance + 1, active = NOT active, name = %s "
                "WHERE id = %s",
                (f"updated {rng.random()}", key),
            )
        elif op < 0.8:
            key = rng.choice(sorted(self.accounts))
            new_key = self.next_id
            self.next_id += 1
            pg.execute("UPDATE accounts SET id = %s WHERE id = %s", (new_key, key))
            self.accounts.discard(key)
            self.accounts.add(new_key)
            self.gone.add(key)
        elif op < 0.9:
            key = rng.choice(sorted(self.accounts))
            pg.execute("DELETE FROM accounts WHERE id = %s", (key,))
            self.accounts.discard(key)
            self.gone.add(key)
        else:
            order, line = rng.randint(1, 30), rng.randint(1, 5)
            if (order, line) in self.lines and rng.random() < 0.5:
                pg.execute("DELETE FROM lines WHERE order_id = %s AND line = %s", (order, line))
                self.lines.discard((order, line))
            else:
                pg.execute(
                    "INSERT INTO lines VALUES (%s, %s, %s, %s) ON CONFLICT (order_id, line) "
                    "DO UPDATE SET qty = lines.qty + 1",
                    (order, line, f"sku-{order}", rng.randint(1, 9)),
                )
                self.lines.add((order, line))


class _RollbackError(Exception):
    pass


@pytest.mark.slow
@pytest.mark.parametrize("deletes", ["hard", "soft"])
def test_random_workload_matches_the_source(cdc_source: CdcSource, deletes: str) -> None:
    cdc_source.execute(SCHEMA)
    workload = Workload(cdc_source, seed=7 if deletes == "hard" else 11)
    for _ in range(40):  # rows that exist before the snapshot
        workload.transaction()
    project = cdc_source.project(f"deletes: {deletes}", tables="accounts: {}\nlines: {}")
    replicator = Replicator(project, cdc_source.name)
    snapshots = replicator.prepare()
    assert {s.table for s in snapshots} == {"accounts", "lines"}
    assert_tables_equal(cdc_source, replicator, soft=deletes == "soft")
    workload.gone.clear()  # keys gone before the snapshot never reached the warehouse
    for _round in range(4):
        for _ in range(60):
            workload.transaction()
        drain(replicator)
        assert_tables_equal(cdc_source, replicator, soft=deletes == "soft")
    if deletes == "soft":
        with Warehouse(project).reader() as conn:
            marked = {
                row[0]
                for row in conn.execute(
                    f'SELECT id FROM "{replicator.schema}".accounts '
                    "WHERE _hw_deleted_at IS NOT NULL"
                ).fetchall()
            }
        # Every key deleted (or moved by a key update) after the snapshot is marked.
        assert marked == workload.gone - workload.accounts
        assert marked


def test_a_replay_of_applied_changes_changes_nothing(cdc_source: CdcSource) -> None:
    cdc_source.execute(SCHEMA)
    project = cdc_source.project(tables="accounts: {}\nlines: {}")
    replicator = Replicator(project, cdc_source.name)
    replicator.prepare()
    workload = Workload(cdc_source, seed=3)
    for _ in range(30):
        workload.transaction()
    # A copy of the slot keeps the position from before the batches: reading from it later
    # replays them, as a run that died before confirming would.
    copy = f"{replicator.slot}_copy"
    with replicator.db.session() as pg:
        pg.execute("SELECT pg_copy_logical_replication_slot(%s, %s)", (replicator.slot, copy))
    assert sum(sum(counts.values()) for counts in drain(replicator)) > 0
    with Warehouse(project).reader() as conn:
        applied = read_states(conn, cdc_source.name)
    replicator.slot = copy
    replayed = drain(replicator)
    assert all(counts == {} for counts in replayed)
    with Warehouse(project).reader() as conn:
        assert read_states(conn, cdc_source.name) == applied
    assert_tables_equal(cdc_source, replicator)


def test_no_key_table_with_full_identity(cdc_source: CdcSource) -> None:
    cdc_source.execute(SCHEMA)
    cdc_source.execute("INSERT INTO notes_nokey VALUES ('a', 1), ('b', 2)")
    project = cdc_source.project(tables="notes_nokey: {}")
    replicator = Replicator(project, cdc_source.name)
    replicator.prepare()
    cdc_source.execute("UPDATE notes_nokey SET n = 20 WHERE body = 'b'")
    cdc_source.execute("DELETE FROM notes_nokey WHERE body = 'a'")
    cdc_source.execute("INSERT INTO notes_nokey VALUES ('c', NULL)")
    drain(replicator)
    columns = ["body", "n"]
    assert_same(
        source_rows(cdc_source, "notes_nokey", columns),
        warehouse_rows(project, replicator.schema, "notes_nokey", columns),
    )


def test_truncate_empties_the_table(cdc_source: CdcSource) -> None:
    cdc_source.execute(SCHEMA)
    cdc_source.execute("INSERT INTO lines VALUES (1, 1, 'a', 1), (1, 2, 'b', 2)")
    project = cdc_source.project(tables="lines: {}")
    replicator = Replicator(project, cdc_source.name)
    replicator.prepare()
    cdc_source.execute("TRUNCATE lines")
    cdc_source.execute("INSERT INTO lines VALUES (2, 1, 'c', 3)")
    drain(replicator)
    assert warehouse_rows(project, replicator.schema, "lines", LINE_COLUMNS) == [(2, 1, "c", 3)]
