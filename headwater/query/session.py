"""Locked-down, read-only DuckDB sessions for user SQL, and a time limit that interrupts.

Each warehouse gets one DuckDB database with the lake attached read-only and then locked
down; every query runs on its own cursor of it. Attaching costs about 0.25 s (measured on
DuckDB 1.5.5), a cursor well under a millisecond, and one database shares its threads and
memory limit among concurrent queries instead of each query claiming the machine.

Lockdown, measured on DuckDB 1.5.5 with SQLite and PostgreSQL DuckLake catalogs: after the
attach, `enable_external_access = false` with `allowed_directories` = the lake's data
directory still lets DuckLake read its Parquet files and see later commits (new rows, new
tables), while `read_csv`, `read_text`, `glob`, `FROM 'file.csv'`, `COPY ... TO`, `ATTACH`
of a DuckDB file, `INSTALL` and `LOAD` fail with a PermissionException (so does `..` in a
path under an allowed directory); `lock_configuration = true` then refuses every `SET` of a
global option. Writes to the lake fail because it is attached READ_ONLY.

What the lockdown does NOT stop: the scanner extension that the catalog needs, once loaded,
does its own I/O. With a SQLite catalog, `sqlite_scan('any.db', ...)` and
`ATTACH 'any.db' (TYPE sqlite)` read and even write any SQLite file (the metadata DB
included); with a PostgreSQL catalog, `postgres_scan` and `postgres_query` reach any server
the network allows, and `duckdb_databases()` shows the catalog's connection string. The
parsers' checks (`headwater.query.safety`) are the guard there: both refuse these
functions, ATTACH and those views.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

from headwater.query.errors import QueryFailedError, QueryTimeoutError, UnsafeQueryError
from headwater.warehouse import LAKE, Warehouse
from headwater.warehouse.sql import quote_literal

_MAX_CACHED = 16
_bases: OrderedDict[tuple[str, ...], duckdb.DuckDBPyConnection] = OrderedDict()
_lock = threading.Lock()


def lockdown_statements(warehouse: Warehouse) -> list[str]:
    """The settings applied, in order, after the lake is attached: DuckLake keeps reading its
    data files; nothing else on disk or the network is reachable; nothing can be changed."""
    data_dir = str(warehouse.data_path).rstrip("/") + "/"
    spill_dir = warehouse.project.state_dir / "query_spill"
    return [
        # Python replacement scans would let `FROM name` read a DataFrame of this process.
        "SET GLOBAL python_enable_replacements = false",
        # Spill files of big sorts and joins: DuckDB allows its temp directory implicitly, so
        # keep it a private one rather than `.tmp` in the server's working directory.
        f"SET temp_directory = {quote_literal(str(spill_dir))}",
        f"SET allowed_directories = [{quote_literal(data_dir)}]",
        "SET enable_external_access = false",
        "SET lock_configuration = true",
    ]


def _key(warehouse: Warehouse) -> tuple[str, ...]:
    catalog = warehouse.project.config.warehouse.catalog
    return (warehouse.describe(), str(warehouse.extension_dir), catalog.type, catalog.url_env or "")


def _open_locked(warehouse: Warehouse) -> duckdb.DuckDBPyConnection:
    conn = warehouse.connect(read_only=True)
    try:
        for statement in lockdown_statements(warehouse):
            conn.execute(statement)
    except duckdb.Error:
        conn.close()
        raise
    return conn


def discard_session(warehouse: Warehouse) -> None:
    """Forget the warehouse's cached database (it broke); the next query opens a new one.
    Queries still running on it keep their cursors until they finish."""
    with _lock:
        _bases.pop(_key(warehouse), None)


def close_sessions() -> None:
    """Close every cached database (at shutdown)."""
    with _lock:
        bases = list(_bases.values())
        _bases.clear()
    for base in bases:
        base.close()


def _cursor(warehouse: Warehouse) -> duckdb.DuckDBPyConnection:
    key = _key(warehouse)
    with _lock:
        base = _bases.get(key)
        if base is None:
            base = _open_locked(warehouse)
            _bases[key] = base
            while len(_bases) > _MAX_CACHED:
                _bases.popitem(last=False)  # dropped, not closed: its queries may still run
        _bases.move_to_end(key)
        cursor = base.cursor()
    try:
        cursor.execute(f"USE {LAKE}")
    except duckdb.Error:
        cursor.close()
        discard_session(warehouse)
        raise
    return cursor


@contextmanager
def query_session(warehouse: Warehouse) -> Iterator[duckdb.DuckDBPyConnection]:
    """A fresh cursor on the warehouse's locked-down, read-only database with `lake`
    selected; DuckDB errors inside become `QueryFailedError` (or `UnsafeQueryError` when
    the lockdown refused something)."""
    cursor = _cursor(warehouse)
    try:
        yield cursor
    except duckdb.PermissionException as exc:
        raise UnsafeQueryError(f"the warehouse sandbox refused the query: {_clean(exc)}") from None
    except (duckdb.FatalException, duckdb.ConnectionException) as exc:
        discard_session(warehouse)
        raise QueryFailedError(f"the warehouse connection failed: {_clean(exc)}") from None
    except duckdb.InterruptException:
        raise QueryFailedError("the query was interrupted") from None
    except duckdb.Error as exc:
        raise QueryFailedError(f"the query failed: {_clean(exc)}") from None
    finally:
        cursor.close()


def _clean(exc: BaseException) -> str:
    return " ".join(str(exc).split())


class Deadline:
    """A time budget for DuckDB work on one connection; work past it is interrupted, and
    the error names the project.yml `setting` that sets the budget.

    Only time inside `running()` counts, so a slow client reading an export is not charged
    for the time DuckDB sits idle waiting for it."""

    def __init__(
        self,
        conn: duckdb.DuckDBPyConnection,
        seconds: float,
        setting: str = "api.query_timeout_seconds",
    ) -> None:
        self._conn = conn
        self._seconds = seconds
        self._left = seconds
        self._setting = setting

    def _timeout(self) -> QueryTimeoutError:
        return QueryTimeoutError(
            f"the query ran longer than {self._seconds:g} s and was stopped; narrow it "
            f"(filters, LIMIT, fewer joins) or raise {self._setting} in project.yml"
        )

    @contextmanager
    def running(self) -> Iterator[None]:
        """DuckDB work inside is interrupted when the budget runs out (`QueryTimeoutError`)."""
        if self._left <= 0:
            raise self._timeout()
        fired = threading.Event()

        def interrupt() -> None:
            fired.set()
            self._conn.interrupt()

        timer = threading.Timer(self._left, interrupt)
        timer.daemon = True
        started = time.monotonic()
        timer.start()
        try:
            yield
        except Exception:
            if fired.is_set():
                raise self._timeout() from None
            raise
        finally:
            timer.cancel()
            self._left -= time.monotonic() - started
