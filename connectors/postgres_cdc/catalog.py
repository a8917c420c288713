"""What the source's catalog says about the replicated tables: columns, types and keys."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from connectors.postgres_cdc.pgtypes import source_column
from headwater.cdc.batch import SourceColumn

# Domains are replicated as their base type; format_type of the base type (with the
# domain's typmod) is what the type mapping understands.
_BASE_TYPE = """
SELECT format_type(
         CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END,
         CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE %(typmod)s END)
FROM pg_type t WHERE t.oid = %(oid)s
"""

_COLUMNS = """
SELECT a.attname,
       format_type(CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END,
                   CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END),
       COALESCE(a.attnum = ANY(i.indkey), false)
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
WHERE n.nspname = %(schema)s AND c.relname = %(table)s AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""

_PRIMARY_KEYS = """
SELECT c.relname, a.attname
FROM pg_index i
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey)
WHERE n.nspname = %(schema)s AND i.indisprimary
ORDER BY c.relname, a.attnum
"""

_TABLES = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s AND c.relkind = 'r' AND NOT c.relispartition
ORDER BY c.relname
"""


@dataclass(frozen=True)
class SourceTableInfo:
    """One source table as its catalog describes it now."""

    name: str
    """Table name."""
    columns: list[SourceColumn]
    """Columns in table order, with their warehouse types."""

    @property
    def primary_key(self) -> list[str]:
        """Primary-key columns; empty when the table has none (REPLICA IDENTITY FULL)."""
        return [column.name for column in self.columns if column.primary_key]


def schema_tables(conn: psycopg.Connection, schema: str) -> list[str]:
    """Ordinary tables of `schema` (partitioned tables are not replicated yet)."""
    return [row[0] for row in conn.execute(_TABLES, {"schema": schema}).fetchall()]


def table_info(conn: psycopg.Connection, schema: str, table: str) -> SourceTableInfo | None:
    """Columns and key of `schema.table`; None when it does not exist."""
    rows = conn.execute(_COLUMNS, {"schema": schema, "table": table}).fetchall()
    if not rows:
        return None
    return SourceTableInfo(
        table, [source_column(name, kind, bool(is_key)) for name, kind, is_key in rows]
    )


def primary_keys(conn: psycopg.Connection, schema: str) -> dict[str, list[str]]:
    """Table -> primary-key columns (in table order) of every table of `schema` with one."""
    keys: dict[str, list[str]] = {}
    for table, column in conn.execute(_PRIMARY_KEYS, {"schema": schema}).fetchall():
        keys.setdefault(table, []).append(column)
    return keys


class TypeNames:
    """format_type of the base type of (type oid, typmod), asked once per pair: pgoutput's
    Relation messages carry only oids."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self._conn = conn
        self._names: dict[tuple[int, int], str] = {}

    def __call__(self, oid: int, typmod: int) -> str:
        """The type name of `oid` with `typmod`."""
        key = (oid, typmod)
        if key not in self._names:
            row = self._conn.execute(_BASE_TYPE, {"oid": oid, "typmod": typmod}).fetchone()
            self._names[key] = row[0] if row and row[0] else "text"
        return self._names[key]
