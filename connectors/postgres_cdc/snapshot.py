"""Reading a whole table inside an exported snapshot, as Arrow batches of text.

COPY writes each value in its text form, the same form pgoutput streams, so the snapshot
and the changes go through one cast into warehouse types. COPY's CSV is parsed by Arrow's
streaming reader: no Python object per value.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator

import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv
from psycopg import sql

from headwater.cdc.batch import SourceColumn

BLOCK_BYTES = 16 << 20
"""Bytes of CSV per Arrow batch (about 100k-500k rows of a typical table)."""


class _CopyReader(io.RawIOBase):
    """A file object over COPY TO STDOUT chunks, for Arrow's CSV reader."""

    def __init__(self, chunks: Iterator[bytes | bytearray | memoryview]) -> None:
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = bytes(chunk)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def read_table(
    conn: psycopg.Connection, schema: str, table: str, columns: list[SourceColumn]
) -> Iterator[pa.RecordBatch]:
    """Every row of `schema.table` as batches of `string` columns named like `columns`
    (null = SQL NULL, an empty string stays an empty string)."""
    names = [column.name for column in columns]
    query = sql.SQL("COPY (SELECT {} FROM {}) TO STDOUT WITH (FORMAT csv)").format(
        sql.SQL(", ").join(sql.Identifier(name) for name in names),
        sql.Identifier(schema, table),
    )
    with conn.cursor() as cursor, cursor.copy(query) as copy:
        chunks = iter(copy)
        first = next(chunks, None)
        if first is None:
            return  # an empty table: Arrow refuses an empty CSV stream
        # COPY CSV writes NULL unquoted and empty and quoted-empty strings as `""`.
        reader = pa_csv.open_csv(
            io.BufferedReader(_CopyReader(itertools.chain([first], chunks)), buffer_size=1 << 20),
            read_options=pa_csv.ReadOptions(column_names=names, block_size=BLOCK_BYTES),
            parse_options=pa_csv.ParseOptions(newlines_in_values=True),
            convert_options=pa_csv.ConvertOptions(
                column_types={name: pa.string() for name in names},
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
                null_values=[""],
            ),
        )
        yield from reader
