"""Streaming exports: every format parses back to the right rows, in bounded chunks."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq
import pytest

from headwater.query import (
    QueryFailedError,
    QueryTimeoutError,
    UnsafeQueryError,
    open_export,
)
from headwater.query.export import ExportFormat
from tests.query.conftest import Shop, state
from tests.query.test_runner import SLOW

FORMATS: list[ExportFormat] = ["csv", "parquet", "ndjson", "arrow"]


def read_back(fmt: str, data: bytes) -> pa.Table:
    """The export's bytes as an Arrow table, read by pyarrow's own readers."""
    if fmt == "csv":
        return pa_csv.read_csv(io.BytesIO(data))
    if fmt == "parquet":
        return pq.read_table(io.BytesIO(data))
    if fmt == "ndjson":
        return pa_json.read_json(io.BytesIO(data))
    return pa.ipc.open_stream(data).read_all()


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_parses_back_to_the_rows(fmt: ExportFormat, shop: Shop) -> None:
    export = open_export(
        shop.warehouse,
        "SELECT order_id, customer, amount, ordered_at FROM raw_shop.orders ORDER BY order_id",
        fmt,
        10,
    )
    table = read_back(fmt, b"".join(export.chunks()))
    assert table.column_names == ["order_id", "customer", "amount", "ordered_at"]
    assert table.column("order_id").to_pylist() == [1, 2, 3]
    assert table.column("customer").to_pylist() == ["ada", "bob", "cy"]
    assert [float(value) for value in table.column("amount").to_pylist()] == [10.5, 20.0, 7.25]
    assert str(table.column("ordered_at").to_pylist()[0]).startswith("2024-01-02")
    if fmt in ("parquet", "arrow"):  # binary formats keep DuckDB's exact types
        assert table.column("amount").to_pylist()[0] == Decimal("10.50")
        assert table.schema.field("amount").type == pa.decimal128(10, 2)


@pytest.mark.parametrize("fmt", FORMATS)
def test_large_results_stream_in_chunks(fmt: ExportFormat, shop: Shop) -> None:
    export = open_export(
        shop.warehouse,
        "SELECT range AS i, 'row ' || range AS s FROM range(200000)",
        fmt,
        30,
        batch_rows=20_000,
    )
    chunks = list(export.chunks())
    assert len(chunks) >= 10  # one per batch: the result is never held whole
    table = read_back(fmt, b"".join(chunks))
    assert table.num_rows == 200_000
    assert table.column("i").to_pylist()[-1] == 199_999


def test_csv_writes_nested_binary_and_interval_columns_as_text(shop: Shop) -> None:
    sql = (
        "SELECT [1, 2] AS l, {'a': 1, 'b': 'x'} AS s, 'ab'::BLOB AS b, "
        "INTERVAL '1 day' AS iv, MAP {'k': 1} AS m"
    )
    data = b"".join(open_export(shop.warehouse, sql, "csv", 10).chunks())
    row = read_back("csv", data).to_pylist()[0]
    assert json.loads(row["l"]) == [1, 2]
    assert json.loads(row["s"]) == {"a": 1, "b": "x"}
    assert row["b"] == "YWI="
    assert row["iv"] == "P0M1DT0S"
    assert row["m"]  # a map, as text


def test_parquet_writes_interval_and_union_columns_as_text(shop: Shop) -> None:
    sql = "SELECT INTERVAL '2 days' AS iv, 1::UNION(i INTEGER, s VARCHAR) AS u, 5 AS n"
    table = read_back("parquet", b"".join(open_export(shop.warehouse, sql, "parquet", 10).chunks()))
    assert table.to_pylist() == [{"iv": "P0M2DT0S", "u": "1", "n": 5}]


NO_PANDAS_SCRIPT = """
import sys
from pathlib import Path
from tests.query.conftest import make_shop
from headwater.query import open_export, run_query

shop = make_shop(Path(sys.argv[1]))
sql = (
    "SELECT *, TIMESTAMP_NS '2024-01-01 00:00:00.123456789' AS ns, "
    "[TIMESTAMP_NS '2024-01-01'] AS nested_ns, INTERVAL 1 DAY AS iv, 'ab'::BLOB AS b "
    "FROM raw_shop.orders"
)
run_query(shop.warehouse, sql, 10, 10)
for fmt in ("csv", "parquet", "ndjson", "arrow"):
    b"".join(open_export(shop.warehouse, sql, fmt, 10).chunks())
print("pandas" in sys.modules)
"""


def test_queries_and_exports_never_import_pandas(tmp_path: Path) -> None:
    # Importing pandas costs about 2 s; the API process never needs it.
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", NO_PANDAS_SCRIPT, str(tmp_path / "shop")],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.strip() == "False", done.stderr


def test_ndjson_rows_are_objects_with_json_values(shop: Shop) -> None:
    sql = "SELECT order_id, amount, tags FROM raw_shop.orders ORDER BY order_id"
    lines = b"".join(open_export(shop.warehouse, sql, "ndjson", 10).chunks()).splitlines()
    assert [json.loads(line) for line in lines] == [
        {"order_id": 1, "amount": 10.5, "tags": ["new", "web"]},
        {"order_id": 2, "amount": 20.0, "tags": []},
        {"order_id": 3, "amount": 7.25, "tags": None},
    ]


@pytest.mark.parametrize("fmt", ["csv", "parquet", "arrow"])
def test_an_empty_result_keeps_its_columns(fmt: ExportFormat, shop: Shop) -> None:
    sql = "SELECT order_id, customer FROM raw_shop.orders WHERE false"
    table = read_back(fmt, b"".join(open_export(shop.warehouse, sql, fmt, 10).chunks()))
    assert table.num_rows == 0
    assert table.column_names == ["order_id", "customer"]


def test_hostile_exports_are_refused_before_anything_runs(shop: Shop) -> None:
    before = state(shop)
    for sql in (
        f"SELECT * FROM read_csv('{shop.secret}')",
        f"COPY raw_shop.orders TO '{shop.canary}'",
        "SELECT 1; DROP TABLE raw_shop.orders",
    ):
        with pytest.raises(UnsafeQueryError):
            open_export(shop.warehouse, sql, "csv", 10)
    assert state(shop) == before


def test_errors_before_the_first_byte_raise_from_open_export(shop: Shop) -> None:
    with pytest.raises(QueryFailedError, match="nope"):
        open_export(shop.warehouse, "SELECT * FROM raw_shop.nope", "parquet", 10)
    started = time.monotonic()
    with pytest.raises(QueryTimeoutError):
        open_export(shop.warehouse, SLOW, "arrow", 1)
    assert time.monotonic() - started < 4


def test_a_slow_client_is_not_charged_against_the_time_limit(shop: Shop) -> None:
    export = open_export(
        shop.warehouse, "SELECT * FROM range(150000)", "ndjson", 1, batch_rows=50_000
    )
    rows = 0
    for chunk in export.chunks():
        rows += chunk.count(b"\n")
        time.sleep(0.5)  # 1.5 s of reading, far more than the 1 s DuckDB may spend
    assert rows == 150_000


def test_close_stops_an_export_early(shop: Shop) -> None:
    export = open_export(
        shop.warehouse, "SELECT * FROM range(1000000)", "arrow", 10, batch_rows=10_000
    )
    chunks = export.chunks()
    assert next(chunks)
    export.close()
    export.close()  # twice is fine
    assert list(chunks) == []
