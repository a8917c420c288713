"""The pgoutput protocol 1 decoder on messages built by hand from the documented format."""

from __future__ import annotations

import struct

import pytest

from connectors.postgres_cdc.pgoutput import (
    PG_EPOCH_US,
    Begin,
    Commit,
    DecodeError,
    Delete,
    Insert,
    Relation,
    RelationColumn,
    Toast,
    Truncate,
    Update,
    Value,
    decode,
    decode_all,
    format_lsn,
    parse_lsn,
    unix_microseconds,
)


def text(value: str) -> bytes:
    data = value.encode()
    return b"t" + struct.pack(">i", len(data)) + data


def tuple_data(*columns: bytes) -> bytes:
    return struct.pack(">h", len(columns)) + b"".join(columns)


def test_begin_and_commit() -> None:
    begin = b"B" + struct.pack(">qqi", 0x1_0000_0010, 777_000_000, 4242)
    commit = b"C" + struct.pack(">bqqq", 0, 0x1_0000_0010, 0x1_0000_0040, 777_000_000)

    assert decode(begin) == Begin(final_lsn=0x1_0000_0010, commit_time=777_000_000, xid=4242)
    assert decode(commit) == Commit(
        flags=0, commit_lsn=0x1_0000_0010, end_lsn=0x1_0000_0040, commit_time=777_000_000
    )
    assert unix_microseconds(0) == PG_EPOCH_US == 946_684_800 * 1_000_000


def test_relation() -> None:
    message = (
        b"R" + struct.pack(">I", 0xFFFF_FFF0) + b"sales\0" + "Bestellungen_ü".encode() + b"\0"
        + b"d" + struct.pack(">h", 2)
        + b"\x01id\0" + struct.pack(">Ii", 23, -1)
        + b"\x00name\0" + struct.pack(">Ii", 1043, 44)
    )

    assert decode(message) == Relation(
        oid=0xFFFF_FFF0,  # OIDs are unsigned
        namespace="sales",
        name="Bestellungen_ü",
        replica_identity="d",
        columns=(RelationColumn("id", 23, -1, True), RelationColumn("name", 1043, 44, False)),
    )


def test_insert_values_null_and_unchanged_toast() -> None:
    row = tuple_data(text("1"), b"n", b"u", text(""), text("日本 \t\\"))
    message = b"I" + struct.pack(">I", 16384) + b"N" + row

    assert decode(message) == Insert(16384, ["1", None, Toast.UNCHANGED, "", "日本 \t\\"])


@pytest.mark.parametrize(
    ("old_kind", "old", "is_full"),
    [(b"", None, False), (b"K", ["1", None], False), (b"O", ["1", "before"], True)],
)
def test_update(old_kind: bytes, old: list[Value] | None, is_full: bool) -> None:
    old_tuple = tuple_data(*(text(v) if isinstance(v, str) else b"n" for v in old)) if old else b""
    message = (
        b"U" + struct.pack(">I", 7) + old_kind + old_tuple + b"N" + tuple_data(text("2"), b"u")
    )

    assert decode(message) == Update(7, old, is_full, ["2", Toast.UNCHANGED])


@pytest.mark.parametrize(("kind", "is_full"), [(b"K", False), (b"O", True)])
def test_delete(kind: bytes, is_full: bool) -> None:
    message = b"D" + struct.pack(">I", 7) + kind + tuple_data(text("5"), b"n")

    assert decode(message) == Delete(7, ["5", None], is_full)


def test_truncate() -> None:
    message = b"T" + struct.pack(">ib", 2, 3) + struct.pack(">II", 10, 0xFFFF_FFFF)

    assert decode(message) == Truncate((10, 0xFFFF_FFFF), cascade=True, restart_identity=True)


def test_origin_type_and_message_are_skipped() -> None:
    origin = b"O" + struct.pack(">q", 99) + b"node_a\0"
    type_ = b"Y" + struct.pack(">I", 16500) + b"public\0mood\0"
    logical = b"M" + b"\x01" + struct.pack(">q", 99) + b"prefix\0" + struct.pack(">i", 2) + b"hi"
    begin = b"B" + struct.pack(">qqi", 1, 2, 3)

    assert [decode(m) for m in (origin, type_, logical)] == [None, None, None]
    assert list(decode_all([origin, begin, type_, logical])) == [Begin(1, 2, 3)]


def test_unknown_message_and_binary_values_are_errors() -> None:
    with pytest.raises(DecodeError, match="unknown pgoutput message kind 'S'"):
        decode(b"S" + b"\0" * 8)
    binary = b"I" + struct.pack(">I", 1) + b"N" + struct.pack(">h", 1) + b"b\0\0\0\0"
    with pytest.raises(DecodeError, match="'b'"):
        decode(binary)


def test_lsn_text() -> None:
    assert format_lsn(0x16_B374_D848) == "16/B374D848"
    assert parse_lsn("16/b374d848") == 0x16_B374_D848
    assert parse_lsn(format_lsn(2**64 - 1)) == 2**64 - 1
