"""PostgreSQL types -> warehouse (DuckDB) types, and the DuckDB cast of PostgreSQL's text form.

Values reach the warehouse as the text PostgreSQL writes (COPY text/CSV and pgoutput protocol
1), with the session settings of `connection.SESSION_OPTIONS` (UTC, ISO dates, postgres
interval style, shortest exact floats) and the default `bytea_output = hex`. Each column gets
a `text_cast`: a DuckDB expression with exactly one `{}` (the quoted column) and no other
brace, so callers may fill it with `str.format` or `str.replace`.

Where DuckDB's own cast misreads PostgreSQL's text, the expression fixes the text first
(each checked in DuckDB 1.5 against real PostgreSQL 15 output, see the tests):

- `interval`: PostgreSQL writes `+` before a part whose sign differs from the previous one
  (`-1 years -2 mons +3 days -04:05:06`); DuckDB rejects the `+`, so it is removed.
- `date`: DuckDB reads `0044-03-15 BC` as 44 AD (silently); it wants `0044-03-15 (BC)`.
- `timestamp`, `timestamptz`: DuckDB rejects PostgreSQL's `... 12:00:00 BC`; it wants the
  era after the date: `0044-03-15 (BC) 12:00:00`.
- `numeric(p,s)` -> DECIMAL: PostgreSQL stores `NaN` in constrained numerics, DECIMAL has no
  NaN: it becomes NULL (unconstrained numerics map to DOUBLE, which keeps NaN/Infinity).
- Arrays: DuckDB's VARCHAR -> LIST cast treats unquoted `'`, `(`, `[` and `]` as quoting or
  nesting, which PostgreSQL leaves unquoted (`{it's,x]y}`), so the elements are split with a
  regular expression written for PostgreSQL's array syntax and unescaped one by one.
  `format_type` does not tell an `integer[]` from an `integer[][]` column, so a
  multi-dimensional value is flattened in row-major order (like PostgreSQL's `unnest`)
  rather than failing; non-default lower bounds (`[0:1]={1,2}`) are dropped likewise.

Limits that remain (the cast fails loudly rather than store a wrong value): timestamps after
294247-01-10 (PostgreSQL allows up to 294276 AD) are out of DuckDB's range, and DuckDB does
not parse an interval whose time part has a billion hours or more (PostgreSQL allows up to
2562047788 hours).

Everything else (inet, cidr, macaddr, money, enums, geometric types, xml, ranges, bit strings,
tsvector, arrays of those, ...) is VARCHAR holding the PostgreSQL text: it never fails.
"""

from __future__ import annotations

import re

from headwater.cdc.batch import SourceColumn

DECIMAL_MAX_PRECISION = 38
"""Widest DuckDB DECIMAL; wider or unconstrained numerics become DOUBLE."""

_VARCHAR_CAST = "CAST({} AS VARCHAR)"

# format_type spells a type the same way every time, so exact names and a few patterns
# (for typmods such as `(40)`, `(3)`, `(12,2)`) cover every built-in type mapped here.
_EXACT: dict[str, tuple[str, str]] = {
    "smallint": ("SMALLINT", "CAST({} AS SMALLINT)"),
    "integer": ("INTEGER", "CAST({} AS INTEGER)"),
    "bigint": ("BIGINT", "CAST({} AS BIGINT)"),
    "real": ("FLOAT", "CAST({} AS FLOAT)"),
    "double precision": ("DOUBLE", "CAST({} AS DOUBLE)"),
    "numeric": ("DOUBLE", "CAST({} AS DOUBLE)"),
    "boolean": ("BOOLEAN", "CAST({} AS BOOLEAN)"),
    "text": ("VARCHAR", _VARCHAR_CAST),
    "character varying": ("VARCHAR", _VARCHAR_CAST),
    "bpchar": ("VARCHAR", _VARCHAR_CAST),
    "name": ("VARCHAR", _VARCHAR_CAST),
    '"char"': ("VARCHAR", _VARCHAR_CAST),
    "citext": ("VARCHAR", _VARCHAR_CAST),
    "uuid": ("UUID", "CAST({} AS UUID)"),
    "json": ("JSON", "CAST({} AS JSON)"),
    "jsonb": ("JSON", "CAST({} AS JSON)"),
    "date": ("DATE", "CAST(replace({}, ' BC', ' (BC)') AS DATE)"),
    "bytea": ("BLOB", "from_hex(substr({}, 3))"),
}

# Anchored on the time part only: 5x faster in DuckDB than matching the whole value.
_BC_TIMESTAMP = r"regexp_replace({}, ' (\S+) BC$', ' (BC) \1')"

_PATTERNS: list[tuple[re.Pattern[str], tuple[str, str]]] = [
    (re.compile(r"character varying\(\d+\)|character\(\d+\)"), ("VARCHAR", _VARCHAR_CAST)),
    (
        re.compile(r"timestamp(\(\d\))? without time zone"),
        ("TIMESTAMP", f"CAST({_BC_TIMESTAMP} AS TIMESTAMP)"),
    ),
    (
        re.compile(r"timestamp(\(\d\))? with time zone"),
        ("TIMESTAMPTZ", f"CAST({_BC_TIMESTAMP} AS TIMESTAMPTZ)"),
    ),
    (re.compile(r"time(\(\d\))? without time zone"), ("TIME", "CAST({} AS TIME)")),
    (re.compile(r"time(\(\d\))? with time zone"), ("TIMETZ", "CAST({} AS TIMETZ)")),
    # interval, interval(3), interval year to month, interval day to second(3), ...
    (
        re.compile(r"interval( [a-z ]+)?(\(\d\))?"),
        ("INTERVAL", "CAST(replace({}, '+', '') AS INTERVAL)"),
    ),
    # an extension type in a schema outside the search path comes back qualified
    (re.compile(r'("?[^".]+"?\.)?"?citext"?'), ("VARCHAR", _VARCHAR_CAST)),
]

_NUMERIC = re.compile(r"numeric\((\d+),(-?\d+)\)")

# One array element per match, group 1: a quoted element (with backslash escapes) or an
# unquoted one. Leading `{` and trailing `}` of inner dimensions are skipped (flattening),
# as is a leading dimension decoration like `[0:2]=`. Braces are written \x7b / \x7d so the
# template stays free of `{`/`}` other than its placeholder.
_ARRAY_ELEMENTS = r"""(?:^(?:\[[^=]*\]=)?|,)\x7b*("(?:[^"\\]|\\.)*"|[^,\x7b\x7d]+)\x7d*"""
_ARRAY_ELEMENT = (
    r"""CASE WHEN hw_e = 'NULL' THEN NULL WHEN hw_e[1] = '"' """
    r"""THEN regexp_replace(hw_e[2:-2], '\\(.)', '\1', 'g') ELSE hw_e END"""
)


def _numeric(precision: int, scale: int) -> tuple[str, str]:
    """DECIMAL for a numeric(p,s) that fits, else DOUBLE."""
    # PostgreSQL 15 allows scale < 0 (rounds to tens, hundreds...) and scale > precision
    # (only digits after the point); DuckDB needs 0 <= scale <= width.
    width = max(precision - min(scale, 0), scale)
    scale = max(scale, 0)
    if width > DECIMAL_MAX_PRECISION:
        return _EXACT["numeric"]
    decimal = f"DECIMAL({width},{scale})"
    return decimal, f"CAST(nullif({{}}, 'NaN') AS {decimal})"


def _scalar(source_type: str) -> tuple[str, str] | None:
    """(warehouse type, text cast) of a non-array type, None when it is not mapped."""
    exact = _EXACT.get(source_type)
    if exact is not None:
        return exact
    numeric = _NUMERIC.fullmatch(source_type)
    if numeric is not None:
        return _numeric(int(numeric.group(1)), int(numeric.group(2)))
    for pattern, mapped in _PATTERNS:
        if pattern.fullmatch(source_type):
            return mapped
    return None


def _array(element_type: str) -> tuple[str, str] | None:
    """(warehouse type, text cast) of a 1-D array of a mapped scalar type, else None."""
    # Unknown element types stay VARCHAR as a whole: their text may use another delimiter
    # than the comma (box uses `;`), which the element split cannot know.
    element = _scalar(element_type)
    if element is None:
        return None
    warehouse_type, element_cast = element
    value = element_cast.replace("{}", _ARRAY_ELEMENT)
    cast = f"list_transform(regexp_extract_all({{}}, '{_ARRAY_ELEMENTS}', 1), lambda hw_e: {value})"
    return f"{warehouse_type}[]", cast


def _mapping(source_type: str) -> tuple[str, str]:
    """(warehouse type, text cast) of any type; VARCHAR when not mapped."""
    normalized = source_type.strip()
    mapped = _array(normalized[:-2]) if normalized.endswith("[]") else _scalar(normalized)
    return mapped if mapped is not None else ("VARCHAR", _VARCHAR_CAST)


def warehouse_type_of(source_type: str) -> str:
    """The DuckDB type a column of PostgreSQL type `source_type` (format_type) becomes."""
    return _mapping(source_type)[0]


def text_cast_of(source_type: str) -> str:
    """The DuckDB expression turning the PostgreSQL text of `source_type` into its warehouse
    type; `{}` stands for the (quoted) column."""
    return _mapping(source_type)[1]


def source_column(name: str, source_type: str, primary_key: bool) -> SourceColumn:
    """The SourceColumn of a PostgreSQL column; `source_type` is `format_type(oid, typmod)`
    of its base type (domains resolved)."""
    warehouse_type, text_cast = _mapping(source_type)
    return SourceColumn(
        name=name,
        source_type=source_type,
        warehouse_type=warehouse_type,
        text_cast=text_cast,
        primary_key=primary_key,
    )
