"""The replication slot: created with an exported snapshot, read, and confirmed.

Changes are read with `pg_logical_slot_peek_binary_changes` over an ordinary session:
peeking does not consume, so nothing is confirmed until `confirm()` runs, after the merge
has committed in the warehouse. A crash anywhere in between only means the next read sees
the same transactions again (the merge skips what the warehouse already has).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg import sql

from connectors.postgres_cdc.connection import SourceDatabase, exec_replication
from connectors.postgres_cdc.pgoutput import format_lsn, parse_lsn

_PEEK = (
    "SELECT data FROM pg_logical_slot_peek_binary_changes("
    "%(slot)s, NULL, %(limit)s, 'proto_version', '1', 'publication_names', %(publication)s)"
)

_SLOT_INFO = """
SELECT s.slot_name, s.plugin, s.database, s.active,
       s.confirmed_flush_lsn::text, s.restart_lsn::text,
       pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn)::bigint,
       pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::bigint,
       pg_current_wal_lsn()::text
FROM pg_replication_slots s WHERE s.slot_name = %(slot)s
"""


@dataclass(frozen=True)
class SlotInfo:
    """A replication slot as pg_replication_slots shows it."""

    name: str
    """Slot name."""
    plugin: str | None
    """Output plugin (pgoutput for Headwater's slots)."""
    database: str | None
    """Database the slot decodes."""
    active: bool
    """Whether a session is streaming from it right now."""
    confirmed_lsn: int
    """Everything before this LSN is confirmed (applied in the warehouse)."""
    lag_bytes: int
    """WAL written since the confirmed LSN: changes not yet in the warehouse, at most."""
    retained_bytes: int
    """WAL the server keeps on disk for this slot (from its restart LSN)."""
    current_lsn: int
    """The server's current WAL position."""


@dataclass(frozen=True)
class ExportedSnapshot:
    """A snapshot of the database at the moment a slot became consistent."""

    slot: str
    """The slot created with it."""
    consistent_lsn: int
    """Transactions committed before this LSN are in the snapshot; later ones are streamed."""
    name: str
    """Snapshot name for `SET TRANSACTION SNAPSHOT`."""


def slot_info(conn: psycopg.Connection, slot: str) -> SlotInfo | None:
    """The slot named `slot`, or None."""
    row = conn.execute(_SLOT_INFO, {"slot": slot}).fetchone()
    if row is None:
        return None
    name, plugin, database, active, confirmed, _restart, lag, retained, current = row
    return SlotInfo(
        name=name,
        plugin=plugin,
        database=database,
        active=bool(active),
        confirmed_lsn=parse_lsn(confirmed) if confirmed else 0,
        lag_bytes=int(lag or 0),
        retained_bytes=int(retained or 0),
        current_lsn=parse_lsn(current),
    )


@contextmanager
def exported_snapshot(
    db: SourceDatabase, slot: str, *, temporary: bool = False
) -> Iterator[ExportedSnapshot]:
    """Create logical slot `slot` (pgoutput) and export its snapshot for the block.

    The snapshot stays importable while the replication session that made it is open and
    idle, so the block must import it (`snapshot_session`) before doing anything slow. A
    temporary slot is dropped when the block ends: it only pins a snapshot to an LSN (for
    re-snapshotting a table while the main slot keeps its place)."""
    conn = db.connect(replication=True)
    try:
        kind = "TEMPORARY LOGICAL" if temporary else "LOGICAL"
        command = f"CREATE_REPLICATION_SLOT {_ident(slot)} {kind} pgoutput EXPORT_SNAPSHOT"
        with db.errors(None, f"creating replication slot {slot}"):
            rows = exec_replication(conn, command)
        _name, consistent, snapshot, _plugin = rows[0]
        assert consistent is not None and snapshot is not None
        yield ExportedSnapshot(slot, parse_lsn(consistent), snapshot)
    finally:
        conn.close()


@contextmanager
def snapshot_session(
    db: SourceDatabase, snapshot: ExportedSnapshot
) -> Iterator[psycopg.Connection]:
    """A read-only repeatable-read transaction that sees exactly `snapshot`."""
    conn = db.connect(autocommit=False)
    try:
        with db.errors(None, "importing the slot's snapshot"):
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(snapshot.name))
        yield conn
    finally:
        conn.rollback()
        conn.close()


def peek(conn: psycopg.Connection, slot: str, publication: str, limit: int) -> list[bytes]:
    """Up to about `limit` pgoutput messages after the confirmed LSN, whole transactions
    only (a transaction larger than `limit` comes whole), without consuming them."""
    params = {"slot": slot, "limit": limit, "publication": publication}
    return [bytes(row[0]) for row in conn.execute(_PEEK, params).fetchall()]


def current_lsn(conn: psycopg.Connection) -> int:
    """The server's WAL position now."""
    row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
    assert row is not None
    return parse_lsn(row[0])


def confirm(conn: psycopg.Connection, slot: str, lsn: int) -> None:
    """Tell the server everything before `lsn` is applied: it may recycle that WAL."""
    info = slot_info(conn, slot)
    if info is None or lsn <= info.confirmed_lsn:
        return  # advancing backwards is an error; already confirmed is fine
    conn.execute(
        "SELECT pg_replication_slot_advance(%(slot)s, %(lsn)s::pg_lsn)",
        {"slot": slot, "lsn": format_lsn(lsn)},
    )


def drop_slot(conn: psycopg.Connection, slot: str) -> bool:
    """Drop `slot` if it exists; True when it did."""
    if slot_info(conn, slot) is None:
        return False
    conn.execute("SELECT pg_drop_replication_slot(%(slot)s)", {"slot": slot})
    return True


def _ident(name: str) -> str:
    """A double-quoted identifier for a replication command (no parameters there)."""
    return '"' + name.replace('"', '""') + '"'
