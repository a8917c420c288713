"""Lineage of arbitrary SQL: statement type, tables read and written, columns, CTEs, errors."""

from __future__ import annotations

import pytest

from headwater.catalog import sql_lineage

CASES = [
    pytest.param(
        "WITH paid AS (SELECT o.id, o.customer_id FROM shop.orders o WHERE o.status = 'paid') "
        "SELECT c.name, count(*) FROM paid p JOIN shop.customers c ON c.id = p.customer_id "
        "GROUP BY c.name",
        "select", ["shop.customers", "shop.orders"], [],
        ["shop.customers.id", "shop.customers.name", "shop.orders.customer_id",
         "shop.orders.id", "shop.orders.status"],
        ["paid"],
        id="select-join-cte",
    ),
    pytest.param(
        "INSERT INTO mart.totals (customer_id, total) "
        "SELECT customer_id, sum(amount) FROM raw.orders GROUP BY customer_id",
        "insert", ["raw.orders"], ["mart.totals"],
        ["mart.totals.customer_id", "mart.totals.total", "raw.orders.amount",
         "raw.orders.customer_id"],
        [],
        id="insert-select",
    ),
    pytest.param(
        "CREATE TABLE big AS SELECT o.id, o.amount FROM orders o WHERE o.amount > 100",
        "create_table_as", ["orders"], ["big"], ["orders.amount", "orders.id"], [],
        id="ctas",
    ),
    pytest.param(
        "UPDATE orders SET status = 'vip' WHERE customer_id IN "
        "(SELECT id FROM customers WHERE tier = 'gold')",
        "update", ["customers"], ["orders"],
        ["customers.id", "customers.tier", "orders.customer_id", "orders.status"],
        [],
        id="update-subquery",
    ),
    pytest.param(
        "DELETE FROM events WHERE ts < DATE '2020-01-01'",
        "delete", [], ["events"], ["events.ts"], [],
        id="delete",
    ),
    pytest.param(
        "MERGE INTO dim AS t USING staging AS s ON t.id = s.id "
        "WHEN MATCHED THEN UPDATE SET name = s.name "
        "WHEN NOT MATCHED THEN INSERT (id, name) VALUES (s.id, s.name)",
        "merge", ["staging"], ["dim"], ["dim.id", "dim.name", "staging.id", "staging.name"], [],
        id="merge",
    ),
    pytest.param(
        "SELECT id FROM a UNION ALL SELECT id FROM b",
        "select", ["a", "b"], [], ["a.id", "b.id"], [],
        id="union",
    ),
    pytest.param(
        "CREATE VIEW v AS WITH x AS (SELECT * FROM t) SELECT a FROM x",
        "create_view", ["t"], ["v"], ["t.a"], ["x"],
        id="view-cte-star",
    ),
]


@pytest.mark.parametrize(("sql", "kind", "read", "written", "columns", "ctes"), CASES)
def test_statement_lineage(
    sql: str, kind: str, read: list[str], written: list[str], columns: list[str],
    ctes: list[str],
) -> None:
    lineage = sql_lineage(sql)
    assert lineage.statement_type == kind
    assert list(lineage.tables_read) == read
    assert list(lineage.tables_written) == written
    assert list(lineage.columns_used) == columns
    assert list(lineage.ctes) == ctes
    assert lineage.dialect == "duckdb"


def test_correlated_subquery_columns_resolve_to_their_tables() -> None:
    lineage = sql_lineage("SELECT a, (SELECT max(b) FROM u WHERE u.k = t.k) FROM t")
    assert lineage.columns_used == ("t.a", "t.k", "u.b", "u.k")


def test_schema_resolves_unqualified_columns_in_joins() -> None:
    sql = "SELECT amount, name FROM orders JOIN customers ON orders.cid = customers.id"
    assert sql_lineage(sql).columns_used == ("amount", "customers.id", "name", "orders.cid")
    schema = {"orders": ["amount", "cid"], "customers": {"id": "int", "name": "text"}}
    assert sql_lineage(sql, schema=schema).columns_used == (
        "customers.id", "customers.name", "orders.amount", "orders.cid"
    )


def test_other_dialects() -> None:
    lineage = sql_lineage("SELECT `x`.`a` FROM `db`.`t` AS x", dialect="mysql")
    assert (lineage.tables_read, lineage.columns_used) == (("db.t",), ("db.t.a",))


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT FROM WHERE", r"SQL syntax error at line 1, column 17: .*'WHERE'"),
        ("SELECT 'unterminated", "SQL syntax error"),
        ("SELECT 1; SELECT 2; SELECT 3", "expected exactly one SQL statement, got 3"),
        ("  ;  ", "no SQL statement given"),
        ("SELEC name", "not a SQL statement: 'SELEC AS name'"),
        ("1 + 1", "not a SQL statement"),
    ],
)
def test_unusable_sql_is_a_clear_value_error(sql: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sql_lineage(sql)


def test_unknown_dialect() -> None:
    with pytest.raises(ValueError, match="dialect 'nosuch'"):
        sql_lineage("SELECT 1", dialect="nosuch")
