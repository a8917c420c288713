"""`run_query` on a real DuckLake warehouse: rows and types, the row cap, the time limit, and
the DuckDB-level lockdown that holds even when the parsers are bypassed."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pyarrow as pa
import pytest

from headwater.query import (
    QueryError,
    QueryFailedError,
    QueryTimeoutError,
    UnsafeQueryError,
    run_query,
)
from headwater.query.session import query_session
from tests.query.conftest import SECRET, Shop, make_shop, state
from tests.query.hostile import hostile_params, render

SLOW = "SELECT count(*) FROM range(1000000000) a, range(1000000000) b WHERE a.range * b.range = -1"
"""A cross join that would run for hours."""


def test_returns_rows_and_duckdb_types(shop: Shop) -> None:
    result = run_query(shop.warehouse, "SELECT * FROM raw_shop.orders ORDER BY order_id", 100, 10)
    assert [(column.name, column.type) for column in result.columns] == [
        ("order_id", "INTEGER"),
        ("customer", "VARCHAR"),
        ("amount", "DECIMAL(10,2)"),
        ("ordered_at", "TIMESTAMP"),
        ("tags", "VARCHAR[]"),
    ]
    assert result.rows == [
        [1, "ada", 10.5, "2024-01-02T03:04:05", ["new", "web"]],
        [2, "bob", 20.0, "2024-02-03T04:05:06", []],
        [3, "cy", 7.25, "2024-03-04T05:06:07", None],
    ]
    assert result.row_count == 3
    assert result.truncated is False
    assert result.elapsed_ms > 0


def test_every_type_becomes_json(shop: Shop) -> None:
    sql = """
        SELECT 1.5::DECIMAL(38, 10) AS dec, DATE '2024-01-02' AS d,
               TIMESTAMPTZ '2024-01-02 03:04:05+00' AS tz, TIME '01:02:03' AS t,
               INTERVAL '2 days 3 hours' AS iv,
               '5f1d7a0c-4a3c-4b8e-9a53-000000000001'::UUID AS u, 'ab'::BLOB AS b,
               [1, 2] AS l, {'a': 1, 'b': [true]} AS s, MAP {1: 'x'} AS m,
               'nan'::DOUBLE AS nan, '-inf'::DOUBLE AS ninf, 2::HUGEINT ** 100 AS big,
               'a'::ENUM('a', 'b') AS e, [1, 2]::INTEGER[2] AS arr, NULL AS n
    """
    result = run_query(shop.warehouse, sql, 10, 10)
    row = dict(zip([column.name for column in result.columns], result.rows[0], strict=True))
    assert row == {
        "dec": 1.5,
        "d": "2024-01-02",
        "tz": row["tz"],  # rendered in the session's time zone; checked below
        "t": "01:02:03",
        "iv": "P2DT3H0M0S",
        "u": "5f1d7a0c-4a3c-4b8e-9a53-000000000001",
        "b": "YWI=",
        "l": [1, 2],
        "s": {"a": 1, "b": [True]},
        "m": {"1": "x"},
        "nan": "NaN",
        "ninf": "-Infinity",
        "big": 1.2676506002282294e30,
        "e": "a",
        "arr": [1, 2],
        "n": None,
    }
    assert str(row["tz"]).startswith("2024-01-02T")
    json.dumps(result.rows, allow_nan=False)


def test_rows_are_capped_and_flagged_truncated(shop: Shop) -> None:
    result = run_query(shop.warehouse, "SELECT * FROM range(20000)", 10_000, 10)
    assert result.row_count == 10_000
    assert result.truncated is True
    assert result.rows[0] == [0] and result.rows[-1] == [9999]
    exact = run_query(shop.warehouse, "SELECT * FROM range(10000)", 10_000, 10)
    assert exact.row_count == 10_000 and exact.truncated is False


def test_timeout_really_interrupts_the_query(shop: Shop) -> None:
    started = time.monotonic()
    with pytest.raises(QueryTimeoutError, match=r"longer than 1 s.*query_timeout_seconds"):
        run_query(shop.warehouse, SLOW, 10, 1)
    assert time.monotonic() - started < 4
    assert run_query(shop.warehouse, "SELECT 42 AS answer", 10, 10).rows == [[42]]


def test_a_timeout_interrupts_only_its_own_query(shop: Shop) -> None:
    errors: list[BaseException] = []

    def slow() -> None:
        try:
            run_query(shop.warehouse, SLOW, 10, 2)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=slow)
    thread.start()
    time.sleep(0.3)
    for _ in range(5):
        quick = run_query(shop.warehouse, "SELECT count(*) FROM raw_shop.orders", 10, 10)
        assert quick.rows == [[3]]
    thread.join(10)
    assert len(errors) == 1 and isinstance(errors[0], QueryTimeoutError)


def test_a_failing_query_says_why(shop: Shop) -> None:
    with pytest.raises(QueryFailedError, match="nope"):
        run_query(shop.warehouse, "SELECT * FROM raw_shop.nope", 10, 10)


def test_time_travel_and_snapshots_work_read_only(shop: Shop) -> None:
    snapshots = run_query(
        shop.warehouse, "SELECT snapshot_id FROM ducklake_snapshots('lake') ORDER BY 1", 100, 10
    )
    latest = int(snapshots.rows[-1][0])  # type: ignore[arg-type]
    count = "SELECT count(*) FROM raw_shop.orders AT (VERSION => {})"
    assert run_query(shop.warehouse, count.format(latest), 1, 10).rows == [[3]]
    assert run_query(shop.warehouse, count.format(latest - 1), 1, 10).rows == [[0]]


@pytest.mark.parametrize("template", hostile_params())
def test_hostile_queries_are_refused_with_nothing_read_or_changed(
    template: str, shop: Shop
) -> None:
    before = state(shop)
    with pytest.raises(UnsafeQueryError) as refused:
        run_query(shop.warehouse, render(template, shop.paths), 100, 5)
    assert SECRET not in str(refused.value)
    assert state(shop) == before
    assert not shop.canary.exists()


def test_new_commits_are_seen_by_later_queries(tmp_path: Path) -> None:
    shop = make_shop(tmp_path / "fresh")
    assert run_query(shop.warehouse, "SELECT count(*) FROM raw_shop.orders", 1, 10).rows == [[3]]
    with shop.warehouse.writer() as conn:
        conn.execute("INSERT INTO raw_shop.orders (order_id) VALUES (4)")
        conn.execute("CREATE TABLE raw_shop.refunds AS SELECT 1 AS refund_id")
    assert run_query(shop.warehouse, "SELECT count(*) FROM raw_shop.orders", 1, 10).rows == [[4]]
    assert run_query(shop.warehouse, "SELECT * FROM raw_shop.refunds", 1, 10).rows == [[1]]


# The lockdown, with the parsers bypassed: SQL goes straight to the query session.
LOCKED_OUT = [
    pytest.param("SELECT * FROM read_csv('/etc/passwd')", id="read_csv_passwd"),
    pytest.param("SELECT * FROM read_text('{secret}')", id="read_text"),
    pytest.param("SELECT * FROM '{secret}'", id="file_as_table"),
    pytest.param("SELECT * FROM glob('/*')", id="glob"),
    pytest.param("SELECT * FROM read_text('{data}/../../../secret.csv')", id="path_traversal"),
    pytest.param("COPY (SELECT 1) TO '{canary}'", id="copy_to"),
    pytest.param("ATTACH '{canary}' AS other", id="attach"),
    pytest.param("INSTALL httpfs", id="install"),
    pytest.param("LOAD httpfs", id="load"),
    pytest.param("SET enable_external_access = true", id="set_external_access"),
    pytest.param("SET lock_configuration = false", id="unlock"),
    pytest.param("CREATE TABLE raw_shop.evil AS SELECT 1 AS a", id="create_in_lake"),
    pytest.param("INSERT INTO raw_shop.orders (order_id) VALUES (99)", id="insert_in_lake"),
    pytest.param("DROP TABLE raw_shop.orders", id="drop_in_lake"),
]


@pytest.mark.parametrize("template", LOCKED_OUT)
def test_duckdb_lockdown_holds_without_the_parsers(template: str, shop: Shop) -> None:
    before = state(shop)
    sql = render(template, {**shop.paths, "data": shop.warehouse.data_path})
    with pytest.raises(QueryError) as refused, query_session(shop.warehouse) as conn:
        conn.execute(sql).fetchall()
    assert SECRET not in str(refused.value)
    assert state(shop) == before
    assert not shop.canary.exists()


def test_reading_a_file_fails_in_duckdb_itself(shop: Shop) -> None:
    with (
        pytest.raises(UnsafeQueryError, match=r"sandbox refused.*Permission"),
        query_session(shop.warehouse) as conn,
    ):
        conn.execute("SELECT * FROM read_csv('/etc/passwd')").fetchall()


def test_python_objects_are_not_visible_to_sql(shop: Shop) -> None:
    secret_table = pa.table({"value": [SECRET]})
    with (
        pytest.raises(QueryFailedError, match="does not exist"),
        query_session(shop.warehouse) as conn,
    ):
        conn.execute("SELECT * FROM secret_table").fetchall()
    assert secret_table.num_rows == 1


def test_only_the_lakes_data_and_spill_directories_are_reachable(shop: Shop) -> None:
    with query_session(shop.warehouse) as conn:
        row = conn.execute(
            "SELECT current_setting('allowed_directories'), "
            "current_setting('enable_external_access'), current_setting('lock_configuration')"
        ).fetchone()
    assert row is not None
    allowed, external, locked = row
    assert sorted(allowed) == sorted(
        [
            str(shop.warehouse.data_path) + "/",
            str(shop.warehouse.project.state_dir / "query_spill") + "/",
        ]
    )
    assert external is False and locked is True
