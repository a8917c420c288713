"""PostgreSQL -> DuckDB type mapping, and every text cast checked on PostgreSQL's own text:
values written by the real server (COPY and pgoutput), cast in DuckDB, compared with what
psycopg reads."""

from __future__ import annotations

import io
import json
import math
import re
import struct
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import duckdb
import pytest

from connectors.postgres_cdc.pgtypes import source_column, text_cast_of, warehouse_type_of
from headwater.cdc.batch import SourceColumn
from tests.connectors.postgres_cdc.test_changes import Sandbox, open_sandbox, rules

MAPPING = [
    ("smallint", "SMALLINT"),
    ("integer", "INTEGER"),
    ("bigint", "BIGINT"),
    ("real", "FLOAT"),
    ("double precision", "DOUBLE"),
    ("numeric(12,2)", "DECIMAL(12,2)"),
    ("numeric(38,0)", "DECIMAL(38,0)"),
    ("numeric(39,2)", "DOUBLE"),
    ("numeric", "DOUBLE"),
    ("numeric(5,-2)", "DECIMAL(7,0)"),
    ("numeric(3,5)", "DECIMAL(5,5)"),
    ("boolean", "BOOLEAN"),
    ("text", "VARCHAR"),
    ("character varying(40)", "VARCHAR"),
    ("character varying", "VARCHAR"),
    ("character(3)", "VARCHAR"),
    ("bpchar", "VARCHAR"),
    ("name", "VARCHAR"),
    ("citext", "VARCHAR"),
    ("public.citext", "VARCHAR"),
    ("uuid", "UUID"),
    ("json", "JSON"),
    ("jsonb", "JSON"),
    ("date", "DATE"),
    ("timestamp without time zone", "TIMESTAMP"),
    ("timestamp(3) without time zone", "TIMESTAMP"),
    ("timestamp with time zone", "TIMESTAMPTZ"),
    ("timestamp(0) with time zone", "TIMESTAMPTZ"),
    ("time without time zone", "TIME"),
    ("time(2) without time zone", "TIME"),
    ("time with time zone", "TIMETZ"),
    ("interval", "INTERVAL"),
    ("interval(3)", "INTERVAL"),
    ("interval year to month", "INTERVAL"),
    ("interval day to second(3)", "INTERVAL"),
    ("bytea", "BLOB"),
    ("integer[]", "INTEGER[]"),
    ("text[]", "VARCHAR[]"),
    ("numeric(12,2)[]", "DECIMAL(12,2)[]"),
    ("timestamp(3) with time zone[]", "TIMESTAMPTZ[]"),
    ("bytea[]", "BLOB[]"),
    ("inet", "VARCHAR"),
    ("money", "VARCHAR"),
    ("mood", "VARCHAR"),
    ('"Mood"', "VARCHAR"),
    ("point", "VARCHAR"),
    ("xml", "VARCHAR"),
    ("int4range", "VARCHAR"),
    ("bit(4)", "VARCHAR"),
    ("inet[]", "VARCHAR"),
    ("box[]", "VARCHAR"),
]


@pytest.mark.parametrize(("source_type", "warehouse_type"), MAPPING)
def test_mapping(source_type: str, warehouse_type: str) -> None:
    column = source_column("c", source_type, True)
    assert column == SourceColumn("c", source_type, warehouse_type, column.text_cast, True)
    assert warehouse_type_of(source_type) == warehouse_type
    assert text_cast_of(source_type) == column.text_cast
    # One placeholder and no other brace: str.format and str.replace both fill it.
    assert column.text_cast.count("{}") == 1
    assert "{" not in column.text_cast.replace("{}", "")
    assert "}" not in column.text_cast.replace("{}", "")


def test_unknown_types_are_varchar_as_is() -> None:
    assert source_column("c", "mood", False).text_cast == "CAST({} AS VARCHAR)"
    con = duckdb.connect()
    sql = f"SELECT {text_cast_of('box[]').format('?')}"
    assert con.execute(sql, ["{(1,1),(0,0);(2,2),(1,1)}"]).fetchone() == (
        "{(1,1),(0,0);(2,2),(1,1)}",
    )


# --- round trip through the real server ----------------------------------------------------

PY = "<as psycopg reads it>"
"""Expectation: the DuckDB value equals psycopg's (normalized) value."""
TEXT = "<the text as is>"
"""Expectation: the DuckDB value is PostgreSQL's text, unchanged."""

TRICKY_TEXT = [
    "a b", "c", None, "NULL", "null", "", " lead", "trail ", 'q"uote', "back\\slash", "com,ma",
    "{br}", "[sq]", "x]y", "'apos'", "it's", "a(b", "(a,b)", "tab\there", "nl\nx", "é ü 日本",
    "\\", '"', ",", "a}", "NULL ", "a:b", "{'a': 1}", "[1,2]",
]


@dataclass(frozen=True)
class Case:
    """One value of one column type, and what DuckDB must make of its text."""

    type: str
    value: Any
    """PostgreSQL input text, or a Python value psycopg adapts (lists, bytes)."""
    expect: Any = PY
    """PY, TEXT, a list (DuckDB's list value), else DuckDB's VARCHAR rendering of the cast
    value (None: SQL NULL)."""


CASES = [
    *(Case("smallint", v) for v in ("-32768", "32767", "0")),
    *(Case("integer", v) for v in ("-2147483648", "2147483647")),
    *(Case("bigint", v) for v in ("-9223372036854775808", "9223372036854775807")),
    *(Case("real", v) for v in ("3.4028235e38", "-1.1754944e-38", "1.4e-45", "0.1", "NaN")),
    Case("real", "-Infinity", "-inf"),
    *(Case("double precision", v) for v in ("1.7976931348623157e308", "5e-324", "0.1", "NaN")),
    Case("double precision", "Infinity", "inf"),
    *(Case("numeric(12,2)", v) for v in ("1234567890.12", "-0.01", "0")),
    Case("numeric(12,2)", "NaN", None),  # DECIMAL has no NaN (module docstring)
    Case("numeric(38,10)", "1234567890123456789012345678.0123456789"),
    Case("numeric(5,-2)", "12345"),
    Case("numeric(3,5)", "0.00123"),
    Case("numeric(40,2)", "12345678901234567890123456789012345678.12"),
    *(Case("numeric", v) for v in ("1.5", "-123.456", "1e-20", "NaN", "Infinity", "-Infinity")),
    *(Case("boolean", v) for v in ("true", "false")),
    *(Case("text", v) for v in TRICKY_TEXT if v is not None),
    Case("character varying(40)", "abc"),
    Case("character(3)", "ab"),
    Case("name", "some_name"),
    Case("uuid", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
    *(
        Case(kind, v)
        for kind in ("json", "jsonb")
        for v in ('{"a": [1, 2.5, "x\\"y"], "b": null}', '"\\u00e9"', "1e400", "[]", "12.50")
    ),
    *(Case("date", v) for v in ("2024-02-29", "0001-01-01", "9999-12-31")),
    Case("date", "0044-03-15 BC", "0044-03-15 (BC)"),
    Case("date", "infinity", "infinity"),
    Case("date", "-infinity", "-infinity"),
    Case("date", "10000-01-01", "10000-01-01"),
    Case("timestamp without time zone", "2024-02-29 12:34:56.123456"),
    Case("timestamp without time zone", "0001-01-01 00:00:00"),
    Case("timestamp without time zone", "0044-03-15 12:34:56.5 BC", "0044-03-15 (BC) 12:34:56.5"),
    Case("timestamp without time zone", "infinity", "infinity"),
    Case("timestamp(3) with time zone", "2024-02-29 12:34:56.123456+05:30"),
    Case("timestamp with time zone", "1999-12-31 23:59:59.999999-08"),
    Case("timestamp with time zone", "0001-01-01 00:00:00+00 BC", "0001-01-01 (BC) 00:00:00+00"),
    Case("timestamp with time zone", "-infinity", "-infinity"),
    *(Case("time without time zone", v) for v in ("23:59:59.999999", "00:00:00", "12:34")),
    Case("time without time zone", "24:00:00", "24:00:00"),
    *(Case("time with time zone", v) for v in ("12:34:56+05:30", "12:00:00-03")),
    *(
        Case("interval", v)
        for v in ("1 day 02:03:04", "-00:00:01", "3 mons", "1 day -02:03:04", "0.000001 s",
                  "-2 mons +3 days -00:00:00.5", "100:00:00")
    ),
    # psycopg turns a year into 365 days, DuckDB into 12 months: compare DuckDB's rendering
    Case("interval", "1 year 2 mons", "1 year 2 months"),
    Case("interval", "-1 years -2 mons +3 days -04:05:06.789",
         "-1 year -2 months 3 days -04:05:06.789"),
    *(Case("bytea", v) for v in (b"\x00\xff\x10\\x", b"")),
    *(Case("integer[]", v) for v in ("{1,2,NULL}", "{}", "{NULL}")),
    Case("integer[]", "{{1,2},{3,4}}", [1, 2, 3, 4]),  # flattened
    Case("integer[]", "[0:1]={5,6}", [5, 6]),
    Case("text[]", TRICKY_TEXT),
    *(Case("text[]", [v]) for v in TRICKY_TEXT),
    Case("text[]", '{{a,"b}"},{"{c",NULL}}', ["a", "b}", "{c", None]),
    Case("character varying(5)[]", ["ab", "ab c", None]),
    Case("character(2)[]", ["a", "bb"]),
    Case("numeric(12,2)[]", "{1.50,-2,NULL}"),
    Case("numeric(12,2)[]", "{1.50,NaN}", [Decimal("1.50"), None]),
    Case("numeric[]", "{1.5,NaN,Infinity}"),
    Case("boolean[]", "{t,f,NULL}"),
    Case("real[]", "{0.1,NaN,-Infinity}"),
    Case("double precision[]", "{0.1,1e+300}"),
    Case("bigint[]", "{-9223372036854775808}"),
    Case("uuid[]", "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11,NULL}"),
    Case("date[]", "{2024-01-01,NULL}"),
    Case("date[]", "{infinity,0044-03-15 BC}", "[infinity, '0044-03-15 (BC)']"),
    Case("timestamp without time zone[]", "{\"2024-01-01 10:00:00.5\"}"),
    Case("timestamp with time zone[]", "{\"2024-01-01 10:00:00+01\",NULL}"),
    Case("time without time zone[]", "{10:00:00,23:59:59.5}"),
    Case("interval[]", "{\"1 day 02:00:00\",\"-00:00:01\"}"),
    Case("json[]", ['{"a": "b,c}"}', "[1, 2]", None]),
    Case("jsonb[]", ['{"a": "\\""}']),
    Case("bytea[]", [b"\x01\x02", b"\\", b"", None]),
    *(Case(kind, v, TEXT) for kind, v in (
        ("inet", "192.168.0.1/24"), ("cidr", "10.0.0.0/8"), ("macaddr", "08:00:2b:01:02:03"),
        ("money", "1234.5"), ("point", "(1,2)"), ("box", "(1,1),(0,0)"), ("xml", "<a>b</a>"),
        ("int4range", "[1,5)"), ("bit(4)", "1010"), ("tsvector", "a fat cat"),
        ("inet[]", "{192.168.0.1,::1}"), ("box[]", "{(1,1),(0,0);(2,2),(1,1)}"),
        ("mood", "happy"), ("mood[]", "{happy,sad}"),
    )),
]


@pytest.fixture(scope="module")
def sandbox(pg_url: str) -> Iterator[Sandbox]:
    with open_sandbox(pg_url, "pgtypes_" + uuid.uuid4().hex[:8]) as box:
        yield box


@dataclass
class RoundTrip:
    """The cases written to PostgreSQL and read back three ways."""

    columns: dict[str, SourceColumn]
    """Column name -> its SourceColumn from the batch (pgoutput's Relation + format_type)."""
    case_of: dict[int, tuple[str, Case]]
    """Row id -> (column, case); each row sets one column, the others are NULL."""
    copy_text: dict[int, dict[str, str | None]]
    """Row id -> column -> COPY (text format) value."""
    stream_text: dict[int, dict[str, str | None]]
    """Row id -> column -> pgoutput value."""
    duck: duckdb.DuckDBPyConnection
    """DuckDB with the batch's rows as table `batch`."""
    psycopg: dict[int, Any]
    """Row id -> psycopg's value (PY cases only)."""
    epochs: dict[int, Any]
    """Row id -> PostgreSQL's epoch of dates and timestamps."""

    def cast(self, row_id: int, expression: str) -> Any:
        """`expression` of the row's column (`{}`, e.g. `epoch({})`), cast by its text_cast."""
        name = self.case_of[row_id][0]
        cast = self.columns[name].text_cast.format(f'"{name}"')
        sql = f"SELECT {expression.format(cast)} FROM batch WHERE id = ?"
        row = self.duck.execute(sql, [str(row_id)]).fetchone()
        assert row is not None
        return row[0]


@pytest.fixture(scope="module")
def round_trip(sandbox: Sandbox) -> RoundTrip:
    types = list(dict.fromkeys(case.type for case in CASES))
    names = {kind: f"c{index}" for index, kind in enumerate(types)}
    sandbox.sql("CREATE TYPE mood AS ENUM ('happy', 'sad')")
    ddl = ", ".join(f"{names[kind]} {kind}" for kind in types)
    sandbox.sql(f"CREATE TABLE t (id int PRIMARY KEY, {ddl})")
    stream = sandbox.stream("t")
    case_of = {}
    for row_id, case in enumerate(CASES, 1):
        column = names[case.type]
        sandbox.sql(
            f"INSERT INTO t (id, {column}) VALUES (%s, %s::{case.type})", (row_id, case.value)
        )
        case_of[row_id] = (column, case)

    batch = stream.batch({"t": rules(["id"])})
    changes = batch.tables["t"]
    stream_text = {int(row["id"]): row for row in changes.rows.to_pylist()}
    copy_text = _copy_text(sandbox, ["id", *names.values()])

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("batch", changes.rows)
    columns = {column.name: column for column in changes.columns}
    epochs, pg_values = {}, {}
    for row_id, (name, case) in case_of.items():
        if case.expect is PY:
            row = sandbox.conn.execute(f"SELECT {name} FROM t WHERE id = %s", (row_id,)).fetchone()
            assert row is not None
            pg_values[row_id] = row[0]
        if columns[name].warehouse_type in ("DATE", "TIMESTAMP", "TIMESTAMPTZ"):
            row = sandbox.conn.execute(
                f"SELECT extract(epoch FROM {name}) FROM t WHERE id = %s", (row_id,)
            ).fetchone()
            assert row is not None
            epochs[row_id] = row[0]
    return RoundTrip(columns, case_of, copy_text, stream_text, con, pg_values, epochs)


def _copy_text(sandbox: Sandbox, names: list[str]) -> dict[int, dict[str, str | None]]:
    """Table t as COPY's text format writes it, unescaped."""
    with sandbox.conn.cursor() as cursor:
        out = io.BytesIO()
        with cursor.copy("COPY t TO STDOUT") as copy:
            for data in copy:
                out.write(data)
    rows = {}
    for line in out.getvalue().decode().split("\n")[:-1]:
        fields = [None if raw == "\\N" else _unescape(raw) for raw in line.split("\t")]
        row = dict(zip(names, fields, strict=True))
        rows[int(str(row["id"]))] = row
    return rows


_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}


def _unescape(raw: str) -> str:
    """A COPY text field's value (backslash escapes)."""
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), raw)


def _ids() -> list[str]:
    return [f"{row_id}-{case.type}-{case.value!r}"[:60] for row_id, case in enumerate(CASES, 1)]


@pytest.mark.postgres
@pytest.mark.parametrize("row_id", range(1, len(CASES) + 1), ids=_ids())
def test_round_trip(round_trip: RoundTrip, row_id: int) -> None:
    name, case = round_trip.case_of[row_id]
    column = round_trip.columns[name]
    assert column.warehouse_type == warehouse_type_of(case.type)
    text = round_trip.stream_text[row_id][name]
    # The snapshot (COPY) and the stream (pgoutput) write the same text.
    assert text == round_trip.copy_text[row_id][name]
    # Every other column of the row is NULL, and stays NULL through its cast.
    assert all(
        value is None for other, value in round_trip.stream_text[row_id].items()
        if other not in (name, "id") and not other.startswith("_hw_")
    )
    value = round_trip.cast(row_id, "{}")
    if case.expect is PY:
        expected = _normalize(column.warehouse_type, round_trip.psycopg[row_id])
        assert _same(_from_duck(column.warehouse_type, value), expected), (text, value, expected)
    elif case.expect is TEXT:
        assert (value, column.warehouse_type) == (text, "VARCHAR")
    elif isinstance(case.expect, list):
        assert value == case.expect, text
    else:
        assert round_trip.cast(row_id, "CAST({} AS VARCHAR)") == case.expect, text
    if row_id in round_trip.epochs:
        pg_epoch = round_trip.epochs[row_id]
        duck_epoch = round_trip.cast(row_id, "epoch({})")
        if math.isinf(pg_epoch):
            assert round_trip.cast(row_id, "isinf({})")
            assert round_trip.cast(row_id, "{} > '2000-01-01'") == (pg_epoch > 0)
        else:
            assert abs(Decimal(str(duck_epoch)) - pg_epoch) <= Decimal("0.000001")


def _float32(value: float) -> float:
    return float(struct.unpack("f", struct.pack("f", value))[0])


def _flatten(value: Any) -> Any:
    if not isinstance(value, list):
        return [value]
    return [leaf for item in value for leaf in _flatten(item)]


def _normalize(warehouse_type: str, value: Any) -> Any:
    """psycopg's value as DuckDB's cast should give it."""
    if value is None:
        return None
    if warehouse_type == "JSON[]":  # JSON arrays are lists too: nothing to flatten
        return value
    if warehouse_type.endswith("[]"):
        return [_normalize(warehouse_type[:-2], item) for item in _flatten(value)]
    if warehouse_type == "FLOAT":
        return _float32(value)
    if warehouse_type == "DOUBLE":
        return float(value)
    return value


def _from_duck(warehouse_type: str, value: Any) -> Any:
    """DuckDB's value with JSON parsed."""
    if value is None:
        return None
    if warehouse_type.endswith("[]"):
        return [_from_duck(warehouse_type[:-2], item) for item in value]
    if warehouse_type == "JSON":
        return json.loads(value)
    return value


def _same(left: Any, right: Any) -> bool:
    """Equal, NaN included."""
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(_same, left, right))
    if isinstance(left, float) and isinstance(right, float) and math.isnan(left):
        return math.isnan(right)
    return type(left) is type(right) and bool(left == right)
