"""Column-level lineage against hand-computed expectations, one SQL construct per test."""

from __future__ import annotations

import pytest

from headwater.catalog.column_lineage import ColumnEdge, column_lineage, model_columns

SCHEMA: dict[str, dict[str, str]] = {
    "raw_shop.orders": {
        "id": "BIGINT",
        "customer_id": "BIGINT",
        "amount": "DOUBLE",
        "status": "VARCHAR",
        "ordered_at": "TIMESTAMP WITH TIME ZONE",
    },
    "raw_shop.customers": {"customer_key": "BIGINT", "name": "VARCHAR", "country": "VARCHAR"},
    "raw_shop.refunds": {"order_id": "BIGINT", "refund_amount": "DOUBLE"},
}

Edge = tuple[str, str, str]


def edges(sql: str, target: str = "main.m") -> set[Edge]:
    """Lineage of `sql` as {("raw_shop.orders.amount", "main.m.amount_eur", kind)}."""
    result = column_lineage(sql, target, SCHEMA)
    return {_flat(e) for e in result}


def _flat(edge: ColumnEdge) -> Edge:
    source = f"{edge.source.table}.{edge.source.column}"
    return (source, f"{edge.target.table}.{edge.target.column}", edge.kind)


def on_every(columns: list[str], sources: list[str], kind: str) -> set[Edge]:
    """Filter / join-key edges: each source is attached to every output column."""
    return {(s, f"main.m.{c}", kind) for s in sources for c in columns}


def test_passthrough_rename_transformation() -> None:
    # dbt's compiled SQL names relations database.schema.table; "lake" is stripped.
    sql = """
        select id, customer_id as customer, amount * 0.92 as amount_eur,
               cast(ordered_at as date) as order_date, lower(status) as status
        from "lake"."raw_shop"."orders"
    """
    assert edges(sql, "main.stg_orders") == {
        ("raw_shop.orders.id", "main.stg_orders.id", "passthrough"),
        ("raw_shop.orders.customer_id", "main.stg_orders.customer", "rename"),
        ("raw_shop.orders.amount", "main.stg_orders.amount_eur", "transformation"),
        ("raw_shop.orders.ordered_at", "main.stg_orders.order_date", "transformation"),
        ("raw_shop.orders.status", "main.stg_orders.status", "transformation"),
    }
    assert model_columns(sql, SCHEMA) == ["id", "customer", "amount_eur", "order_date", "status"]


def test_select_star_from_join() -> None:
    sql = """
        select * from "lake"."raw_shop"."orders" o
        join "lake"."raw_shop"."customers" c on o.customer_id = c.customer_key
    """
    columns = ["id", "customer_id", "amount", "status", "ordered_at"]
    columns += ["customer_key", "name", "country"]
    assert model_columns(sql, SCHEMA) == columns
    expected = {
        ("raw_shop.orders.id", "main.m.id", "passthrough"),
        ("raw_shop.orders.customer_id", "main.m.customer_id", "passthrough"),
        ("raw_shop.orders.amount", "main.m.amount", "passthrough"),
        ("raw_shop.orders.status", "main.m.status", "passthrough"),
        ("raw_shop.orders.ordered_at", "main.m.ordered_at", "passthrough"),
        ("raw_shop.customers.customer_key", "main.m.customer_key", "passthrough"),
        ("raw_shop.customers.name", "main.m.name", "passthrough"),
        ("raw_shop.customers.country", "main.m.country", "passthrough"),
    }
    keys = ["raw_shop.orders.customer_id", "raw_shop.customers.customer_key"]
    assert edges(sql) == expected | on_every(columns, keys, "join_key")


def test_qualified_star_and_using_join() -> None:
    # `o.*` expands to the orders columns only; the USING key comes out once, unchanged.
    sql = """
        select o.*, r.refund_amount from raw_shop.orders o
        left join (select order_id as id, refund_amount from raw_shop.refunds) r using (id)
    """
    columns = ["id", "customer_id", "amount", "status", "ordered_at", "refund_amount"]
    assert model_columns(sql, SCHEMA) == columns
    expected = {(f"raw_shop.orders.{c}", f"main.m.{c}", "passthrough") for c in columns[:-1]}
    expected.add(("raw_shop.refunds.refund_amount", "main.m.refund_amount", "passthrough"))
    keys = ["raw_shop.orders.id", "raw_shop.refunds.order_id"]
    assert edges(sql) == expected | on_every(columns, keys, "join_key")


def test_cte_chain() -> None:
    sql = """
        with paid as (
            select id, customer_id, amount from raw_shop.orders where status = 'paid'
        ),
        gross as (
            select id as order_id, customer_id, amount * 1.2 as gross_amount from paid
        )
        select * from gross
    """
    assert edges(sql) == {
        ("raw_shop.orders.id", "main.m.order_id", "rename"),
        ("raw_shop.orders.customer_id", "main.m.customer_id", "passthrough"),
        ("raw_shop.orders.amount", "main.m.gross_amount", "transformation"),
    } | on_every(["order_id", "customer_id", "gross_amount"], ["raw_shop.orders.status"], "filter")


def test_union_all() -> None:
    sql = """
        select id as order_id, amount from raw_shop.orders
        union all
        select order_id, -refund_amount from raw_shop.refunds
    """
    assert model_columns(sql, SCHEMA) == ["order_id", "amount"]
    assert edges(sql) == {
        ("raw_shop.orders.id", "main.m.order_id", "rename"),
        ("raw_shop.orders.amount", "main.m.amount", "passthrough"),
        ("raw_shop.refunds.order_id", "main.m.order_id", "passthrough"),
        ("raw_shop.refunds.refund_amount", "main.m.amount", "transformation"),
    }


def test_window_functions() -> None:
    sql = """
        select id,
               sum(amount) over (partition by customer_id order by ordered_at) as running_total,
               row_number() over (partition by customer_id order by ordered_at) as order_seq
        from raw_shop.orders
    """
    assert edges(sql) == {
        ("raw_shop.orders.id", "main.m.id", "passthrough"),
        ("raw_shop.orders.amount", "main.m.running_total", "aggregation"),
        ("raw_shop.orders.customer_id", "main.m.running_total", "transformation"),
        ("raw_shop.orders.ordered_at", "main.m.running_total", "transformation"),
        ("raw_shop.orders.customer_id", "main.m.order_seq", "transformation"),
        ("raw_shop.orders.ordered_at", "main.m.order_seq", "transformation"),
    }


def test_group_by_with_having() -> None:
    sql = """
        select customer_id, sum(amount) as revenue, count(distinct id) as orders,
               max(ordered_at) as last_order_at,
               count(*) filter (where status = 'paid') as paid_orders
        from raw_shop.orders
        group by customer_id
        having avg(amount) > 10
    """
    columns = ["customer_id", "revenue", "orders", "last_order_at", "paid_orders"]
    assert edges(sql) == {
        ("raw_shop.orders.customer_id", "main.m.customer_id", "passthrough"),
        ("raw_shop.orders.amount", "main.m.revenue", "aggregation"),
        ("raw_shop.orders.id", "main.m.orders", "aggregation"),
        ("raw_shop.orders.ordered_at", "main.m.last_order_at", "value_aggregation"),
        ("raw_shop.orders.status", "main.m.paid_orders", "aggregation"),
    } | on_every(columns, ["raw_shop.orders.amount"], "filter")


def test_macro_expanded_case_and_coalesce() -> None:
    # What dbt_utils.pivot / generate_surrogate_key and a coalesce macro compile to.
    sql = """
        select
            md5(cast(coalesce(cast(o.id as TEXT), '_dbt_utils_surrogate_key_null_') || '-' ||
                coalesce(cast(o.customer_id as TEXT), '_dbt_utils_surrogate_key_null_')
                as TEXT)) as order_key,
            o.customer_id,
            sum(case when o.status = 'paid' then o.amount else 0 end) as paid_amount,
            sum(case when o.status = 'refunded' then o.amount else 0 end) as refunded_amount,
            coalesce(c.name, c.country, 'unknown') as customer_label
        from "lake"."raw_shop"."orders" as o
        left join "lake"."raw_shop"."customers" as c on c.customer_key = o.customer_id
        group by 1, 2, 5
    """
    columns = ["order_key", "customer_id", "paid_amount", "refunded_amount", "customer_label"]
    keys = ["raw_shop.customers.customer_key", "raw_shop.orders.customer_id"]
    assert edges(sql) == {
        ("raw_shop.orders.id", "main.m.order_key", "transformation"),
        ("raw_shop.orders.customer_id", "main.m.order_key", "transformation"),
        ("raw_shop.orders.customer_id", "main.m.customer_id", "passthrough"),
        ("raw_shop.orders.status", "main.m.paid_amount", "aggregation"),
        ("raw_shop.orders.amount", "main.m.paid_amount", "aggregation"),
        ("raw_shop.orders.status", "main.m.refunded_amount", "aggregation"),
        ("raw_shop.orders.amount", "main.m.refunded_amount", "aggregation"),
        ("raw_shop.customers.name", "main.m.customer_label", "transformation"),
        ("raw_shop.customers.country", "main.m.customer_label", "transformation"),
    } | on_every(columns, keys, "join_key")


def test_subquery_in_from() -> None:
    sql = """
        select big.id, big.net, big.net * 2 as double_net
        from (select id, amount - 1 as net from raw_shop.orders where amount > 100) as big
    """
    assert edges(sql) == {
        ("raw_shop.orders.id", "main.m.id", "passthrough"),
        ("raw_shop.orders.amount", "main.m.net", "transformation"),
        ("raw_shop.orders.amount", "main.m.double_net", "transformation"),
    } | on_every(["id", "net", "double_net"], ["raw_shop.orders.amount"], "filter")


def test_subqueries_in_select_and_where() -> None:
    # A scalar subquery feeds its column; an IN subquery's columns filter every column.
    sql = """
        select amount, (select max(name) from raw_shop.customers) as top_name
        from raw_shop.orders
        where customer_id in (select customer_key from raw_shop.customers where country = 'NL')
    """
    filters = [
        "raw_shop.orders.customer_id",
        "raw_shop.customers.customer_key",
        "raw_shop.customers.country",
    ]
    assert edges(sql) == {
        ("raw_shop.orders.amount", "main.m.amount", "passthrough"),
        ("raw_shop.customers.name", "main.m.top_name", "value_aggregation"),
    } | on_every(["amount", "top_name"], filters, "filter")


def test_deep_cte_chain_stays_fast() -> None:
    # Each CTE uses its parent's column twice: without memoising this is 2**40 paths.
    ctes = ["c0 as (select amount as v from raw_shop.orders)"]
    ctes += [f"c{i} as (select v + v as v from c{i - 1})" for i in range(1, 41)]
    sql = f"with {', '.join(ctes)} select v from c40"
    assert edges(sql) == {("raw_shop.orders.amount", "main.m.v", "transformation")}


def test_aggregate_through_cte_then_transformed() -> None:
    # The strongest hop on the path wins: aggregated in the CTE, scaled outside.
    sql = """
        with totals as (select customer_id, sum(amount) as total from raw_shop.orders group by 1)
        select customer_id as customer, total / 100 as total_hundreds from totals
    """
    assert edges(sql) == {
        ("raw_shop.orders.customer_id", "main.m.customer", "rename"),
        ("raw_shop.orders.amount", "main.m.total_hundreds", "aggregation"),
    }


def test_unknown_table_gives_no_edge() -> None:
    sql = """
        select o.id, x.score, mystery
        from raw_shop.orders o join other_schema.not_loaded x on o.id = x.order_id
    """
    columns = ["id", "score", "mystery"]
    assert model_columns(sql, SCHEMA) == columns
    assert edges(sql) == {
        ("raw_shop.orders.id", "main.m.id", "passthrough"),
    } | on_every(columns, ["raw_shop.orders.id"], "join_key")
    # A star over an unknown table cannot be expanded: no columns, no edges, no error.
    assert column_lineage("select * from nowhere.t", "main.m", SCHEMA) == []
    assert model_columns("select * from nowhere.t", SCHEMA) == []


def test_recursive_cte_terminates() -> None:
    sql = """
        with recursive chain as (
            select id, customer_id from raw_shop.orders
            union all
            select chain.id, chain.customer_id + 1 from chain where chain.customer_id < 10
        )
        select id, customer_id from chain
    """
    result = edges(sql)
    assert ("raw_shop.orders.id", "main.m.id", "passthrough") in result
    assert ("raw_shop.orders.customer_id", "main.m.customer_id", "passthrough") in result


def test_syntax_error_is_one_line_value_error() -> None:
    with pytest.raises(ValueError, match=r"^invalid SQL: .*Expected table name") as info:
        column_lineage("select id from where", "main.m", SCHEMA)
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="one SELECT statement"):
        column_lineage("delete from raw_shop.orders", "main.m", SCHEMA)


def test_edges_are_ordered_by_output_column() -> None:
    sql = "select status, id as order_id from raw_shop.orders"
    result = column_lineage(sql, "main.m", SCHEMA)
    assert [e.target.column for e in result] == ["status", "order_id"]
