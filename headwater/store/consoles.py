"""The run history of consoles: one row per run of a console (`run_console` flow runs)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from headwater.store.models import Base
from headwater.store.types import utcnow


class ConsoleRun(Base):
    """One run of a console: its outcome, assertion results and the result's first rows."""

    __tablename__ = "console_runs"
    __table_args__ = (Index("ix_console_runs_console_started", "console", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    console: Mapped[str] = mapped_column(String(63))
    """The console's name in project.yml."""
    flow_run_id: Mapped[str | None] = mapped_column(String(64), index=True)
    """The Prefect flow run (None when run outside Prefect)."""
    status: Mapped[str] = mapped_column(String(20))
    """running, succeeded or failed."""
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    """Seconds from start to end."""
    row_count: Mapped[int | None] = mapped_column(Integer)
    """Rows of the result (None when the query failed)."""
    assertions: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON(none_as_null=True))
    """[{name, passed, message}] per assertion checked."""
    error: Mapped[str | None] = mapped_column(Text)
    """Why the run failed."""
    columns: Mapped[list[dict[str, str]] | None] = mapped_column(JSON(none_as_null=True))
    """The result's columns: [{name, type}] with DuckDB type names."""
    preview: Mapped[list[list[Any]] | None] = mapped_column(JSON(none_as_null=True))
    """The result's first rows as JSON values, in column order."""
    materialized_table: Mapped[str | None] = mapped_column(String(200))
    """`consoles.<name>` when this run replaced that table."""
    export_path: Mapped[str | None] = mapped_column(Text)
    """The export file this run replaced."""
