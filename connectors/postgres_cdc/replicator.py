"""One CDC source end to end: preflight, snapshots, and change batches merged in order.

The order of every batch is what makes it safe:
1. peek the slot (nothing is consumed);
2. merge into the warehouse and record each table's applied LSN, in one transaction;
3. only then confirm the slot up to the batch's end.
A crash before 3 replays the batch; the applied LSNs make the replay skip what is already
in the warehouse.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psycopg

from connectors.postgres_cdc.catalog import SourceTableInfo, TypeNames, primary_keys, table_info
from connectors.postgres_cdc.changes import TableRules, decode_batch
from connectors.postgres_cdc.connection import SourceDatabase, source_database
from connectors.postgres_cdc.preflight import (
    Preflight,
    create_publication_sql,
    fix_script,
    run_preflight,
)
from connectors.postgres_cdc.slot import (
    confirm,
    current_lsn,
    exported_snapshot,
    peek,
    slot_info,
    snapshot_session,
)
from connectors.postgres_cdc.snapshot import read_table
from headwater.cdc.batch import ChangeBatch
from headwater.cdc.merge import apply_changes, evolve, load_snapshot
from headwater.cdc.state import TableState, delete_states, read_states, save_state
from headwater.config.project import Project
from headwater.config.sources import PostgresCdcSource
from headwater.errors import ConnectorError, TerminalError
from headwater.warehouse import Warehouse, raw_schema

_SKIP = 1 << 62
"""Watermark of a table whose changes are not applied (drift, waiting for a snapshot)."""

CRASH_ENV = "HEADWATER_CDC_CRASH_AT"
"""Fault injection for the crash tests: the process kills itself (SIGKILL) at the named
point: `mid_merge` (inside the warehouse transaction) or `before_confirm` (after the
warehouse commit, before the slot is confirmed)."""


class PreflightError(TerminalError):
    """The source database is not ready for CDC; the message lists the fixes."""

    def __init__(self, source: str, preflight: Preflight) -> None:
        self.preflight = preflight
        problems = "\n".join(f"  - {p.message}" for p in preflight.problems)
        super().__init__(
            f"source '{source}' is not ready for CDC:\n{problems}\n"
            f"Fix with (as a database admin):\n{fix_script(preflight)}"
        )


@dataclass(frozen=True)
class SnapshotResult:
    """One table loaded from a consistent snapshot."""

    table: str
    """Table name."""
    rows: int
    """Rows loaded."""
    lsn: int
    """The snapshot's consistent LSN."""


@dataclass
class BatchResult:
    """What one batch applied."""

    transactions: int = 0
    """Source transactions read."""
    end_lsn: int = 0
    """Slot confirmed up to here (0: nothing to confirm)."""
    counts: dict[str, int] = field(default_factory=dict)
    """insert / update / delete / truncate -> changes applied."""
    tables: dict[str, int] = field(default_factory=dict)
    """Table -> changes applied to it."""
    drift: dict[str, str] = field(default_factory=dict)
    """Table -> incompatible source change found in this batch (the table is stopped)."""
    unresolved: int = 0
    """Rows whose unchanged values were missing in the warehouse too (needs a resync)."""
    drained: bool = True
    """The batch read everything committed so far (False: more is waiting)."""
    last_commit_at: float | None = None
    """Commit time (epoch seconds) of the last source transaction in the batch."""

    @property
    def changes(self) -> int:
        """Changes applied in all tables."""
        return sum(self.counts.values())


class Replicator:
    """Replicates one `postgres_cdc` source into `raw_<source>`."""

    def __init__(self, project: Project, source: str) -> None:
        config = project.source(source)
        if not isinstance(config, PostgresCdcSource):
            raise ConnectorError(source, None, f"is a '{config.type}' source, not postgres_cdc")
        self.project = project
        self.source = source
        self.config = config
        self.schema = raw_schema(source)
        self.slot = config.slot_name(source)
        self.publication = config.publication_name(source)
        self.db: SourceDatabase = source_database(source, config)
        self.warehouse = Warehouse(project)

    # -- preparation ----------------------------------------------------------------------

    def preflight(self) -> Preflight:
        """Check the source database (nothing is changed)."""
        return run_preflight(self.source, self.config, self.db)

    def prepare(self, resync: list[str] | None = None) -> list[SnapshotResult]:
        """Preflight, create the publication when missing, and snapshot every table that
        has no state yet, is named in `resync`, or lost its slot. Returns the snapshots."""
        checked = self.preflight()
        if not checked.ok:
            raise PreflightError(self.source, checked)
        tables = checked.tables
        unknown = sorted(set(resync or []) - set(tables))
        if unknown:
            raise ConnectorError(
                self.source, unknown[0], f"is not replicated (tables: {', '.join(tables)})"
            )
        with self.db.session() as pg, self.db.errors(None, "preparing replication"):
            if not checked.publication_exists:
                pg.execute(create_publication_sql(self.config, self.source, tables))
            infos = {table: self._table_info(pg, table) for table in tables}
            slot_exists = slot_info(pg, self.slot) is not None
        with self.warehouse.reader() as conn:
            states = read_states(conn, self.source)
        if not slot_exists:
            # A new slot: its snapshot is the start of everything, older state is void.
            return self._snapshot(list(infos.values()), temporary=False, forget=True)
        wanted = set(resync or [])
        stale = [infos[t] for t in tables if t in wanted or t not in states]
        return self._snapshot(stale, temporary=True, forget=False) if stale else []

    def _table_info(self, pg: psycopg.Connection, table: str) -> SourceTableInfo:
        info = table_info(pg, self.config.schema_name, table)
        if info is None:
            raise ConnectorError(self.source, table, "no longer exists in the source")
        return info

    def _snapshot(
        self, infos: list[SourceTableInfo], *, temporary: bool, forget: bool
    ) -> list[SnapshotResult]:
        """Load `infos` from one exported snapshot. A temporary slot pins a snapshot for a
        re-snapshot while the main slot keeps its place: changes older than the snapshot
        are then skipped for those tables by their new applied LSN."""
        slot = f"{self.slot}_resync_{os.getpid()}"[:63] if temporary else self.slot
        results = []
        with (
            exported_snapshot(self.db, slot, temporary=temporary) as snapshot,
            snapshot_session(self.db, snapshot) as source,
            self.warehouse.writer() as conn,
        ):
            conn.begin()
            if forget:
                delete_states(conn, self.source)
            for info in infos:
                with self.db.errors(info.name, "reading the snapshot of"):
                    batches = read_table(source, self.config.schema_name, info.name, info.columns)
                    rows = load_snapshot(
                        conn, self.schema, info.name, info.columns, batches, snapshot.consistent_lsn
                    )
                save_state(
                    conn,
                    TableState(
                        source=self.source,
                        table_name=info.name,
                        status="streaming",
                        applied_lsn=snapshot.consistent_lsn,
                        snapshot_at=datetime.now(UTC),
                    ),
                )
                results.append(SnapshotResult(info.name, rows, snapshot.consistent_lsn))
            conn.commit()
        return results

    # -- change batches -------------------------------------------------------------------

    def run_batch(self) -> BatchResult:
        """Read up to `batch_changes` changes, merge them, then confirm the slot."""
        limit = self.config.batch_changes
        with self.db.session() as pg, self.db.errors(None, "reading changes from"):
            wal_before = current_lsn(pg)
            messages = peek(pg, self.slot, self.publication, limit)
            if not messages:  # idle: no need to open the warehouse
                result = BatchResult(end_lsn=wal_before)
                confirm(pg, self.slot, wal_before)
                return result
            with self.warehouse.reader() as conn:
                states = read_states(conn, self.source)
            rules = self._rules(pg, states)
            batch = decode_batch(
                messages, schema=self.config.schema_name, tables=rules, type_namer=TypeNames(pg)
            )
            result = BatchResult(
                transactions=batch.transactions,
                drained=len(messages) < limit,
                last_commit_at=batch.last_commit_at,
            )
            if batch.tables and not self._merge(batch, rules, result):
                # Another run changed these tables meanwhile (a resync, a second runner):
                # confirm nothing, the next batch reads again against the new state.
                result.drained = False
                return result
            _crash_point("before_confirm")
            # Drained: nothing relevant committed before `wal_before`, so confirm up to
            # there too (else a quiet publication pins WAL that other tables write).
            result.end_lsn = max(batch.end_lsn, wal_before if result.drained else 0)
            confirm(pg, self.slot, result.end_lsn)
        return result

    def _rules(
        self, pg: psycopg.Connection, states: dict[str, TableState]
    ) -> dict[str, TableRules]:
        """How to read each table's changes; keys come from the catalog, not from the
        stream (with REPLICA IDENTITY FULL the stream flags every column as key)."""
        keys = primary_keys(pg, self.config.schema_name)
        return {
            table: TableRules(
                primary_key=keys.get(table, []),
                watermark=state.applied_lsn if state.status == "streaming" else _SKIP,
                deletes=self.config.delete_mode(table),
            )
            for table, state in states.items()
        }

    def _merge(
        self, batch: ChangeBatch, rules: dict[str, TableRules], result: BatchResult
    ) -> bool:
        """Merge every table of `batch` in one warehouse transaction; False (and nothing
        merged) when a table's applied LSN is no longer the one the batch was read for."""
        now = datetime.now(UTC)
        with self.warehouse.writer() as conn:
            conn.begin()
            states = read_states(conn, self.source)
            for table, changes in batch.tables.items():
                state = states.get(table)
                if (
                    state is None
                    or state.status != "streaming"
                    or state.applied_lsn != rules[table].watermark
                ):
                    # Another run merged, resynced or forgot it in the meantime.
                    conn.rollback()
                    result.counts.clear()
                    result.tables.clear()
                    result.drift.clear()
                    return False
                plan = evolve(conn, self.schema, table, changes.columns)
                if plan.drift:
                    state.status = "drift"
                    state.detail = "; ".join(d.describe() for d in plan.drift)
                    result.drift[table] = state.detail
                else:
                    result.unresolved += apply_changes(
                        conn, self.schema, changes, rules[table].deletes
                    )
                    state.applied_lsn = batch.end_lsn
                    for op, count in changes.counts.items():
                        if not count:
                            continue
                        setattr(state, _COUNTER[op], getattr(state, _COUNTER[op]) + count)
                        result.counts[op] = result.counts.get(op, 0) + count
                    result.tables[table] = sum(changes.counts.values())
                state.last_batch_at = now
                save_state(conn, state)
                _crash_point("mid_merge")
            conn.commit()
        return True


_COUNTER = {"insert": "inserts", "update": "updates", "delete": "deletes", "truncate": "truncates"}


def _crash_point(name: str) -> None:
    """Die here, as a killed process would, when the crash tests ask for it."""
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
