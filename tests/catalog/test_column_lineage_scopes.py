"""Column lineage of value-returning aggregates, per-scope row conditions, bare table names,
select-list alias reuse and DuckDB's COLUMNS(...), against hand-computed expectations."""

from __future__ import annotations

import pytest

from headwater.catalog.column_lineage import trace_columns

SCHEMA: dict[str, dict[str, str]] = {
    "raw_shop.orders": {"id": "BIGINT", "customer_id": "BIGINT", "amount": "DOUBLE",
                        "status": "VARCHAR"},
    "raw_shop.customers": {"customer_key": "BIGINT", "name": "VARCHAR", "country": "VARCHAR"},
    "main.people": {"id": "BIGINT", "email": "VARCHAR", "phone": "VARCHAR"},
}  # fmt: skip

Edge = tuple[str, str, str]
ORDERS_CUSTOMERS = (
    "from raw_shop.orders o join raw_shop.customers c on o.customer_id = c.customer_key"
)
JOIN_KEYS = ("raw_shop.orders.customer_id", "raw_shop.customers.customer_key")


def traced(sql: str) -> tuple[set[Edge], list[str]]:
    """Edges of `sql` as {(source, output column, kind)} and the notes."""
    result = trace_columns(sql, "main.m", SCHEMA)
    flat = {(f"{e.source.table}.{e.source.column}", e.target.column, e.kind)
            for e in result.edges}  # fmt: skip
    return flat, result.notes


def edges(sql: str) -> set[Edge]:
    """Edges of `sql`, asserting nothing was left unresolved."""
    found, notes = traced(sql)
    assert notes == []
    return found


@pytest.mark.parametrize(
    "call",
    ["string_agg(c.name, ',')", "list(c.name)", "array_agg(c.name)", "any_value(c.name)",
     "first(c.name)", "last(c.name)", "arg_max(c.name, o.amount)", "arg_min(c.name, o.id)",
     "mode(c.name)", "min(c.name)", "max(c.name)"],
)  # fmt: skip
def test_aggregates_returning_input_values_are_value_aggregation(call: str) -> None:
    found = edges(f"select {call} as v {ORDERS_CUSTOMERS}")
    assert ("raw_shop.customers.name", "v", "value_aggregation") in found
    assert ("raw_shop.customers.name", "v", "aggregation") not in found


@pytest.mark.parametrize("call", ["count(c.name)", "count(distinct c.name)", "sum(o.amount)",
                                  "avg(o.amount)"])
def test_aggregates_computing_new_values_are_aggregation(call: str) -> None:
    found = edges(f"select {call} as v {ORDERS_CUSTOMERS}")
    assert {kind for source, _, kind in found if source not in JOIN_KEYS} == {"aggregation"}


def test_arg_max_ordering_argument_is_aggregation() -> None:
    found = edges(f"select arg_max(c.name, o.amount) as v {ORDERS_CUSTOMERS}")
    assert ("raw_shop.orders.amount", "v", "aggregation") in found


def test_row_conditions_of_a_scalar_subquery_stay_with_its_column() -> None:
    found = edges(
        "select o.id, (select max(c.name) from raw_shop.customers c join raw_shop.orders o2"
        " on o2.customer_id = c.customer_key where o2.status = 'paid') as top"
        " from raw_shop.orders o"
    )
    assert {e for e in found if e[1] == "id"} == {("raw_shop.orders.id", "id", "passthrough")}
    assert {(s, k) for s, c, k in found if c == "top"} == {
        ("raw_shop.customers.name", "value_aggregation"),
        ("raw_shop.orders.status", "filter"),
        *((key, "join_key") for key in JOIN_KEYS),
    }


def test_join_keys_of_one_union_branch_stay_off_the_other_branchs_columns() -> None:
    found = edges(
        f"select o.id, c.name {ORDERS_CUSTOMERS} union all by name"
        " select id, status from raw_shop.orders"
    )
    assert {e for e in found if e[1] == "status"} == {
        ("raw_shop.orders.status", "status", "passthrough")
    }
    assert {("raw_shop.orders.customer_id", "name", "join_key")} <= found


def test_a_bare_table_name_is_the_main_schema() -> None:
    assert edges("select email as contact from people") == {
        ("main.people.email", "contact", "rename")
    }


def test_an_unknown_bare_table_is_a_note_with_a_suggestion() -> None:
    found, notes = traced("select email from peple")
    assert found == set()
    assert notes == [
        "table main.peple is not in the warehouse (an unqualified name means main.<name>);"
        " did you mean main.people?"
    ]


def test_a_reused_select_list_alias_counts_its_own_columns() -> None:
    assert edges("select amount * 2 as dbl, dbl + 1 as plus from raw_shop.orders") == {
        ("raw_shop.orders.amount", "dbl", "transformation"),
        ("raw_shop.orders.amount", "plus", "transformation"),
    }


def test_columns_regex_and_star_expand_to_the_matching_columns() -> None:
    assert edges("select columns('^(email|phone)$') from people") == {
        ("main.people.email", "email", "passthrough"),
        ("main.people.phone", "phone", "passthrough"),
    }
    assert edges("select max(columns(* exclude (id))) from people") == {
        ("main.people.email", "email", "value_aggregation"),
        ("main.people.phone", "phone", "value_aggregation"),
    }


def test_columns_lambda_and_qualified_star() -> None:
    customer_columns = ("customer_key", "name", "country")
    assert edges(f"select columns(c.*) {ORDERS_CUSTOMERS}") == {
        (f"raw_shop.customers.{column}", column, "passthrough") for column in customer_columns
    } | {(key, column, "join_key") for key in JOIN_KEYS for column in customer_columns}
    assert edges("select columns(x -> x like '%e%') from people") == {
        ("main.people.email", "email", "passthrough"),
        ("main.people.phone", "phone", "passthrough"),
    }


def test_columns_that_match_nothing_or_an_unknown_table_are_notes() -> None:
    found, notes = traced("select id, columns('zzz') from people")
    assert found == {("main.people.id", "id", "passthrough")}
    assert notes == ["COLUMNS('zzz') left out: No matching columns found that match regex \"zzz\""]
    found, notes = traced("select columns(*) from raw_shop.nowhere")
    assert found == set()
    assert notes[0] == "COLUMNS(*) left out: the columns of raw_shop.nowhere are not known"
