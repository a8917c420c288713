"""Warehouse housekeeping: expire old snapshots and delete the files only they used.

Snapshots inside `warehouse.snapshot_retention_days` stay, so time travel and rolling back a
bad sync remain possible for that long; older ones are expired, and their data files are
deleted once no kept snapshot needs them.
"""

from __future__ import annotations

from dataclasses import dataclass

from headwater.warehouse.warehouse import LAKE, Warehouse


@dataclass(frozen=True)
class HousekeepingResult:
    """What one housekeeping pass removed."""

    expired_snapshots: int
    """Snapshots older than the retention that were expired."""
    deleted_files: int
    """Data files deleted because no kept snapshot uses them."""
    remaining_snapshots: int
    """Snapshots left, the current one included."""


def expire_snapshots(warehouse: Warehouse) -> HousekeepingResult:
    """Expire snapshots past the retention and delete the files only they referenced."""
    days = warehouse.project.config.warehouse.snapshot_retention_days
    cutoff = f"now() - INTERVAL {int(days)} DAY"
    with warehouse.writer() as conn:
        expired = conn.execute(
            f"CALL ducklake_expire_snapshots('{LAKE}', older_than => {cutoff})"
        ).fetchall()
        deleted = conn.execute(
            f"CALL ducklake_cleanup_old_files('{LAKE}', older_than => {cutoff})"
        ).fetchall()
        remaining = conn.execute(f"SELECT count(*) FROM ducklake_snapshots('{LAKE}')").fetchone()
    return HousekeepingResult(
        expired_snapshots=len(expired),
        deleted_files=len(deleted),
        remaining_snapshots=int(remaining[0]) if remaining else 0,
    )
