"""`check_read_only`: one read statement over the warehouse, or a refusal that says why."""

from __future__ import annotations

import re

import pytest

from headwater.query import (
    MAX_SQL_BYTES,
    InvalidSqlError,
    QueryTooLargeError,
    UnsafeQueryError,
    check_read_only,
)
from headwater.query.duckdb_check import check_with_duckdb
from tests.query.conftest import Shop
from tests.query.hostile import HOSTILE, hostile_params, render

ALLOWED = [
    "SELECT 1",
    "select * from raw_shop.orders",
    "FROM raw_shop.orders",
    "SELECT * FROM lake.raw_shop.orders AT (VERSION => 1)",
    "WITH big AS (SELECT * FROM raw_shop.orders WHERE amount > 10) SELECT count(*) FROM big",
    "SELECT customer, sum(amount) FROM raw_shop.orders GROUP BY ALL ORDER BY 2 DESC LIMIT 5",
    "SELECT * FROM raw_shop.orders o JOIN raw_shop.orders p USING (order_id)",
    "SELECT * FROM raw_shop.orders o JOIN raw_shop.orders p ON starts_with(o.customer, 'a')",
    "SELECT * FROM raw_shop.orders o JOIN raw_shop.orders p ON o.order_id = p.order_id AND true",
    "SELECT * FROM raw_shop.orders o, LATERAL (SELECT o.order_id + 1 AS next_id)",
    "SELECT * FROM raw_shop.orders o, LATERAL unnest(o.tags)",
    "SELECT 1 AS a UNION ALL SELECT 2 EXCEPT SELECT 3",
    "(SELECT 1)",
    "VALUES (1, 'a'), (2, 'b')",
    "SELECT * FROM (VALUES (1)) v(a)",
    "DESCRIBE raw_shop.orders",
    "SUMMARIZE raw_shop.orders",
    "SELECT * FROM range(10)",
    "SELECT * FROM generate_series(1, 3)",
    "SELECT * FROM unnest([1, 2])",
    "SELECT unnest(tags) FROM raw_shop.orders",
    "SELECT * FROM information_schema.tables",
    "SELECT * FROM ducklake_snapshots('lake')",
    "SELECT 'read_csv(''/etc/passwd'')' AS just_text",
    "SELECT list_transform([1, 2], x -> x + 1)",
    "SELECT row_number() OVER (ORDER BY order_id) FROM raw_shop.orders",
    "WITH RECURSIVE r AS (SELECT 1 AS x UNION ALL SELECT x + 1 FROM r WHERE x < 3) FROM r",
    "SELECT * FROM raw_shop.orders PIVOT (sum(amount) FOR order_id IN (1, 2))",
    "SELECT 1;",
    "SELECT 1 /* a /* nested */ comment */",
]


@pytest.mark.parametrize("sql", ALLOWED)
def test_read_queries_pass(sql: str) -> None:
    check_read_only(sql)


@pytest.mark.parametrize("template", hostile_params())
def test_hostile_queries_are_refused(template: str, shop: Shop) -> None:
    with pytest.raises(UnsafeQueryError) as refused:
        check_read_only(render(template, shop.paths))
    assert str(refused.value)  # a reason, never an empty message


def test_the_hostile_table_is_large() -> None:
    assert len(HOSTILE) >= 40
    assert len({name for name, _ in HOSTILE}) == len(HOSTILE)


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("SELECT * FROM read_csv('/etc/passwd')", "function read_csv() is not allowed"),
        ("COPY raw_shop.orders TO 'x.csv'", "not COPY"),
        ("SELECT 1; SELECT 2", "exactly one statement"),
        ("SELECT * FROM 'data.csv'", "looks like a file path"),
        ("SELECT * FROM memory.main.t", "only the warehouse catalog 'lake'"),
        ("SELECT * FROM duckdb_tables()", "FROM takes warehouse tables"),
        ("SELECT getenv('HOME')", "function getenv() is not allowed"),
    ],
)
def test_refusals_say_why(sql: str, reason: str) -> None:
    with pytest.raises(UnsafeQueryError, match="(?i)" + re.escape(reason)):
        check_read_only(sql)


def test_unparseable_sql_gets_the_parsers_message() -> None:
    with pytest.raises(InvalidSqlError, match=r"does not parse.*Line 1"):
        check_read_only("SELEC * FROM raw_shop.orders WHERE (")


def test_empty_sql_is_refused() -> None:
    with pytest.raises(InvalidSqlError, match="empty"):
        check_read_only("  ;  -- nothing")


def test_sql_over_100_kb_is_refused_before_parsing() -> None:
    sql = "SELECT 1 AS a" + " " * MAX_SQL_BYTES
    with pytest.raises(QueryTooLargeError, match="102,400 bytes"):
        check_read_only(sql)
    check_read_only("SELECT 1" + " " * (MAX_SQL_BYTES - 8))  # exactly the limit passes


def test_nul_characters_are_refused() -> None:
    with pytest.raises(InvalidSqlError, match="NUL"):
        check_read_only("SELECT 1 \x00; DROP TABLE x")


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        'SELECT * FROM "x.csv"',
        "SELECT 1; SELECT 2",
        "PRAGMA version",
        "COPY t TO 'x'",
        "SHOW DATABASES",
        "SELECT current_setting('threads')",
        "SELECT * FROM t, LATERAL glob('/*')",
    ],
)
def test_duckdbs_own_parser_refuses_too(sql: str) -> None:
    # The second check alone: it must hold even where sqlglot reads SQL differently.
    with pytest.raises(UnsafeQueryError):
        check_with_duckdb(sql)


@pytest.mark.parametrize("template", hostile_params())
def test_duckdbs_own_parser_alone_refuses_every_hostile_query(template: str, shop: Shop) -> None:
    with pytest.raises(UnsafeQueryError):
        check_with_duckdb(render(template, shop.paths))


def test_duckdbs_parser_passes_read_queries() -> None:
    for sql in ALLOWED:
        check_with_duckdb(sql)
