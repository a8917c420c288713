"""Quoting for SQL that Headwater builds as text.

Values are inlined as quoted literals instead of bound as `?` parameters: binding Python
parameters makes duckdb import pandas (about 2 s), which every command would pay.
"""

from __future__ import annotations


def quote_literal(text: str) -> str:
    """`text` as a single-quoted SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def quote_identifier(*parts: str) -> str:
    """A dotted, double-quoted SQL name: `quote_identifier("lake", "raw_x", "t")`."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in parts)
