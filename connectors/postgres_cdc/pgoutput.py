"""Decoder of pgoutput logical replication messages, protocol version 1.

https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html

One message per `pg_logical_slot_peek_binary_changes` row (or CopyData 'w' payload).
Column values stay PostgreSQL's text form, decoded from UTF-8. Decoding sits on the hot path
of every change, so it works on offsets into the message with precompiled `struct` readers
and builds small slotted objects.
"""

from __future__ import annotations

import enum
import re
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

PG_EPOCH_US = 946_684_800_000_000
"""Microseconds between the Unix epoch and PostgreSQL's (2000-01-01 UTC)."""

_i8 = struct.Struct(">b").unpack_from
_i16 = struct.Struct(">h").unpack_from
_i32 = struct.Struct(">i").unpack_from
_u32 = struct.Struct(">I").unpack_from
_begin = struct.Struct(">qqi").unpack_from
_commit = struct.Struct(">bqqq").unpack_from
_relation_column = struct.Struct(">Ii").unpack_from
_truncate_header = struct.Struct(">ib").unpack_from

_LSN = re.compile(r"([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})")

_NULL, _UNCHANGED, _TEXT = ord("n"), ord("u"), ord("t")


class Toast(enum.Enum):
    """Marker of a TOASTed value the change did not send because it did not change."""

    UNCHANGED = "u"
    """The column keeps its previous (stored out of line) value."""


Value = str | None | Toast
"""One column of a tuple: its text, None for SQL NULL, or Toast.UNCHANGED."""


@dataclass(slots=True, frozen=True)
class Begin:
    """Start of a transaction's changes ('B')."""

    final_lsn: int
    """LSN of the transaction's commit record."""
    commit_time: int
    """Commit time, microseconds since 2000-01-01 UTC."""
    xid: int
    """Transaction id."""


@dataclass(slots=True, frozen=True)
class Commit:
    """End of a transaction's changes ('C')."""

    flags: int
    """Unused, 0."""
    commit_lsn: int
    """LSN of the commit record."""
    end_lsn: int
    """LSN just after the commit record: confirming up to it acknowledges the transaction."""
    commit_time: int
    """Commit time, microseconds since 2000-01-01 UTC."""


@dataclass(slots=True, frozen=True)
class RelationColumn:
    """One column of a Relation message."""

    name: str
    """Column name."""
    type_oid: int
    """Type OID as declared: a domain's own OID, not its base type's."""
    typmod: int
    """Type modifier (-1 when none), as `format_type` takes it."""
    key: bool
    """Part of the replica identity (flag 1)."""


@dataclass(slots=True, frozen=True)
class Relation:
    """A table's current shape ('R'), sent before its first change and after each change of
    its definition."""

    oid: int
    """Relation OID, which the change messages refer to."""
    namespace: str
    """Schema name (empty for pg_catalog)."""
    name: str
    """Table name."""
    replica_identity: str
    """d (primary key), n (nothing), f (full) or i (index)."""
    columns: tuple[RelationColumn, ...]
    """Columns in table order (dropped and generated columns are not sent)."""


@dataclass(slots=True, frozen=True)
class Insert:
    """A new row ('I')."""

    oid: int
    """Relation OID."""
    new: list[Value]
    """The row, one value per column of the relation."""


@dataclass(slots=True, frozen=True)
class Update:
    """A changed row ('U')."""

    oid: int
    """Relation OID."""
    old: list[Value] | None
    """The old row's key ('K', when the key changed) or whole old row ('O', REPLICA
    IDENTITY FULL); None when not sent."""
    old_is_full: bool
    """`old` is a whole old row ('O'), not only its key columns."""
    new: list[Value]
    """The new row; TOASTed values that did not change are Toast.UNCHANGED."""


@dataclass(slots=True, frozen=True)
class Delete:
    """A deleted row ('D')."""

    oid: int
    """Relation OID."""
    old: list[Value]
    """The key ('K': non-key columns are None) or the whole old row ('O')."""
    old_is_full: bool
    """`old` is a whole old row ('O')."""


@dataclass(slots=True, frozen=True)
class Truncate:
    """TRUNCATE of one or more tables ('T')."""

    oids: tuple[int, ...]
    """Relation OIDs truncated."""
    cascade: bool
    """TRUNCATE ... CASCADE (option bit 1)."""
    restart_identity: bool
    """TRUNCATE ... RESTART IDENTITY (option bit 2)."""


Message = Begin | Commit | Relation | Insert | Update | Delete | Truncate
"""A decoded message that matters for replication (Origin, Type and Message are skipped)."""


class DecodeError(ValueError):
    """The bytes are not a pgoutput protocol 1 message this decoder knows."""


def _tuple(data: bytes, pos: int) -> tuple[list[Value], int]:
    """TupleData at `pos`: the values and the offset after them."""
    count = _i16(data, pos)[0]
    pos += 2
    values: list[Value] = []
    append = values.append
    for _ in range(count):
        kind = data[pos]
        if kind == _TEXT:
            length = _i32(data, pos + 1)[0]
            pos += 5
            append(data[pos : pos + length].decode())
            pos += length
        elif kind == _NULL:
            append(None)
            pos += 1
        elif kind == _UNCHANGED:
            append(Toast.UNCHANGED)
            pos += 1
        else:  # 'b' (binary) is only sent when the subscriber asks for binary mode
            raise DecodeError(f"unsupported tuple value kind {chr(kind)!r}")
    return values, pos


def _cstring(data: bytes, pos: int) -> tuple[str, int]:
    """The NUL-terminated string at `pos` and the offset after its NUL."""
    end = data.index(0, pos)
    return data[pos:end].decode(), end + 1


def _relation(data: bytes) -> Relation:
    """An 'R' message."""
    oid = _u32(data, 1)[0]
    namespace, pos = _cstring(data, 5)
    name, pos = _cstring(data, pos)
    identity = chr(data[pos])
    count = _i16(data, pos + 1)[0]
    pos += 3
    columns = []
    for _ in range(count):
        flags = data[pos]
        column, pos = _cstring(data, pos + 1)
        type_oid, typmod = _relation_column(data, pos)
        pos += 8
        columns.append(RelationColumn(column, type_oid, typmod, bool(flags & 1)))
    return Relation(oid, namespace, name, identity, tuple(columns))


def _update(data: bytes) -> Update:
    """A 'U' message."""
    oid = _u32(data, 1)[0]
    kind = data[5]
    if kind == 78:  # 'N': no old tuple
        new, _ = _tuple(data, 6)
        return Update(oid, None, False, new)
    old, pos = _tuple(data, 6)
    if data[pos] != 78:
        raise DecodeError("update without a new tuple")
    new, _ = _tuple(data, pos + 1)
    return Update(oid, old, kind == 79, new)  # 79 = 'O'


def _truncate(data: bytes) -> Truncate:
    """A 'T' message."""
    count, options = _truncate_header(data, 1)
    oids = struct.unpack_from(f">{count}I", data, 6)
    return Truncate(tuple(oids), bool(options & 1), bool(options & 2))


def decode(message: bytes) -> Message | None:
    """One pgoutput message; None for the kinds replication ignores (Origin, Type, logical
    decoding Message). Raises DecodeError for anything else it does not know."""
    kind = message[0]
    if kind == 73:  # 'I'
        if message[5] != 78:
            raise DecodeError("insert without a new tuple")
        return Insert(_u32(message, 1)[0], _tuple(message, 6)[0])
    if kind == 85:  # 'U'
        return _update(message)
    if kind == 68:  # 'D'
        old, _ = _tuple(message, 6)
        return Delete(_u32(message, 1)[0], old, message[5] == 79)
    if kind == 66:  # 'B'
        return Begin(*_begin(message, 1))
    if kind == 67:  # 'C'
        return Commit(*_commit(message, 1))
    if kind == 82:  # 'R'
        return _relation(message)
    if kind == 84:  # 'T'
        return _truncate(message)
    if kind in (79, 89, 77):  # 'O' origin, 'Y' type, 'M' message
        return None
    raise DecodeError(f"unknown pgoutput message kind {chr(kind)!r}")


def decode_all(messages: Iterable[bytes]) -> Iterator[Message]:
    """The decoded messages that matter, in order."""
    for message in messages:
        decoded = decode(message)
        if decoded is not None:
            yield decoded


def unix_microseconds(pg_time: int) -> int:
    """A protocol timestamp (µs since 2000-01-01) as µs since 1970-01-01."""
    return pg_time + PG_EPOCH_US


def format_lsn(lsn: int) -> str:
    """An LSN as PostgreSQL writes it: two hex halves, e.g. `16/B374D848`."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int:
    """An LSN written `X/Y` (hex) as an integer; ValueError when it is not one."""
    match = _LSN.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not an LSN: {text!r}")
    return (int(match.group(1), 16) << 32) | int(match.group(2), 16)
