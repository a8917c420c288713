"""The files connector against a real DuckLake warehouse, through a real dlt pipeline."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

from connectors import connector_for
from connectors.base import TableSpec
from connectors.files import CONNECTOR, FilesConnector
from connectors.files.connector import _reader, _suffix
from headwater.config import Project
from headwater.config.sources import FilesSource, FileTable
from headwater.errors import ConnectorError
from headwater.warehouse.warehouse import Warehouse

SOURCE = "shop"
MakeProject = Callable[[str], Project]


def project_with(
    make_project: MakeProject, tables: dict[str, str], disposition: str = "append"
) -> Project:
    """A project whose source `shop` has these tables (name -> YAML flow mapping)."""
    lines = "".join(f"\n              {name}: {spec}" for name, spec in tables.items())
    return make_project(
        f"""
        project: {{name: demo}}
        sources:
          {SOURCE}:
            type: files
            write_disposition: {disposition}
            tables:{lines}
        """
    )


def write(path: Path, text: str, mtime_ns: int | None = None) -> Path:
    """Write `text` to `path` (parents made); pin the mtime so changes are always seen."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def connector(project: Project) -> FilesConnector:
    """The files connector of the `shop` source."""
    config = project.source(SOURCE)
    assert isinstance(config, FilesSource)
    return FilesConnector(SOURCE, config, project)


def pipeline(project: Project) -> dlt.Pipeline:
    """The source's pipeline; the same name every time, so dlt's state carries over."""
    warehouse = Warehouse(project)
    warehouse.connect(read_only=False).close()  # creates the catalog directory and file
    return dlt.pipeline(
        pipeline_name=f"test_{SOURCE}",
        destination=warehouse.dlt_destination(),
        dataset_name=f"raw_{SOURCE}",
        pipelines_dir=str(project.root / "pipelines"),
    )


def sync(project: Project) -> None:
    """Load every table of the source once."""
    files = connector(project)
    pipeline(project).run([files.resource(spec) for spec in files.tables()])


def query(project: Project, sql: str) -> list[tuple[Any, ...]]:
    """Rows of `sql` run against the lake (schema raw_shop)."""
    with Warehouse(project).reader() as conn:
        return conn.execute(sql).fetchall()


def count(project: Project, table: str) -> int:
    """Rows in raw_shop.<table>."""
    return int(query(project, f"SELECT count(*) FROM raw_{SOURCE}.{table}")[0][0])


def connector_error(exc: BaseException) -> ConnectorError:
    """The ConnectorError that dlt wrapped (PipelineStepFailed -> extraction error -> ours)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectorError):
            return seen
        seen = getattr(seen, "exception", None) or seen.__cause__ or seen.__context__
    raise AssertionError(f"no ConnectorError in {exc!r}")


def test_registered_under_its_type(make_project: MakeProject) -> None:
    assert CONNECTOR is FilesConnector
    project = project_with(make_project, {"items": "{path: x.csv}"})
    assert isinstance(connector_for(project, SOURCE), FilesConnector)


@pytest.mark.slow  # several syncs: each costs 1-4 s in dlt and DuckLake
def test_loads_every_format_in_one_sync(make_project: MakeProject, tmp_path: Path) -> None:
    import gzip

    write(tmp_path / "data/orders_1.csv", "id,amount\n1,9.5\n2,3.25\n")
    write(tmp_path / "data/orders_2.csv", "id,amount\n3,1.0\n")
    write(tmp_path / "data/events.ndjson", '{"id": 1, "kind": "a"}\n{"id": 2, "kind": "b"}\n')
    parquet = tmp_path / "data/users.parquet"
    duckdb.sql(f"COPY (SELECT range AS id FROM range(5)) TO '{parquet}' (FORMAT parquet)")
    write(tmp_path / "data/t.tsv", "id\tname\n1\ta,b\n")
    (tmp_path / "data/z.csv.gz").write_bytes(gzip.compress(b"id\n1\n2\n"))
    write(tmp_path / "data/arr.json", '[{"id": 1}, {"id": 2}, {"id": 3}]')
    write(tmp_path / "data/empty.csv", "id,name\n")
    tables = {
        "orders": "data/orders_*.csv",
        "events": "data/events.ndjson",
        "users": "data/users.parquet",
        "tabbed": "data/t.tsv",
        "zipped": "data/z.csv.gz",
        "arrays": "data/arr.json",
        "nobody": "data/empty.csv",
    }
    project = project_with(make_project, {t: f"{{path: {p}}}" for t, p in tables.items()})
    sync(project)
    counts = {table: count(project, table) for table in tables}
    assert counts == {
        "orders": 3,
        "events": 2,
        "users": 5,
        "tabbed": 1,
        "zipped": 2,
        "arrays": 3,
        "nobody": 0,
    }
    assert query(project, "SELECT sum(amount) FROM raw_shop.orders") == [(13.75,)]
    assert query(project, "SELECT name FROM raw_shop.tabbed") == [("a,b",)]
    # A header-only CSV yields an empty Arrow table, so the table exists with its columns.
    columns = query(
        project,
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'raw_shop' "
        "AND table_name = 'nobody' AND NOT starts_with(column_name, '_dlt') ORDER BY 1",
    )
    assert columns == [("id",), ("name",)]


@pytest.mark.slow  # several syncs: each costs 1-4 s in dlt and DuckLake
def test_unchanged_files_are_skipped_and_changed_ones_reloaded(
    make_project: MakeProject, tmp_path: Path
) -> None:
    a = write(tmp_path / "in/a.csv", "id\n1\n2\n", mtime_ns=1_000_000_000_000_000_000)
    b = write(tmp_path / "in/b.csv", "id\n3\n4\n", mtime_ns=1_000_000_000_000_000_000)
    project = project_with(make_project, {"items": "{path: in/*.csv}"})
    sync(project)
    sync(project)
    assert count(project, "items") == 4

    write(b, "id\n3\n4\n5\n", mtime_ns=1_000_000_002_000_000_000)
    sync(project)
    assert count(project, "items") == 4 + 3  # append: only b.csv is read again, all of it

    os.utime(a, ns=(1_000_000_003_000_000_000,) * 2)  # touched, same content: changed
    assert connector(project).check().details["items"].endswith("1 new or changed: in/a.csv (7 B)")


@pytest.mark.slow  # several syncs: each costs 1-4 s in dlt and DuckLake
def test_replace_reads_every_file_each_time(make_project: MakeProject, tmp_path: Path) -> None:
    write(tmp_path / "in/a.csv", "id\n1\n2\n")
    write(tmp_path / "in/b.csv", "id\n3\n")
    project = project_with(make_project, {"items": "{path: in/*.csv}"}, "replace")
    sync(project)
    sync(project)
    assert count(project, "items") == 3


@pytest.mark.slow  # several syncs: each costs 1-4 s in dlt and DuckLake
def test_merge_by_primary_key_leaves_no_duplicates(
    make_project: MakeProject, tmp_path: Path
) -> None:
    write(tmp_path / "in/a.csv", "id,name\n1,ann\n2,bob\n", mtime_ns=10**18)
    b = write(tmp_path / "in/b.csv", "id,name\n2,bobby\n3,cy\n", mtime_ns=10**18)
    project = project_with(
        make_project,
        {"people": "{path: in/*.csv, write_disposition: merge, primary_key: [id]}"},
    )
    sync(project)
    write(b, "id,name\n3,cyd\n", mtime_ns=10**18 + 10**9)
    sync(project)
    rows = query(project, "SELECT id, name FROM raw_shop.people ORDER BY id")
    assert rows == [(1, "ann"), (2, "bobby"), (3, "cyd")]


def test_malformed_csv_names_source_table_file_and_cause(
    make_project: MakeProject, tmp_path: Path
) -> None:
    write(tmp_path / "in/good.csv", "id,amount\n1,2\n")
    # Past DuckDB's 20,480-row sample the column is already typed BIGINT, so `abc` fails.
    rows = "".join(f"{i},{i}\n" for i in range(30_000))
    write(tmp_path / "in/bad.csv", f"id,amount\n{rows}30000,abc\n")
    project = project_with(make_project, {"payments": "{path: in/*.csv}"})
    with pytest.raises(PipelineStepFailed) as failed:
        sync(project)
    message = str(connector_error(failed.value))
    assert message.startswith("source 'shop', table 'payments': cannot read file in/bad.csv: ")
    assert 'Could not convert string "abc"' in message
    assert "Possible solutions" not in message and "\n" not in message


def test_no_matching_file_says_which_glob_and_where(
    make_project: MakeProject, tmp_path: Path
) -> None:
    project = project_with(make_project, {"items": "{path: in/items_*.csv}"})
    with pytest.raises(ConnectorError) as error:
        connector(project).check()
    assert str(error.value) == (
        f"source 'shop', table 'items': no file matches 'in/items_*.csv' "
        f"(looked for 'items_*.csv' in {tmp_path / 'in'})"
    )


def test_unknown_extension_asks_for_a_format(make_project: MakeProject, tmp_path: Path) -> None:
    write(tmp_path / "in/items.txt", "id\n1\n")
    project = project_with(make_project, {"items": "{path: in/*.txt}"})
    with pytest.raises(ConnectorError, match=r"cannot infer the format of 'in/\*.txt'.*\.txt"):
        connector(project).check()


def test_merge_without_primary_key_is_refused(make_project: MakeProject) -> None:
    project = project_with(make_project, {"items": "{path: x.csv}"}, "merge")
    with pytest.raises(ConnectorError, match="merge needs primary_key"):
        connector(project).tables()


def test_tables_resolve_source_defaults(make_project: MakeProject) -> None:
    project = project_with(
        make_project,
        {
            "a": "{path: a.csv}",
            "b": "{path: b.csv, write_disposition: merge, primary_key: [id]}",
        },
        "replace",
    )
    assert connector(project).tables() == [
        TableSpec(name="a", write_disposition="replace"),
        TableSpec(name="b", write_disposition="merge", primary_key=["id"]),
    ]


def test_check_lists_files_and_what_changed(make_project: MakeProject, tmp_path: Path) -> None:
    write(tmp_path / "in/a.csv", "id\n1\n", mtime_ns=10**18)
    b = write(tmp_path / "in/b.csv", "id\n2\n", mtime_ns=10**18)
    project = project_with(make_project, {"items": "{path: in/*.csv}"})
    report = connector(project).check()
    assert report.tables == [TableSpec(name="items", write_disposition="append")]
    assert report.details == {
        "items": "2 files, 10 B; 2 new or changed: in/a.csv (5 B), in/b.csv (5 B)"
    }

    sync(project)  # leaves the source's pipeline active, so check() sees its state
    assert connector(project).check().details["items"] == "2 files, 10 B; 0 new or changed"
    write(b, "id\n22\n", mtime_ns=10**18 + 1)
    assert connector(project).check().details["items"] == (
        "2 files, 11 B; 1 new or changed: in/b.csv (6 B)"
    )


@pytest.mark.parametrize(
    ("name", "reader"),
    [
        ("a.csv", "csv"),
        ("a.CSV.gz", "csv"),
        ("a.tsv", "tsv"),
        ("a.jsonl", "jsonl"),
        ("a.ndjson", "jsonl"),
        ("a.json", "json"),
        ("a.parquet", "parquet"),
    ],
)
def test_format_is_inferred_from_the_extension(tmp_path: Path, name: str, reader: str) -> None:
    from connectors.files.connector import MatchedFile

    file = MatchedFile(path=tmp_path / name, key=name, size=1, mtime_ns=1)
    assert _suffix(file.path) in (".csv", ".tsv", ".jsonl", ".ndjson", ".json", ".parquet")
    assert _reader("s", "t", FileTable(path=name), [file]) == reader
