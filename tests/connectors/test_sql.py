"""The sql connector against real SQLite, PostgreSQL and MariaDB, loaded into a real DuckLake.

One warehouse is shared by the whole module (installing the DuckDB extensions into a fresh
project costs seconds); each test uses its own source name, so its own `raw_<source>` schema.
"""

from __future__ import annotations

import sqlite3
import textwrap
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import dlt
import pyarrow as pa
import pytest
import sqlalchemy as sa

from connectors.base import BackfillWindow
from connectors.sql import CONNECTOR
from connectors.sql.connector import SqlConnector
from headwater.config import Project, load_project
from headwater.errors import ConnectorError, MissingSecretError, TransientConnectorError
from headwater.warehouse.warehouse import Warehouse

ProjectFor = Callable[[str], Project]


@pytest.fixture(scope="module")
def lake_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project directory whose warehouse (and extension copies) all tests share."""
    root = tmp_path_factory.mktemp("sql_lake")
    (root / ".headwater" / "warehouse" / "data").mkdir(parents=True)
    return root


@pytest.fixture
def project_for(lake_dir: Path) -> ProjectFor:
    """Write a project file (dedented) into the shared directory and load it."""

    def make(yaml_text: str) -> Project:
        file = lake_dir / f"{uuid.uuid4().hex[:8]}.yml"
        file.write_text("project:\n  name: sqltest\n" + textwrap.dedent(yaml_text).lstrip())
        return load_project(file)

    return make


def connector(project: Project, source: str) -> SqlConnector:
    """The sql connector of `sources.<source>`."""
    return CONNECTOR(source, project.source(source), project)  # type: ignore[arg-type]


def new_pipeline(project: Project, source: str, tmp_path: Path) -> dlt.Pipeline:
    """A dlt pipeline into the project's DuckLake, schema raw_<source>."""
    return dlt.pipeline(
        pipeline_name=f"test_{source}",
        destination=Warehouse(project).dlt_destination(),
        dataset_name=f"raw_{source}",
        pipelines_dir=str(tmp_path / "pipelines"),
    )


def sync(
    project: Project, source: str, pipeline: dlt.Pipeline, window: BackfillWindow | None = None
) -> dict[str, int]:
    """Load every table of the source; rows loaded per table."""
    conn = connector(project, source)
    pipeline.run([conn.resource(spec, window) for spec in conn.tables()])
    trace = pipeline.last_trace
    assert trace is not None and trace.last_normalize_info is not None
    counts = trace.last_normalize_info.row_counts
    return {name: n for name, n in counts.items() if not name.startswith("_dlt")}


def rows(project: Project, source: str, table: str, columns: str = "*") -> list[tuple[Any, ...]]:
    """The warehouse rows of raw_<source>.<table>, ordered by the first column."""
    with Warehouse(project).reader() as conn:
        return conn.execute(f"SELECT {columns} FROM raw_{source}.{table} ORDER BY 1").fetchall()


def cursor_state(pipeline: dlt.Pipeline, table: str, cursor: str) -> Any:
    """The saved incremental cursor of `table`."""
    for source in pipeline.state["sources"].values():
        resource = source.get("resources", {}).get(table)
        if resource:
            return resource["incremental"][cursor]["last_value"]
    return None


# --- SQLite ------------------------------------------------------------------------------
# Every dlt run into DuckLake costs about 5 s on this machine (the load step), so tests that
# load are marked slow; the fast ones check extraction and errors without loading.


def make_sqlite(path: Path, deals: int = 3) -> None:
    """customers (with primary key) and deals (cursor `updated_at`, key `id`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
        db.execute("INSERT INTO customers VALUES (1, 'Ada'), (2, 'Grace')")
        db.execute(
            "CREATE TABLE deals (id INTEGER PRIMARY KEY, amount NUMERIC(10, 2), "
            "updated_at DATETIME NOT NULL)"
        )
    add_deals(path, 1, deals)


def add_deals(path: Path, first: int, last: int) -> None:
    """Deals first..last, deal i updated on day i of January 2025."""
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO deals VALUES (?, ?, ?)",
            [(i, i * 10.5, f"2025-01-{i:02d} 12:00:00") for i in range(first, last + 1)],
        )


@pytest.mark.slow
def test_sqlite_loads_all_tables_or_the_listed_ones(
    project_for: ProjectFor, tmp_path: Path, lake_dir: Path
) -> None:
    make_sqlite(lake_dir / "data" / "all.db")
    project = project_for(
        """
        sources:
          everything:
            type: sql
            url: sqlite:///data/all.db
          listed:
            type: sql
            url: sqlite:///data/all.db
            tables: [deals]
        """
    )
    assert [t.name for t in connector(project, "everything").tables()] == ["customers", "deals"]
    assert sync(project, "everything", new_pipeline(project, "everything", tmp_path)) == {
        "customers": 2,
        "deals": 3,
    }
    listed = connector(project, "listed").tables()
    assert [(t.name, t.primary_key, t.write_disposition) for t in listed] == [
        ("deals", ["id"], "append")
    ]
    assert sync(project, "listed", new_pipeline(project, "listed", tmp_path)) == {"deals": 3}
    assert rows(project, "everything", "customers") == [(1, "Ada"), (2, "Grace")]


@pytest.mark.slow
def test_sqlite_incremental_loads_only_new_rows(project_for: ProjectFor, tmp_path: Path) -> None:
    db = tmp_path / "crm.db"
    make_sqlite(db)
    project = project_for(
        f"""
        sources:
          inc:
            type: sql
            url: sqlite:///{db}
            tables:
              deals:
                incremental:
                  cursor: updated_at
                  initial_value: "2025-01-02"
        """
    )
    pipeline = new_pipeline(project, "inc", tmp_path)
    assert sync(project, "inc", pipeline) == {"deals": 2}  # day 1 is before initial_value
    add_deals(db, 4, 5)
    assert sync(project, "inc", pipeline) == {"deals": 2}
    assert [r[0] for r in rows(project, "inc", "deals")] == [2, 3, 4, 5]


@pytest.mark.slow
def test_backfill_window_does_not_move_the_cursor(project_for: ProjectFor, tmp_path: Path) -> None:
    db = tmp_path / "crm.db"
    make_sqlite(db, deals=5)
    project = project_for(
        f"""
        sources:
          bf:
            type: sql
            url: sqlite:///{db}
            tables:
              deals:
                incremental:
                  cursor: updated_at
                  initial_value: 2025-01-04
        """
    )
    pipeline = new_pipeline(project, "bf", tmp_path)
    assert sync(project, "bf", pipeline) == {"deals": 2}
    saved = cursor_state(pipeline, "deals", "updated_at")
    window = BackfillWindow(start="2025-01-01", end="2025-01-03")
    assert sync(project, "bf", pipeline, window) == {"deals": 2}  # days 1 and 2: end excluded
    assert cursor_state(pipeline, "deals", "updated_at") == saved
    add_deals(db, 6, 6)
    assert sync(project, "bf", pipeline) == {"deals": 1}
    assert [r[0] for r in rows(project, "bf", "deals")] == [1, 2, 4, 5, 6]


def test_batches_are_arrow_tables_of_chunk_size(project_for: ProjectFor, tmp_path: Path) -> None:
    db = tmp_path / "big.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
        conn.executemany("INSERT INTO items VALUES (?, ?)", [(i, f"n{i}") for i in range(2500)])
    project = project_for(
        f"""
        sources:
          chunks:
            type: sql
            url: sqlite:///{db}
            chunk_size: 1000
        """
    )
    conn_ = connector(project, "chunks")
    batches = list(conn_.resource(conn_.tables()[0]))
    assert all(isinstance(batch, pa.Table) for batch in batches)
    assert [batch.num_rows for batch in batches] == [1000, 1000, 500]


def test_missing_table_names_what_is_there(project_for: ProjectFor, tmp_path: Path) -> None:
    db = tmp_path / "crm.db"
    make_sqlite(db)
    project = project_for(
        f"""
        sources:
          typo:
            type: sql
            url: sqlite:///{db}
            tables: [deals, dels]
        """
    )
    with pytest.raises(ConnectorError) as caught:
        connector(project, "typo").tables()
    message = str(caught.value)
    assert message == (
        f"source 'typo', table 'dels': table 'dels' not found in schema main of "
        f"sqlite:///{db}; tables there: customers, deals; did you mean 'deals'?"
    )


def test_merge_without_primary_key_says_how_to_fix(project_for: ProjectFor, tmp_path: Path) -> None:
    db = tmp_path / "keyless.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE events (name TEXT, at DATETIME)")
    project = project_for(
        f"""
        sources:
          keyless:
            type: sql
            url: sqlite:///{db}
            write_disposition: merge
        """
    )
    with pytest.raises(ConnectorError, match="no primary key") as caught:
        connector(project, "keyless").tables()
    assert "sources.keyless.tables.events.primary_key" in str(caught.value)


def test_configuration_mistakes_name_the_column_or_file(
    project_for: ProjectFor, tmp_path: Path
) -> None:
    db = tmp_path / "crm.db"
    make_sqlite(db)
    project = project_for(
        f"""
        sources:
          badcursor:
            type: sql
            url: sqlite:///{db}
            tables:
              deals:
                incremental: {{cursor: changed_at}}
          nofile:
            type: sql
            url: sqlite:///data/nowhere.db
        """
    )
    with pytest.raises(ConnectorError, match="column 'changed_at' not found in table 'deals'"):
        connector(project, "badcursor").tables()
    with pytest.raises(ConnectorError, match=r"SQLite database file .*nowhere\.db does not exist"):
        connector(project, "nofile").check()


def test_missing_password_env_var(project_for: ProjectFor, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HW_TEST_NO_SUCH_PASSWORD", raising=False)
    project = project_for(
        """
        sources:
          secret:
            type: sql
            url: postgresql://app@127.0.0.1:5432/test
            password_env: HW_TEST_NO_SUCH_PASSWORD
        """
    )
    with pytest.raises(MissingSecretError) as caught:
        connector(project, "secret").check()
    assert str(caught.value) == (
        "source 'secret': environment variable HW_TEST_NO_SUCH_PASSWORD (named by password_env) "
        "is not set; export HW_TEST_NO_SUCH_PASSWORD=... before running"
    )


@pytest.mark.parametrize(
    "url", ["postgresql://postgres@127.0.0.1:1/test", "mysql://root@127.0.0.1:1/test"]
)
def test_unreachable_server_is_transient(project_for: ProjectFor, url: str) -> None:
    project = project_for(
        f"""
        sources:
          down:
            type: sql
            url: {url}
        """
    )
    with pytest.raises(TransientConnectorError) as caught:
        connector(project, "down").check()
    message = str(caught.value)
    assert message.startswith("source 'down': connecting to ")
    assert "127.0.0.1:1/test" in message
    assert "refused" in message.lower()
    assert "\n" not in message


# --- PostgreSQL ----------------------------------------------------------------------------


@pytest.fixture
def pg(pg_url: str, unique_name: str) -> Iterator[tuple[sa.Engine, str]]:
    """(engine, table name) on the test PostgreSQL; the table is dropped afterwards."""
    engine = sa.create_engine(pg_url)
    yield engine, unique_name
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {unique_name}"))
    engine.dispose()


def plain_url(url: str) -> str:
    """The URL as a user writes it, without the driver."""
    return sa.make_url(url).set(drivername=sa.make_url(url).get_backend_name()).render_as_string()


TYPES_DDL = (
    "CREATE TABLE {table} (id integer PRIMARY KEY, amount numeric(12, 2), ratio double precision,"
    " created_at timestamptz NOT NULL, label text, active boolean, big bigint)"
)
TYPES_ROWS = (
    "INSERT INTO {table} VALUES"
    " (1, 1234.56, 0.25, '2025-03-01 10:30:00+02', 'ünïcode', true, 9007199254740993),"
    " (2, NULL, NULL, '2025-03-02 00:00:00+00', NULL, NULL, NULL)"
)


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.parametrize("backend", ["duckdb", "pyarrow"])
def test_postgres_types_round_trip(
    project_for: ProjectFor, tmp_path: Path, pg_url: str, pg: tuple[sa.Engine, str], backend: str
) -> None:
    engine, table = pg
    with engine.begin() as conn:
        conn.execute(sa.text(TYPES_DDL.format(table=table)))
        conn.execute(sa.text(TYPES_ROWS.format(table=table)))
    source = f"types_{backend}"
    project = project_for(
        f"""
        sources:
          {source}:
            type: sql
            url: {plain_url(pg_url)}
            backend: {backend}
            tables: [{table}]
        """
    )
    assert sync(project, source, new_pipeline(project, source, tmp_path)) == {table: 2}
    assert rows(project, source, table, "id, amount, ratio, created_at, label, active, big") == [
        (
            1,
            Decimal("1234.56"),
            0.25,
            datetime(2025, 3, 1, 8, 30, tzinfo=UTC),
            "ünïcode",
            True,
            9007199254740993,
        ),
        (2, None, None, datetime(2025, 3, 2, tzinfo=UTC), None, None, None),
    ]
    with Warehouse(project).reader() as conn:
        types = dict(
            conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                f"WHERE table_schema = 'raw_{source}' AND table_name = '{table}'"
            ).fetchall()
        )
    assert types["created_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["amount"].startswith("DECIMAL")
    assert types["active"] == "BOOLEAN"


@pytest.mark.postgres
@pytest.mark.slow
def test_postgres_merge_by_reflected_primary_key(
    project_for: ProjectFor, tmp_path: Path, pg_url: str, pg: tuple[sa.Engine, str]
) -> None:
    engine, table = pg
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"CREATE TABLE {table} (id int PRIMARY KEY, status text, updated_at timestamptz)"
            )
        )
        conn.execute(
            sa.text(
                f"INSERT INTO {table} VALUES (1, 'new', '2025-01-01Z'), (2, 'new', '2025-01-02Z')"
            )
        )
    project = project_for(
        f"""
        sources:
          merged:
            type: sql
            url: {plain_url(pg_url)}
            write_disposition: merge
            tables:
              {table}:
                incremental: {{cursor: updated_at}}
        """
    )
    report = connector(project, "merged").check()
    assert [(t.name, t.primary_key, t.cursor) for t in report.tables] == [
        (table, ["id"], "updated_at")
    ]
    assert report.details[table] == "2 rows; cursor updated_at; primary key id; merge"
    pipeline = new_pipeline(project, "merged", tmp_path)
    assert sync(project, "merged", pipeline) == {table: 2}
    with engine.begin() as conn:
        conn.execute(
            sa.text(f"UPDATE {table} SET status = 'paid', updated_at = '2025-02-01Z' WHERE id = 1")
        )
        conn.execute(sa.text(f"INSERT INTO {table} VALUES (3, 'new', '2025-02-02Z')"))
    assert sync(project, "merged", pipeline) == {table: 2}
    assert rows(project, "merged", table, "id, status") == [(1, "paid"), (2, "new"), (3, "new")]


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["duckdb", "pyarrow"])
def test_postgres_batches_are_arrow_filtered_by_the_cursor(
    project_for: ProjectFor, pg_url: str, pg: tuple[sa.Engine, str], backend: str
) -> None:
    engine, table = pg
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {table} (id int PRIMARY KEY, name text)"))
        conn.execute(
            sa.text(f"INSERT INTO {table} SELECT g, 'n' || g FROM generate_series(1, 3000) AS g")
        )
    project = project_for(
        f"""
        sources:
          chunks_{backend}:
            type: sql
            url: {plain_url(pg_url)}
            backend: {backend}
            chunk_size: 1000
            tables:
              {table}:
                incremental: {{cursor: id, initial_value: 501}}
        """
    )
    conn_ = connector(project, f"chunks_{backend}")
    batches = list(conn_.resource(conn_.tables()[0]))
    assert all(isinstance(batch, pa.Table) for batch in batches)
    assert [batch.num_rows for batch in batches] == [1000, 1000, 500]
    assert min(pa.concat_tables(batches)["id"].to_pylist()) == 501


@pytest.mark.postgres
def test_postgres_unknown_table_database_and_schema(
    project_for: ProjectFor, pg_url: str, pg: tuple[sa.Engine, str]
) -> None:
    engine, table = pg
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {table} (id int PRIMARY KEY)"))
    url = plain_url(pg_url)
    base = sa.make_url(url)
    project = project_for(
        f"""
        sources:
          typo:
            type: sql
            url: {url}
            tables: [{table}x]
          nodb:
            type: sql
            url: {base.set(database="hw_no_such_database").render_as_string()}
          noschema:
            type: sql
            url: {url}
            schema: hw_no_such_schema
        """
    )
    with pytest.raises(ConnectorError) as caught:
        connector(project, "typo").tables()
    assert str(caught.value).startswith(
        f"source 'typo', table '{table}x': table '{table}x' not found in schema public of {url}; "
        "tables there: "
    )
    assert str(caught.value).endswith(f"did you mean '{table}'?")
    with pytest.raises(ConnectorError, match='database "hw_no_such_database" does not exist'):
        connector(project, "nodb").check()
    with pytest.raises(ConnectorError, match="schema 'hw_no_such_schema' not found in"):
        connector(project, "noschema").check()


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["duckdb", "pyarrow"])
def test_postgres_error_while_extracting_names_the_table(
    project_for: ProjectFor, tmp_path: Path, pg_url: str, pg: tuple[sa.Engine, str], backend: str
) -> None:
    engine, table = pg
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {table} (id int PRIMARY KEY)"))
    project = project_for(
        f"""
        sources:
          vanish:
            type: sql
            url: {plain_url(pg_url)}
            backend: {backend}
            tables: [{table}]
        """
    )
    conn_ = connector(project, "vanish")
    resource = conn_.resource(conn_.tables()[0])
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE {table}"))
    with pytest.raises(Exception) as caught:  # dlt wraps what the resource raised
        list(resource)
    error = caught.value
    while error is not None and not isinstance(error, ConnectorError):
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
    assert isinstance(error, ConnectorError)
    assert str(error).startswith(f"source 'vanish', table '{table}': reading table '{table}' from")
    assert table in str(error).split(": ", 2)[2]


# --- MariaDB -------------------------------------------------------------------------------


@pytest.mark.mysql
@pytest.mark.slow
def test_mariadb_incremental_and_types(
    project_for: ProjectFor, tmp_path: Path, mysql_url: str, unique_name: str
) -> None:
    engine = sa.create_engine(mysql_url)
    table = unique_name
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    f"CREATE TABLE {table} (id int PRIMARY KEY, amount decimal(12, 2), "
                    "created_at datetime NOT NULL, label varchar(50), active boolean)"
                )
            )
            conn.execute(
                sa.text(
                    f"INSERT INTO {table} VALUES (1, 10.50, '2025-01-01 08:00:00', 'a', 1), "
                    "(2, NULL, '2025-01-02 08:00:00', NULL, NULL)"
                )
            )
        project = project_for(
            f"""
            sources:
              maria:
                type: sql
                url: {plain_url(mysql_url)}
                tables:
                  {table}:
                    incremental: {{cursor: created_at}}
            """
        )
        report = connector(project, "maria").check()
        assert report.tables[0].primary_key == ["id"]
        pipeline = new_pipeline(project, "maria", tmp_path)
        assert sync(project, "maria", pipeline) == {table: 2}
        with engine.begin() as conn:
            conn.execute(sa.text(f"INSERT INTO {table} VALUES (3, 3, '2025-01-03', 'c', 0)"))
        assert sync(project, "maria", pipeline) == {table: 1}
        assert rows(project, "maria", table, "id, amount, created_at, label, active") == [
            (1, Decimal("10.50"), datetime(2025, 1, 1, 8), "a", True),
            (2, None, datetime(2025, 1, 2, 8), None, None),
            (3, Decimal("3.00"), datetime(2025, 1, 3), "c", False),
        ]
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        engine.dispose()


@pytest.mark.mysql
def test_mariadb_access_denied_is_terminal(project_for: ProjectFor, mysql_url: str) -> None:
    url = sa.make_url(plain_url(mysql_url)).set(username="hw_no_such_user")
    project = project_for(
        f"""
        sources:
          denied:
            type: sql
            url: {url.render_as_string()}
        """
    )
    with pytest.raises(ConnectorError, match="Access denied for user 'hw_no_such_user'"):
        connector(project, "denied").check()
