"""The second check: DuckDB's own parser reads the SQL and the policy judges its tree.

sqlglot and DuckDB do not tokenize every input alike (nested block comments, dollar-quoted
strings, syntax newer than sqlglot). Judging the tree DuckDB itself produced
(`json_serialize_sql`) means a statement hidden from sqlglot is still seen here.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import duckdb

from headwater.query.errors import InvalidSqlError, UnsafeQueryError
from headwater.query.policy import function_refusal, table_function_refusal, table_refusal
from headwater.warehouse.sql import quote_literal

_QUERY_NODES = frozenset({"SELECT_NODE", "SET_OPERATION_NODE", "RECURSIVE_CTE_NODE", "CTE_NODE"})
_PLAIN_TABLE_REFS = frozenset({"JOIN", "SUBQUERY", "EXPRESSION_LIST", "EMPTY", "PIVOT"})
_SHOW_KINDS = frozenset({"DESCRIBE", "SUMMARY"})

_lock = threading.Lock()
_parser: duckdb.DuckDBPyConnection | None = None


def _parser_connection() -> duckdb.DuckDBPyConnection:
    """A private in-memory DuckDB used only to parse; it can reach nothing."""
    global _parser
    if _parser is None:
        _parser = duckdb.connect(
            ":memory:",
            config={
                "enable_external_access": False,
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
                "lock_configuration": True,
            },
        )
    return _parser


def _clean(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def check_with_duckdb(sql: str) -> None:
    """Raise `UnsafeQueryError` unless DuckDB parses `sql` as one SELECT whose tree the
    policy allows (`InvalidSqlError` when DuckDB cannot parse it)."""
    with _lock:
        conn = _parser_connection()
        try:
            statements = conn.extract_statements(sql)
        except duckdb.Error as exc:
            raise InvalidSqlError(f"DuckDB cannot parse the SQL: {_clean(exc)}") from None
        if len(statements) != 1:
            raise UnsafeQueryError(
                f"send exactly one statement; DuckDB reads {len(statements)} in this SQL"
            )
        kind = statements[0].type
        if kind != duckdb.StatementType.SELECT:
            raise UnsafeQueryError(
                f"only read statements are allowed; DuckDB reads this as a {kind.name} statement"
            )
        # A literal, not a `?` parameter: binding parameters makes duckdb import pandas (~2 s).
        row = conn.execute(f"SELECT json_serialize_sql({quote_literal(sql)})").fetchone()
    assert row is not None
    tree: dict[str, Any] = json.loads(row[0])
    if tree.get("error"):
        # PRAGMA and SHOW-like statements are rewritten to SELECT but cannot be serialized.
        raise UnsafeQueryError(
            f"only read statements are allowed; DuckDB says: {tree.get('error_message')}"
        )
    if len(tree["statements"]) != 1:
        raise UnsafeQueryError("send exactly one statement")
    _walk(tree["statements"][0])


def _walk(root: Any) -> None:
    stack = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
            continue
        if not isinstance(item, dict):
            continue
        _judge(item)
        stack.extend(value for value in item.values() if isinstance(value, dict | list))


def _judge(node: dict[str, Any]) -> None:
    """Refuse one node of DuckDB's parse tree if the policy forbids it."""
    name = node.get("function_name")
    if isinstance(name, str):
        reason = function_refusal(name)
        if reason:
            raise UnsafeQueryError(reason)
    kind = node.get("type")
    if "class" in node or not isinstance(kind, str):
        return  # an expression (functions judged above) or a plain value
    if kind.endswith("_NODE"):
        if kind not in _QUERY_NODES:
            raise UnsafeQueryError(f"unsupported query part {kind}: write a plain SELECT")
        return
    if "sample" not in node:
        return  # a modifier (ORDER BY, LIMIT, DISTINCT ...)
    if kind == "BASE_TABLE":
        reason = table_refusal(
            node.get("catalog_name", ""), node.get("schema_name", ""), node.get("table_name", "")
        )
        if reason:
            raise UnsafeQueryError(reason)
    elif kind == "TABLE_FUNCTION":
        function = node.get("function") or {}
        reason = table_function_refusal(str(function.get("function_name", "?")))
        if reason:
            raise UnsafeQueryError(reason)
    elif kind == "SHOW_REF":
        if node.get("show_type") not in _SHOW_KINDS or node.get("query") is None:
            raise UnsafeQueryError(
                "SHOW is not allowed; list tables with SELECT * FROM information_schema.tables"
            )
    elif kind not in _PLAIN_TABLE_REFS:
        raise UnsafeQueryError(f"unsupported table reference {kind}: name tables as schema.table")
