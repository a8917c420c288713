"""`consoles:` in project.yml: saved SQL with an optional schedule, materialization, export
file and assertions."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from headwater.config.base import StrictModel
from headwater.config.durations import Duration
from headwater.config.timing import Timing

ExportFormat = Literal["parquet", "csv"]


class ConsoleSchedule(Timing):
    """When a console runs by itself (`cron` with `timezone`, or `interval`)."""


class ConsoleExport(StrictModel):
    """A file written with the result of every run (replaced each time)."""

    path: str
    """File path relative to project.yml, e.g. `exports/daily_revenue.parquet`."""
    format: ExportFormat | None = None
    """parquet or csv; inferred from the file extension when omitted."""

    @model_validator(mode="after")
    def _known_format(self) -> ConsoleExport:
        if self.format is None and not self.path.lower().endswith((".parquet", ".csv")):
            raise ValueError(
                "cannot tell the export format from the path: end it with .parquet or .csv, "
                "or set `format`"
            )
        return self

    @property
    def file_format(self) -> ExportFormat:
        """The export's format (given, or from the extension)."""
        if self.format is not None:
            return self.format
        return "csv" if self.path.lower().endswith(".csv") else "parquet"


class ConsoleAssertions(StrictModel):
    """Checks on every run's result; a failed check fails the run (and notifies)."""

    min_rows: int | None = Field(default=None, ge=0)
    """The result must have at least this many rows."""
    max_rows: int | None = Field(default=None, ge=0)
    """The result must have at most this many rows."""
    not_null: list[str] = Field(default_factory=list)
    """Result columns that must never be NULL."""
    expression: str | None = Field(default=None, min_length=1)
    """A SQL boolean expression over the result's columns that must be true on every row,
    e.g. `revenue >= 0 AND orders > 0`."""

    @model_validator(mode="after")
    def _bounds_in_order(self) -> ConsoleAssertions:
        if (
            self.min_rows is not None
            and self.max_rows is not None
            and self.min_rows > self.max_rows
        ):
            raise ValueError(f"min_rows {self.min_rows} is greater than max_rows {self.max_rows}")
        return self


class ConsoleConfig(StrictModel):
    """Saved SQL: one read-only query (inline `sql` or a `.sql` file)."""

    sql: str | None = None
    """Inline SQL: one SELECT (or WITH ... SELECT)."""
    file: str | None = None
    """Path of a .sql file, relative to project.yml, e.g. `consoles/revenue.sql`."""
    description: str = ""
    """What the console answers."""
    schedule: ConsoleSchedule | None = None
    """Run on its own: `{cron: "0 7 * * *", timezone: Europe/Lisbon}` or `{interval: 1h}`."""
    materialize: bool = False
    """Write the result to table `consoles.<name>` in the warehouse (replaced each run)."""
    export: ConsoleExport | None = None
    """Also write the result to a Parquet or CSV file."""
    assertions: ConsoleAssertions | None = None
    """Checks the result must pass."""
    timeout: Duration | None = None
    """Stop a run that takes longer (default: the API's query timeout)."""

    @model_validator(mode="after")
    def _one_body(self) -> ConsoleConfig:
        if (self.sql is None) == (self.file is None):
            raise ValueError("set exactly one of `sql` (inline) or `file` (a .sql file)")
        return self
