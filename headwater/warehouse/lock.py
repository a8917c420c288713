"""The warehouse write lock: one writer at a time on a SQLite catalog.

DuckLake on a SQLite catalog fails all but one of several concurrent committers with
`database is locked`, so writers queue on a file lock with a bounded wait. Readers never
take it. A PostgreSQL catalog handles concurrent writers itself and skips the lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from headwater.errors import WarehouseLockTimeoutError


@contextmanager
def write_lock(lock_file: Path | None, timeout_seconds: float) -> Iterator[None]:
    """Hold the warehouse write lock (no-op when `lock_file` is None)."""
    if lock_file is None:
        yield
        return
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lock_file))
    try:
        lock.acquire(timeout=timeout_seconds)
    except Timeout:
        raise WarehouseLockTimeoutError(
            f"another process held the warehouse write lock ({lock_file}) for over "
            f"{timeout_seconds:.0f}s; it is retried, or raise "
            "warehouse.write_lock_timeout_seconds in project.yml"
        ) from None
    try:
        yield
    finally:
        lock.release()
