"""decode_batch against the real PostgreSQL: a logical slot per test, changes made with SQL,
read with pg_logical_slot_peek_binary_changes and reduced."""

from __future__ import annotations

import random
import string
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from connectors.postgres_cdc.changes import (
    TableRules,
    decode_batch,
    format_lsn,
    parse_lsn,
)
from connectors.postgres_cdc.connection import SourceDatabase
from connectors.postgres_cdc.pgoutput import Begin, Commit, decode_all
from headwater.cdc.batch import (
    META_COMMITTED_AT,
    META_LSN,
    META_OP,
    META_RESOLVE_FROM,
    META_UNRESOLVED,
    OP_DELETE,
    OP_UPSERT,
    ChangeBatch,
    TableChanges,
)
from headwater.config.sources import DeleteMode

pytestmark = pytest.mark.postgres

_BASE_TYPE = """
SELECT format_type(CASE WHEN typtype = 'd' THEN typbasetype ELSE oid END,
                   CASE WHEN typtype = 'd' THEN typtypmod ELSE %(typmod)s END)
FROM pg_type WHERE oid = %(oid)s
"""


@dataclass
class Stream:
    """A publication and a logical slot (same name) of some tables of the sandbox."""

    conn: psycopg.Connection
    name: str
    schema: str

    def peek(self) -> list[bytes]:
        """Every message in the slot, without consuming it."""
        rows = self.conn.execute(
            "SELECT data FROM pg_logical_slot_peek_binary_changes(%s, NULL, NULL, "
            "'proto_version', '1', 'publication_names', %s)",
            (self.name, self.name),
        ).fetchall()
        return [bytes(row[0]) for row in rows]

    def type_name(self, oid: int, typmod: int) -> str:
        """format_type of the base type, like the connector's type namer."""
        row = self.conn.execute(_BASE_TYPE, {"oid": oid, "typmod": typmod}).fetchone()
        assert row is not None
        return str(row[0])

    def batch(
        self, tables: dict[str, TableRules], messages: list[bytes] | None = None
    ) -> ChangeBatch:
        """decode_batch of the slot's messages (or of `messages`)."""
        return decode_batch(
            self.peek() if messages is None else messages,
            schema=self.schema,
            tables=tables,
            type_namer=self.type_name,
        )


@dataclass
class Sandbox:
    """A schema of its own on the test server; everything made in it is dropped after."""

    conn: psycopg.Connection
    schema: str
    stack: ExitStack

    def sql(self, query: str, params: Any = None) -> None:
        """Run one statement (autocommit: each is its own transaction)."""
        self.conn.execute(query, params)

    def stream(self, *tables: str) -> Stream:
        """Publish `tables` and create a logical slot: changes from now on are captured."""
        name = f"{self.schema}_slot"
        qualified = ", ".join(f"{self.schema}.{table}" for table in tables)
        self.sql(f"CREATE PUBLICATION {name} FOR TABLE {qualified}")
        self.stack.callback(self.sql, f"DROP PUBLICATION IF EXISTS {name}")
        self.sql("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (name,))
        # Registered last, so dropped first: a slot left behind pins WAL forever.
        self.stack.callback(self.sql, "SELECT pg_drop_replication_slot(%s)", (name,))
        return Stream(self.conn, name, self.schema)


def libpq_url(pg_url: str) -> str:
    """The SQLAlchemy URL of the pg_url fixture as a libpq URL."""
    return pg_url.replace("postgresql+psycopg://", "postgresql://", 1)


@contextmanager
def open_sandbox(pg_url: str, name: str) -> Iterator[Sandbox]:
    """A fresh schema `name` on the test PostgreSQL, in a session with the connector's
    settings; dropped with its slot and publication on exit."""
    conn = SourceDatabase("test", libpq_url(pg_url)).connect()
    with conn, ExitStack() as stack:
        conn.execute(f"CREATE SCHEMA {name}")
        stack.callback(conn.execute, f"DROP SCHEMA {name} CASCADE")
        conn.execute(f"SET search_path = {name}")
        yield Sandbox(conn, name, stack)


@pytest.fixture
def sandbox(pg_url: str, unique_name: str) -> Iterator[Sandbox]:
    """open_sandbox as a fixture."""
    with open_sandbox(pg_url, unique_name) as box:
        yield box


def rules(key: list[str], watermark: int = 0, deletes: DeleteMode = "hard") -> TableRules:
    """TableRules with defaults."""
    return TableRules(primary_key=key, watermark=watermark, deletes=deletes)


def by_key(changes: TableChanges, *key: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The batch rows of a table by key value(s)."""
    rows = changes.rows.to_pylist()
    assert len(rows) == len({tuple(row[k] for k in key) for row in rows}), "one row per key"
    return {tuple(row[k] for k in key): row for row in rows}


def current_lsn(sandbox: Sandbox) -> str:
    """The server's current WAL position as text."""
    row = sandbox.conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
    assert row is not None
    return str(row[0])


def random_text(size: int) -> str:
    """Incompressible text, so PostgreSQL stores it out of line (TOAST)."""
    return "".join(random.choices(string.ascii_letters + string.digits, k=size))


def test_insert_update_delete_and_key_change(sandbox: Sandbox) -> None:
    sandbox.sql("CREATE TABLE items (id int PRIMARY KEY, name text, qty int)")
    sandbox.sql("CREATE TABLE ignored (id int PRIMARY KEY)")
    stream = sandbox.stream("items", "ignored")
    before = datetime.now(UTC)
    sandbox.sql("INSERT INTO items VALUES (1, 'one', 1), (2, 'two', 2), (3, 'three', 3)")
    sandbox.sql("INSERT INTO ignored VALUES (1)")
    sandbox.sql("UPDATE items SET name = 'uno', qty = NULL WHERE id = 1")
    sandbox.sql("DELETE FROM items WHERE id = 2")
    sandbox.sql("UPDATE items SET id = 30 WHERE id = 3")
    lsn_after = parse_lsn(current_lsn(sandbox))

    batch = stream.batch({"items": rules(["id"])})

    assert list(batch.tables) == ["items"]
    items = batch.tables["items"]
    assert [(c.name, c.source_type, c.warehouse_type, c.primary_key) for c in items.columns] == [
        ("id", "integer", "INTEGER", True),
        ("name", "text", "VARCHAR", False),
        ("qty", "integer", "INTEGER", False),
    ]
    assert items.key == ["id"]
    assert not items.truncated
    assert items.counts == {"insert": 3, "update": 2, "delete": 1, "truncate": 0}
    rows = by_key(items, "id")
    assert set(rows) == {("1",), ("2",), ("3",), ("30",)}
    assert rows[("1",)] | {META_LSN: 0, META_COMMITTED_AT: None} == {
        META_OP: OP_UPSERT, META_LSN: 0, META_COMMITTED_AT: None, META_UNRESOLVED: [],
        META_RESOLVE_FROM: None, "id": "1", "name": "uno", "qty": None,
    }
    assert rows[("2",)][META_OP] == OP_DELETE
    assert rows[("2",)][META_UNRESOLVED] == ["name", "qty"]
    assert (rows[("2",)]["name"], rows[("2",)]["qty"]) == (None, None)
    # The key change: a delete of the old key, before the upsert of the new one.
    assert rows[("3",)][META_OP] == OP_DELETE
    assert rows[("30",)] | {META_LSN: 0, META_COMMITTED_AT: None} == {
        META_OP: OP_UPSERT, META_LSN: 0, META_COMMITTED_AT: None, META_UNRESOLVED: [],
        META_RESOLVE_FROM: None, "id": "30", "name": "three", "qty": "3",
    }
    ids = items.rows.column("id").to_pylist()
    assert ids.index("3") < ids.index("30")
    assert rows[("3",)][META_LSN] == rows[("30",)][META_LSN] == batch.end_lsn
    assert rows[("1",)][META_LSN] < rows[("2",)][META_LSN] < batch.end_lsn <= lsn_after
    assert batch.transactions == 5
    committed = [row[META_COMMITTED_AT] for row in rows.values()]
    assert all(before <= moment <= datetime.now(UTC) for moment in committed)
    assert batch.last_commit_at == rows[("30",)][META_COMMITTED_AT].timestamp()


def test_rolled_back_transactions_never_appear(sandbox: Sandbox) -> None:
    sandbox.sql("CREATE TABLE t (id int PRIMARY KEY, v text)")
    stream = sandbox.stream("t")
    with pytest.raises(RuntimeError), sandbox.conn.transaction():
        sandbox.sql("INSERT INTO t VALUES (1, 'rolled back')")
        raise RuntimeError("roll back")
    sandbox.sql("INSERT INTO t VALUES (2, 'kept')")

    batch = stream.batch({"t": rules(["id"])})

    assert batch.transactions == 1
    assert batch.tables["t"].rows.column("id").to_pylist() == ["2"]
    assert batch.tables["t"].counts["insert"] == 1


def test_nothing_to_read(sandbox: Sandbox) -> None:
    sandbox.sql("CREATE TABLE t (id int PRIMARY KEY)")
    stream = sandbox.stream("t")

    batch = stream.batch({"t": rules(["id"])})

    assert (batch.tables, batch.end_lsn, batch.transactions, batch.last_commit_at) == (
        {}, 0, 0, None,
    )


def test_toasted_value_resolved_in_batch_or_listed_unresolved(sandbox: Sandbox) -> None:
    sandbox.sql("CREATE TABLE docs (id int PRIMARY KEY, body text, note text)")
    sandbox.sql("ALTER TABLE docs ALTER COLUMN body SET STORAGE EXTERNAL")
    old_body, new_body = random_text(100_000), random_text(100_000)
    sandbox.sql("INSERT INTO docs VALUES (1, %s, 'before the slot')", (old_body,))
    sandbox.sql("INSERT INTO docs VALUES (3, %s, 'before the slot')", (old_body,))
    stream = sandbox.stream("docs")
    sandbox.sql("INSERT INTO docs VALUES (2, %s, 'new')", (new_body,))
    sandbox.sql("UPDATE docs SET note = 'edited' WHERE id IN (1, 2)")
    sandbox.sql("UPDATE docs SET note = 'edited' WHERE id = 3")
    sandbox.sql("DELETE FROM docs WHERE id = 3")

    messages = stream.peek()
    for tables in ({"docs": rules(["id"])}, {"docs": rules(["id"], deletes="soft")}):
        rows = by_key(stream.batch(tables, messages).tables["docs"], "id")
        # Row 1 was written before the batch: the update does not send the body again.
        assert (rows[("1",)]["body"], rows[("1",)][META_UNRESOLVED]) == (None, ["body"])
        assert rows[("1",)]["note"] == "edited"
        # Row 2's insert in the same batch had it.
        assert (rows[("2",)]["body"], rows[("2",)][META_UNRESOLVED]) == (new_body, [])
        assert rows[("2",)]["note"] == "edited"

    soft_rules = {"docs": rules(["id"], deletes="soft")}
    soft = by_key(stream.batch(soft_rules, messages).tables["docs"], "id")
    assert soft[("3",)][META_OP] == OP_DELETE
    assert (soft[("3",)]["note"], soft[("3",)]["body"]) == ("edited", None)
    assert soft[("3",)][META_UNRESOLVED] == ["body"]
    hard = by_key(stream.batch({"docs": rules(["id"])}, messages).tables["docs"], "id")
    assert (hard[("3",)]["note"], hard[("3",)][META_UNRESOLVED]) == (None, ["body", "note"])


def test_key_change_points_unresolved_values_at_the_old_key(sandbox: Sandbox) -> None:
    sandbox.sql("CREATE TABLE docs (id int PRIMARY KEY, body text, note text)")
    sandbox.sql("ALTER TABLE docs ALTER COLUMN body SET STORAGE EXTERNAL")
    sandbox.sql("INSERT INTO docs VALUES (1, %s, 'before the slot')", (random_text(100_000),))
    stream = sandbox.stream("docs")
    sandbox.sql("UPDATE docs SET id = 10 WHERE id = 1")
    sandbox.sql("UPDATE docs SET id = 20, note = 'moved twice' WHERE id = 10")

    rows = by_key(stream.batch({"docs": rules(["id"])}).tables["docs"], "id")
    # The body is still stored in the warehouse under key 1, where the snapshot put it.
    assert rows[("20",)][META_UNRESOLVED] == ["body"]
    assert rows[("20",)][META_RESOLVE_FROM] == ["1"]
    assert rows[("1",)][META_OP] == rows[("10",)][META_OP] == OP_DELETE


def test_soft_delete_carries_values_seen_in_batch(sandbox: Sandbox) -> None:
    sandbox.sql("CREATE TABLE t (id int PRIMARY KEY, v text, w text)")
    sandbox.sql("INSERT INTO t VALUES (2, 'old', 'old')")
    stream = sandbox.stream("t")
    sandbox.sql("INSERT INTO t VALUES (1, 'a', NULL)")
    sandbox.sql("DELETE FROM t")
    messages = stream.peek()

    soft = by_key(stream.batch({"t": rules(["id"], deletes="soft")}, messages).tables["t"], "id")
    assert [soft[(k,)][META_OP] for k in ("1", "2")] == [OP_DELETE, OP_DELETE]
    assert (soft[("1",)]["v"], soft[("1",)]["w"], soft[("1",)][META_UNRESOLVED]) == ("a", None, [])
    assert (soft[("2",)]["v"], soft[("2",)][META_UNRESOLVED]) == (None, ["v", "w"])
    hard = by_key(stream.batch({"t": rules(["id"])}, messages).tables["t"], "id")
    assert (hard[("1",)]["v"], hard[("1",)][META_UNRESOLVED]) == (None, ["v", "w"])


def test_replica_identity_full_without_key(sandbox: Sandbox) -> None:
    sandbox.sql("CREATE TABLE log (a int, b text, body text)")
    sandbox.sql("ALTER TABLE log REPLICA IDENTITY FULL")
    sandbox.sql("ALTER TABLE log ALTER COLUMN body SET STORAGE EXTERNAL")
    body = random_text(50_000)
    sandbox.sql("INSERT INTO log VALUES (9, 'big', %s)", (body,))
    stream = sandbox.stream("log")
    sandbox.sql("INSERT INTO log VALUES (1, 'x', NULL), (2, NULL, NULL)")
    sandbox.sql("UPDATE log SET b = 'y' WHERE a = 1")
    sandbox.sql("DELETE FROM log WHERE a = 2")
    sandbox.sql("UPDATE log SET b = 'bigger' WHERE a = 9")

    batch = stream.batch({"log": rules([])})

    changes = batch.tables["log"]
    assert changes.key == ["a", "b", "body"]
    assert all(column.primary_key for column in changes.columns)
    rows = {
        (row["a"], row["b"], row["body"]): (row[META_OP], row[META_UNRESOLVED])
        for row in changes.rows.to_pylist()
    }
    assert rows == {
        ("1", "x", None): (OP_DELETE, []),
        ("1", "y", None): (OP_UPSERT, []),
        ("2", None, None): (OP_DELETE, []),
        # The unchanged TOASTed body comes from the whole old row the update sent.
        ("9", "big", body): (OP_DELETE, []),
        ("9", "bigger", body): (OP_UPSERT, []),
    }
    assert changes.counts == {"insert": 2, "update": 2, "delete": 1, "truncate": 0}


def test_truncate_discards_earlier_rows(sandbox: Sandbox) -> None:
    sandbox.sql("CREATE TABLE t (id int PRIMARY KEY)")
    sandbox.sql("CREATE TABLE u (id int PRIMARY KEY)")
    stream = sandbox.stream("t", "u")
    sandbox.sql("INSERT INTO t VALUES (1)")
    sandbox.sql("TRUNCATE t, u")
    sandbox.sql("INSERT INTO t VALUES (2)")

    batch = stream.batch({"t": rules(["id"]), "u": rules(["id"])})

    assert batch.tables["t"].truncated
    assert batch.tables["t"].rows.column("id").to_pylist() == ["2"]
    assert batch.tables["t"].counts == {"insert": 2, "update": 0, "delete": 0, "truncate": 1}
    # Truncated and nothing after: still reported, with no rows.
    assert batch.tables["u"].truncated
    assert batch.tables["u"].rows.num_rows == 0
    assert batch.tables["u"].rows.column_names[:4] == [
        META_OP, META_LSN, META_COMMITTED_AT, META_UNRESOLVED,
    ]


def test_watermark_drops_older_transactions_per_table(sandbox: Sandbox) -> None:
    sandbox.sql("CREATE TABLE t (id int PRIMARY KEY)")
    sandbox.sql("CREATE TABLE u (id int PRIMARY KEY)")
    stream = sandbox.stream("t", "u")
    sandbox.sql("INSERT INTO t VALUES (1)")
    sandbox.sql("INSERT INTO u VALUES (1)")
    sandbox.sql("INSERT INTO t VALUES (2)")
    messages = stream.peek()
    begins = [m for m in decode_all(messages) if isinstance(m, Begin)]
    commits = [m for m in decode_all(messages) if isinstance(m, Commit)]
    assert len(begins) == 3

    # The watermark is the commit LSN of the transaction inserting (2) into t.
    batch = stream.batch(
        {"t": rules(["id"], watermark=begins[2].final_lsn), "u": rules(["id"], watermark=0)},
        messages,
    )
    assert batch.tables["t"].rows.column("id").to_pylist() == ["2"]
    assert batch.tables["t"].counts["insert"] == 1
    assert batch.tables["u"].rows.column("id").to_pylist() == ["1"]
    assert (batch.end_lsn, batch.transactions) == (commits[-1].end_lsn, 3)

    everything_older = stream.batch({"t": rules(["id"], watermark=commits[-1].end_lsn)}, messages)
    assert everything_older.tables == {}
    assert (everything_older.end_lsn, everything_older.transactions) == (commits[-1].end_lsn, 3)


def test_trailing_transaction_without_commit_is_left_out(sandbox: Sandbox) -> None:
    sandbox.sql("CREATE TABLE t (id int PRIMARY KEY)")
    stream = sandbox.stream("t")
    sandbox.sql("INSERT INTO t VALUES (1)")
    sandbox.sql("INSERT INTO t VALUES (2)")
    messages = stream.peek()
    first_end = next(m for m in decode_all(messages) if isinstance(m, Commit)).end_lsn

    batch = stream.batch({"t": rules(["id"])}, messages[:-1])

    assert batch.tables["t"].rows.column("id").to_pylist() == ["1"]
    assert (batch.end_lsn, batch.transactions) == (first_end, 1)


def test_relation_change_mid_batch(sandbox: Sandbox) -> None:
    sandbox.sql("CREATE TABLE t (id int PRIMARY KEY, name text, gone text)")
    sandbox.sql("INSERT INTO t VALUES (3, 'three', 'x')")
    stream = sandbox.stream("t")
    sandbox.sql("INSERT INTO t VALUES (1, 'one', 'x')")
    sandbox.sql("DELETE FROM t WHERE id = 3")
    sandbox.sql("ALTER TABLE t ADD COLUMN extra numeric(6,2) DEFAULT 5, DROP COLUMN gone")
    sandbox.sql("INSERT INTO t VALUES (2, 'two', 7.5)")

    batch = stream.batch({"t": rules(["id"], deletes="soft")})

    changes = batch.tables["t"]
    assert [(c.name, c.warehouse_type) for c in changes.columns] == [
        ("id", "INTEGER"), ("name", "VARCHAR"), ("extra", "DECIMAL(6,2)"),
    ]
    assert changes.rows.column_names[5:] == ["id", "name", "extra"]
    rows = by_key(changes, "id")
    # Written before the column existed: null in an upsert, unknown in a delete.
    assert (rows[("1",)]["name"], rows[("1",)]["extra"], rows[("1",)][META_UNRESOLVED]) == (
        "one", None, [],
    )
    assert rows[("3",)][META_UNRESOLVED] == ["name", "extra"]
    assert (rows[("2",)]["name"], rows[("2",)]["extra"]) == ("two", "7.50")


def test_schema_and_table_filter(sandbox: Sandbox, unique_name: str) -> None:
    other = f"{unique_name}_other"
    sandbox.sql(f"CREATE SCHEMA {other}")
    sandbox.stack.callback(sandbox.sql, f"DROP SCHEMA {other} CASCADE")
    sandbox.sql("CREATE TABLE t (id int PRIMARY KEY)")
    sandbox.sql(f"CREATE TABLE {other}.t (id int PRIMARY KEY)")
    stream = sandbox.stream("t")
    sandbox.sql(f"ALTER PUBLICATION {stream.name} ADD TABLE {other}.t")
    sandbox.sql(f"INSERT INTO {other}.t VALUES (1)")
    sandbox.sql("INSERT INTO t VALUES (2)")

    batch = stream.batch({"t": rules(["id"])})

    assert batch.tables["t"].rows.column("id").to_pylist() == ["2"]
    assert batch.transactions == 2


def test_lsn_text_round_trip(sandbox: Sandbox) -> None:
    text = current_lsn(sandbox)
    assert format_lsn(parse_lsn(text)) == text
    assert parse_lsn("16/B374D848") == (0x16 << 32) | 0xB374D848
    assert format_lsn(0) == "0/0"
    assert format_lsn((0xFFFFFFFF << 32) | 0xA) == "FFFFFFFF/A"
    for bad in ("", "16", "/1", "0x1/2", "1/2/3", "123456789/0", "-1/0"):
        with pytest.raises(ValueError):
            parse_lsn(bad)
