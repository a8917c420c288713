"""One batch of pgoutput messages -> a ChangeBatch: the final state of each changed key.

Changes are applied per transaction when its Commit arrives (the Commit carries the end LSN
every row is stamped with); a trailing transaction without its Commit is left for the next
read, which starts again from the last confirmed LSN.

Row contents, decided here and relied on by the merge:

- An upsert carries every column. An unchanged TOASTed value ('u') is taken from the old row
  when the update sent it whole (REPLICA IDENTITY FULL), else from an earlier change of the
  same key in the batch; failing both it is null and listed in META_UNRESOLVED.
- A delete carries the key. With a whole old row ('O', REPLICA IDENTITY FULL) it carries all
  values; else a soft-delete table's delete carries what an earlier change of the same key
  in the batch carried. Every other column is null and listed in META_UNRESOLVED, for hard
  deletes too (the merge only reads their key), so one rule describes every row.
- An update that changes the key yields a delete of the old key (built like a delete) and an
  upsert of the new one. The old key is only known when PostgreSQL sent it (it does when a
  key column changes) and it holds every primary-key column: an old tuple of a replica
  identity index other than the primary key cannot name the old row and is ignored.
- A table without a primary key (REPLICA IDENTITY FULL) is keyed by all its columns, NULLs
  included: any update is a delete of the old row and an upsert of the new one.
- Rows written under an earlier Relation of the batch are mapped by column name onto the
  last one: a column they lacked is null in an upsert, unresolved in a delete.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from connectors.postgres_cdc.pgoutput import (
    PG_EPOCH_US,
    Begin,
    Commit,
    Delete,
    Insert,
    Relation,
    Toast,
    Truncate,
    Update,
    Value,
    decode_all,
    format_lsn,
    parse_lsn,
    unix_microseconds,
)
from connectors.postgres_cdc.pgtypes import source_column
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

__all__ = ["TableRules", "TypeNamer", "decode_batch", "format_lsn", "parse_lsn"]

TypeNamer = Callable[[int, int], str]
"""(type oid, typmod) -> `format_type` of the base type; the caller caches or asks PG."""

Key = tuple[str | None, ...]
"""The key values of a row."""

Change = Insert | Update | Delete | Truncate
"""A decoded message that changes rows."""

_TIMESTAMP = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class TableRules:
    """How to read one table's changes."""

    primary_key: list[str]
    """Key columns from the catalog; empty = the table has none (REPLICA IDENTITY FULL),
    then every column of the relation is the key."""
    watermark: int
    """Changes of transactions whose commit LSN is below this are dropped (already in the
    warehouse, or in a newer snapshot)."""
    deletes: DeleteMode
    """hard or soft: soft deletes keep the row, so carry its values when the batch saw them."""


_UNKNOWN = Toast.UNCHANGED
"""A value the batch does not know: pgoutput's unchanged-TOAST marker, reused for the
columns a delete does not carry. Rows keep it until output, where it becomes a null listed
in META_UNRESOLVED."""


class _Shape:
    """One Relation message of an interesting table, prepared for its changes."""

    __slots__ = ("key_positions", "names", "relation", "table")

    def __init__(self, relation: Relation, table: str, primary_key: list[str]) -> None:
        self.relation = relation
        self.table = table
        self.names = tuple(column.name for column in relation.columns)
        missing = [column for column in primary_key if column not in self.names]
        if missing:
            raise ValueError(
                f"table {relation.namespace}.{table}: key column(s) {', '.join(missing)} "
                "missing from the change stream's description of the table"
            )
        self.key_positions = (
            [self.names.index(column) for column in primary_key]
            if primary_key
            else list(range(len(self.names)))
        )

    def key(self, values: list[Value]) -> Key:
        """The key of a row of this shape."""
        key = tuple([values[position] for position in self.key_positions])
        if _UNKNOWN in key:
            # Only an externally stored key value can be left out, and without it the row
            # cannot be found: stop rather than merge a wrong key.
            raise ValueError(
                f"a change of table {self.table} did not send its key (an unchanged TOASTed "
                "value); give the table REPLICA IDENTITY FULL"
            )
        return key  # type: ignore[return-value]  # no marker, checked above


class _Row:
    """The latest change of one key."""

    __slots__ = ("commit_time", "lsn", "op", "resolve_from", "shape", "values")

    def __init__(
        self,
        op: str,
        lsn: int,
        commit_time: int,
        shape: _Shape,
        values: list[Value],
        resolve_from: Key | None = None,
    ) -> None:
        self.op = op
        self.lsn = lsn
        self.commit_time = commit_time
        self.shape = shape
        self.values = values
        self.resolve_from = resolve_from
        """The key whose warehouse row holds this row's unknown values, when not its own."""

    def values_for(self, shape: _Shape, missing: Value = None) -> list[Value]:
        """The row's values in the columns of `shape`, `missing` where the row's relation had
        no such column. May be the row's own list: do not change it."""
        if shape is self.shape or shape.names == self.shape.names:
            return self.values
        by_name = dict(zip(self.shape.names, self.values, strict=True))
        return [by_name.get(name, missing) for name in shape.names]


@dataclass
class _Table:
    """What the batch collected for one table so far."""

    rules: TableRules
    shape: _Shape
    rows: dict[Key, _Row] = field(default_factory=dict)
    truncated: bool = False
    counts: dict[str, int] = field(
        default_factory=lambda: {"insert": 0, "update": 0, "delete": 0, "truncate": 0}
    )

    def put(self, key: Key, row: _Row) -> None:
        """Record `row` as the key's latest change, last in stream order."""
        self.rows.pop(key, None)
        self.rows[key] = row


def _resolve(values: list[Value], source: list[Value]) -> list[Value]:
    """`values` with unknown values taken from `source` (same columns) where it knows them."""
    return [
        source[index] if value is _UNKNOWN else value for index, value in enumerate(values)
    ]


class _Reducer:
    """Applies committed transactions to per-table state."""

    def __init__(self, schema: str, tables: Mapping[str, TableRules]) -> None:
        self.schema = schema
        self.rules = tables
        self.shapes: dict[int, _Shape | None] = {}
        self.tables: dict[str, _Table] = {}

    def relation(self, message: Relation) -> None:
        """A table's shape, in force for its changes after this message."""
        rules = self.rules.get(message.name) if message.namespace == self.schema else None
        if rules is None:
            self.shapes[message.oid] = None
            return
        shape = _Shape(message, message.name, rules.primary_key)
        self.shapes[message.oid] = shape
        table = self.tables.get(message.name)
        if table is None:
            self.tables[message.name] = _Table(rules, shape)
        else:
            table.shape = shape

    def shape(self, oid: int) -> _Shape | None:
        """The shape of relation `oid` now; None for tables the batch ignores."""
        try:
            return self.shapes[oid]
        except KeyError:
            raise ValueError(f"change of relation {oid} before its Relation message") from None

    def commit(self, begin: Begin, commit: Commit, changes: list[tuple[Change, _Shape]]) -> None:
        """Apply one transaction's changes, each with the shape in force when it came."""
        for change, shape in changes:
            table = self.tables[shape.table]
            if begin.final_lsn < table.rules.watermark:
                continue
            kind = type(change)
            if kind is Insert or kind is Update:
                assert isinstance(change, Insert | Update)
                table.counts["insert" if kind is Insert else "update"] += 1
                self._upsert(table, shape, change, commit)
            elif kind is Delete:
                assert isinstance(change, Delete)
                table.counts["delete"] += 1
                key = shape.key(change.old)
                row = self._delete_row(table, shape, key, change.old, change.old_is_full, commit)
                table.put(key, row)
            else:
                table.counts["truncate"] += 1
                table.rows.clear()
                table.truncated = True

    def _upsert(
        self, table: _Table, shape: _Shape, change: Insert | Update, commit: Commit
    ) -> None:
        """An insert or an update of a row."""
        values = change.new
        old = change.old if isinstance(change, Update) else None
        full = old is not None and isinstance(change, Update) and change.old_is_full
        if full and _UNKNOWN in values:
            assert old is not None
            values = _resolve(values, old)
        key = old_key = shape.key(values)
        if old is not None:
            candidate = tuple([old[position] for position in shape.key_positions])
            # A key-only old tuple nulls the columns outside the replica identity index:
            # when that index is not the primary key (whose columns are NOT NULL), the
            # tuple cannot name the old row, so it is ignored.
            if _UNKNOWN not in candidate and (full or None not in candidate):
                old_key = candidate  # type: ignore[assignment]  # markers excluded
        previous = table.rows.get(old_key)
        if previous is not None and _UNKNOWN in values:
            values = _resolve(values, previous.values_for(shape, _UNKNOWN))
        resolve_from = None
        if _UNKNOWN in values:
            # What is still unknown sits in the warehouse under the key it was stored with.
            if previous is not None and previous.resolve_from is not None:
                resolve_from = previous.resolve_from
            elif old_key != key:
                resolve_from = old_key
        if old_key != key:
            assert old is not None
            gone = self._delete_row(table, shape, old_key, old, full, commit)
            table.put(old_key, gone)
        row = _Row(OP_UPSERT, commit.end_lsn, commit.commit_time, shape, values, resolve_from)
        table.put(key, row)

    def _delete_row(
        self, table: _Table, shape: _Shape, key: Key, old: list[Value], full: bool,
        commit: Commit,
    ) -> _Row:
        """The delete row of `key`, whose old tuple (key only, or whole) is `old`."""
        previous = table.rows.get(key)
        if full:
            values = old
            if previous is not None and _UNKNOWN in values:
                values = _resolve(values, previous.values_for(shape, _UNKNOWN))
        else:
            if previous is not None and table.rules.deletes == "soft":
                values = list(previous.values_for(shape, _UNKNOWN))
            else:
                values = [_UNKNOWN] * len(shape.names)
            for position, value in zip(shape.key_positions, key, strict=True):
                values[position] = value
        resolve_from = previous.resolve_from if previous is not None else None
        return _Row(OP_DELETE, commit.end_lsn, commit.commit_time, shape, values, resolve_from)

    def result(self, type_namer: TypeNamer) -> dict[str, TableChanges]:
        """The tables with rows or a truncate, as TableChanges."""
        result = {}
        for name, table in self.tables.items():
            if not table.rows and not table.truncated:
                continue
            keyed = set(table.rules.primary_key)
            columns = [
                source_column(
                    column.name,
                    type_namer(column.type_oid, column.typmod),
                    column.name in keyed if keyed else True,
                )
                for column in table.shape.relation.columns
            ]
            rows = _arrow(table.rows.values(), table.shape)
            result[name] = TableChanges(name, columns, rows, table.truncated, dict(table.counts))
        return result


def _arrow(rows: Iterable[_Row], shape: _Shape) -> pa.Table:
    """The rows as the Arrow table TableChanges.rows describes."""
    ops, lsns, times, unresolved, resolve_from, matrix = [], [], [], [], [], []
    names = shape.names
    for row in rows:
        ops.append(row.op)
        resolve_from.append(list(row.resolve_from) if row.resolve_from is not None else None)
        lsns.append(row.lsn)
        times.append(row.commit_time)
        # A delete does not carry a column its relation lacked, an upsert's row had none.
        values = row.values_for(shape, _UNKNOWN if row.op == OP_DELETE else None)
        if _UNKNOWN in values:
            unresolved.append([n for n, v in zip(names, values, strict=True) if v is _UNKNOWN])
            values = [None if value is _UNKNOWN else value for value in values]
        else:
            unresolved.append([])
        matrix.append(values)
    columns = list(zip(*matrix, strict=True)) if matrix else [() for _ in names]
    arrays = [
        pa.array(ops, pa.string()),
        pa.array(lsns, pa.int64()),
        pc.add(pa.array(times, pa.int64()), PG_EPOCH_US).cast(_TIMESTAMP),
        pa.array(unresolved, pa.list_(pa.string())),
        pa.array(resolve_from, pa.list_(pa.string())),
        *(pa.array(column, pa.string()) for column in columns),
    ]
    return pa.Table.from_arrays(
        arrays,
        names=[META_OP, META_LSN, META_COMMITTED_AT, META_UNRESOLVED, META_RESOLVE_FROM, *names],
    )


def decode_batch(
    messages: Iterable[bytes],
    *,
    schema: str,
    tables: Mapping[str, TableRules],
    type_namer: TypeNamer,
) -> ChangeBatch:
    """Decode the pgoutput messages of one read and reduce them to one row per changed key
    of each table of `schema` named in `tables` (see the module docstring)."""
    with _collector_paused():
        return _decode_batch(messages, schema, tables, type_namer)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the block.

    A batch keeps hundreds of thousands of small containers alive until it is done, and
    each of them counts towards the next collection, whose full passes walk every object of
    the process: measured, that tripled the time of a 100k-change batch. Nothing decoded
    here forms a reference cycle, so reference counting alone frees it all afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _decode_batch(
    messages: Iterable[bytes], schema: str, tables: Mapping[str, TableRules],
    type_namer: TypeNamer,
) -> ChangeBatch:
    """decode_batch with the collector paused."""
    reducer = _Reducer(schema, tables)
    begin: Begin | None = None
    pending: list[tuple[Change, _Shape]] = []
    end_lsn, transactions, last_commit_at = 0, 0, None
    for message in decode_all(messages):
        kind = type(message)
        if kind is Insert or kind is Update or kind is Delete:
            assert isinstance(message, Insert | Update | Delete)
            shape = reducer.shape(message.oid)
            if shape is not None:
                pending.append((message, shape))
        elif kind is Begin:
            assert isinstance(message, Begin)
            begin, pending = message, []
        elif kind is Commit:
            assert isinstance(message, Commit)
            if begin is not None:
                reducer.commit(begin, message, pending)
            begin, pending = None, []
            end_lsn = message.end_lsn
            transactions += 1
            last_commit_at = unix_microseconds(message.commit_time) / 1_000_000
        elif kind is Relation:
            assert isinstance(message, Relation)
            reducer.relation(message)
        elif kind is Truncate:
            assert isinstance(message, Truncate)
            for oid in message.oids:
                shape = reducer.shape(oid)
                if shape is not None:
                    pending.append((message, shape))
    return ChangeBatch(
        tables=reducer.result(type_namer),
        end_lsn=end_lsn,
        transactions=transactions,
        last_commit_at=last_commit_at,
    )
