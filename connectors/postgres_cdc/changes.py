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
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Set
from dataclasses import dataclass, field

import pyarrow as pa

from connectors.postgres_cdc.pgoutput import (
    Begin,
    Commit,
    Delete,
    Insert,
    Message,
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


class _Row:
    """The latest change of one key."""

    __slots__ = ("commit_time", "lsn", "op", "unresolved", "values")

    def __init__(
        self, op: str, lsn: int, commit_time: int, values: dict[str, str | None],
        unresolved: set[str],
    ) -> None:
        self.op = op
        self.lsn = lsn
        self.commit_time = commit_time
        self.values = values
        self.unresolved = unresolved


@dataclass
class _Table:
    """What the batch collected for one table so far."""

    name: str
    rules: TableRules
    relation: Relation
    rows: dict[Key, _Row] = field(default_factory=dict)
    truncated: bool = False
    counts: dict[str, int] = field(
        default_factory=lambda: {"insert": 0, "update": 0, "delete": 0, "truncate": 0}
    )

    def key_columns(self, names: list[str]) -> list[str]:
        """The key of a change whose relation has columns `names`."""
        return self.rules.primary_key or names

    def put(self, key: Key, row: _Row) -> None:
        """Record `row` as the key's latest change (the dict keeps stream order)."""
        self.rows.pop(key, None)
        self.rows[key] = row


class _Reducer:
    """Applies committed transactions to per-table state."""

    def __init__(self, schema: str, tables: Mapping[str, TableRules]) -> None:
        self.schema = schema
        self.rules = tables
        self.relations: dict[int, Relation] = {}
        self.tables: dict[str, _Table] = {}

    def relation(self, message: Relation) -> None:
        """A table's shape, in force for the changes after it."""
        self.relations[message.oid] = message
        if message.namespace == self.schema and message.name in self.rules:
            state = self.tables.get(message.name)
            if state is None:
                self.tables[message.name] = _Table(
                    message.name, self.rules[message.name], message
                )
            else:
                state.relation = message

    def commit(self, begin: Begin, commit: Commit, changes: list[tuple[Message, Relation]]) -> None:
        """Apply one transaction's changes, each with the relation in force when it came."""
        for change, relation in changes:
            if relation.namespace != self.schema or relation.name not in self.rules:
                continue
            table = self.tables[relation.name]
            if begin.final_lsn < table.rules.watermark:
                continue
            names = [column.name for column in relation.columns]
            if isinstance(change, Insert):
                table.counts["insert"] += 1
                self._upsert(table, names, None, False, change.new, commit)
            elif isinstance(change, Update):
                table.counts["update"] += 1
                self._upsert(table, names, change.old, change.old_is_full, change.new, commit)
            elif isinstance(change, Delete):
                table.counts["delete"] += 1
                old = dict(zip(names, change.old, strict=True))
                key = _key(old, table.key_columns(names))
                row = self._delete_row(table, names, key, old, change.old_is_full, commit)
                table.put(key, row)
            elif isinstance(change, Truncate):
                table.counts["truncate"] += 1
                table.rows.clear()
                table.truncated = True

    def _upsert(
        self, table: _Table, names: list[str], old_tuple: list[Value] | None, old_is_full: bool,
        new_tuple: list[Value], commit: Commit,
    ) -> None:
        """An insert (no old tuple) or an update."""
        values = dict(zip(names, new_tuple, strict=True))
        old = dict(zip(names, old_tuple, strict=True)) if old_tuple is not None else None
        key_columns = table.key_columns(names)
        if old is not None and old_is_full:
            _resolve(values, old, frozenset())
        key = _key(values, key_columns)
        old_key = key
        if old is not None:
            candidate = _key(old, key_columns)
            if None not in candidate:
                old_key = candidate
        previous = table.rows.get(old_key)
        if previous is not None:
            _resolve(values, previous.values, previous.unresolved)
        if old_key != key:
            table.put(old_key, self._delete_row(table, names, old_key, old or {}, old_is_full, commit))
        known, unresolved = _finish(values)
        table.put(key, _Row(OP_UPSERT, commit.end_lsn, commit.commit_time, known, unresolved))

    def _delete_row(
        self, table: _Table, names: list[str], key: Key, old: dict[str, Value], old_is_full: bool,
        commit: Commit,
    ) -> _Row:
        """The delete row of `key`, whose old tuple (key or whole row) is `old`."""
        previous = table.rows.get(key)
        if old_is_full:
            values = dict(old)
            if previous is not None:
                _resolve(values, previous.values, previous.unresolved)
            known, unresolved = _finish(values)
        elif previous is not None and table.rules.deletes == "soft":
            known, unresolved = dict(previous.values), set(previous.unresolved)
        else:
            known, unresolved = {}, set()
        for column, value in zip(table.key_columns(names), key, strict=True):
            known[column] = value
        # A delete that does not carry a column cannot say its value: the merge keeps the
        # warehouse's (unlike an upsert, where a column missing from an older relation of
        # the batch is null because the row had no such column then).
        unresolved |= set(names) - known.keys()
        unresolved.difference_update(table.key_columns(names))
        return _Row(OP_DELETE, commit.end_lsn, commit.commit_time, known, unresolved)

    def result(self, type_namer: TypeNamer) -> dict[str, TableChanges]:
        """The non-empty tables as TableChanges."""
        result = {}
        for name, table in self.tables.items():
            if not table.rows and not table.truncated:
                continue
            key = set(table.rules.primary_key)
            columns = [
                source_column(
                    column.name,
                    type_namer(column.type_oid, column.typmod),
                    column.name in key if key else True,
                )
                for column in table.relation.columns
            ]
            rows = _arrow(table.rows.values(), [column.name for column in columns])
            result[name] = TableChanges(name, columns, rows, table.truncated, dict(table.counts))
        return result


def _key(values: Mapping[str, Value], columns: list[str]) -> Key:
    """The key values of a row; a key value the change did not send cannot name the row."""
    key = tuple(values.get(column) for column in columns)
    if any(value is Toast.UNCHANGED for value in key):
        raise ValueError(
            f"a change did not send its key ({', '.join(columns)}): the key value is an "
            "unchanged TOASTed value; use REPLICA IDENTITY FULL for this table"
        )
    return key  # type: ignore[return-value]  # Toast excluded above


def _resolve(
    values: dict[str, Value], source: Mapping[str, Value], source_unresolved: Set[str]
) -> None:
    """Replace the unchanged-TOAST markers in `values` by `source`'s value of the column,
    where `source` has one."""
    for column, value in values.items():
        if (
            value is Toast.UNCHANGED
            and column in source
            and column not in source_unresolved
            and source[column] is not Toast.UNCHANGED
        ):
            values[column] = source[column]


def _finish(values: dict[str, Value]) -> tuple[dict[str, str | None], set[str]]:
    """`values` with the markers left as None, and those columns (unresolved)."""
    known: dict[str, str | None] = {}
    unresolved = set()
    for column, value in values.items():
        if value is Toast.UNCHANGED:
            known[column] = None
            unresolved.add(column)
        else:
            known[column] = value
    return known, unresolved


def _arrow(rows: Iterable[_Row], names: list[str]) -> pa.Table:
    """The rows as the Arrow table TableChanges.rows describes."""
    ops, lsns, times, unresolved = [], [], [], []
    columns: list[list[str | None]] = [[] for _ in names]
    order = {name: index for index, name in enumerate(names)}
    for row in rows:
        ops.append(row.op)
        lsns.append(row.lsn)
        times.append(unix_microseconds(row.commit_time))
        unresolved.append(sorted((c for c in row.unresolved if c in order), key=order.__getitem__))
        get = row.values.get
        for column, name in zip(columns, names, strict=True):
            column.append(get(name))
    arrays = [
        pa.array(ops, pa.string()),
        pa.array(lsns, pa.int64()),
        pa.array(times, pa.int64()).cast(_TIMESTAMP),
        pa.array(unresolved, pa.list_(pa.string())),
        *(pa.array(column, pa.string()) for column in columns),
    ]
    return pa.Table.from_arrays(
        arrays, names=[META_OP, META_LSN, META_COMMITTED_AT, META_UNRESOLVED, *names]
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
    reducer = _Reducer(schema, tables)
    begin: Begin | None = None
    pending: list[tuple[Message, Relation]] = []
    end_lsn, transactions, last_commit_at = 0, 0, None
    for message in decode_all(messages):
        if isinstance(message, Begin):
            begin, pending = message, []
        elif isinstance(message, Commit):
            if begin is not None:
                reducer.commit(begin, message, pending)
            begin, pending = None, []
            end_lsn = message.end_lsn
            transactions += 1
            last_commit_at = unix_microseconds(message.commit_time) / 1_000_000
        elif isinstance(message, Relation):
            reducer.relation(message)
        elif isinstance(message, Truncate):
            for oid in message.oids:
                pending.append((message, _relation_of(reducer, oid)))
        else:
            pending.append((message, _relation_of(reducer, message.oid)))
    return ChangeBatch(
        tables=reducer.result(type_namer),
        end_lsn=end_lsn,
        transactions=transactions,
        last_commit_at=last_commit_at,
    )


def _relation_of(reducer: _Reducer, oid: int) -> Relation:
    """The relation a change refers to: pgoutput always describes it first."""
    relation = reducer.relations.get(oid)
    if relation is None:
        raise ValueError(f"change of relation {oid} before its Relation message")
    return relation
