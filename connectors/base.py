"""The contract every connector folder implements.

A connector turns one `sources.<name>` entry of project.yml into dlt resources that yield
Arrow tables (never lists of dicts), one resource per warehouse table. Loading, locking and
data-safety checks are not the connector's job: `flows/loading.py` does them for all types.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Generic, TypeVar

from headwater.config.project import Project
from headwater.config.sources import SourceBase, SourceCommon, TableOptions, WriteDisposition

if TYPE_CHECKING:
    from dlt.extract.resource import DltResource

ConfigT = TypeVar("ConfigT", bound=SourceCommon)


@dataclass(frozen=True)
class BackfillWindow:
    """Load only cursor values in [start, end) and leave the incremental state untouched."""

    start: str | None = None
    """Inclusive lower bound (ISO date/time or number, as text)."""
    end: str | None = None
    """Exclusive upper bound."""


@dataclass(frozen=True)
class TableSpec:
    """One warehouse table of a source, with its settings resolved."""

    name: str
    """Warehouse table name (in schema `raw_<source>`)."""
    write_disposition: WriteDisposition
    """append, replace or merge."""
    primary_key: list[str] = field(default_factory=list)
    """Columns that identify a row (required for merge)."""
    cursor: str | None = None
    """Incremental cursor column, if any."""
    allow_empty_replace: bool = False
    """Whether a replace may load 0 rows into a non-empty table."""


@dataclass(frozen=True)
class CheckReport:
    """What `check()` found: the connection works and these tables would load."""

    tables: list[TableSpec]
    """Tables the next sync would load."""
    details: dict[str, str] = field(default_factory=dict)
    """Table -> a human summary of what is there (e.g. `3 files, 12.1 MB`, `1,204 rows`)."""


class Connector(ABC, Generic[ConfigT]):
    """Base of every connector; subclasses set `type` and implement the three methods."""

    type: ClassVar[str]
    """The `type:` value in project.yml that selects this connector."""

    def __init__(self, name: str, config: ConfigT, project: Project) -> None:
        self.name = name
        self.config = config
        self.project = project

    @abstractmethod
    def tables(self) -> list[TableSpec]:
        """The tables this source loads, settings resolved (may connect to discover them).
        Raise ConnectorError / TransientConnectorError naming the source and the cause."""

    @abstractmethod
    def check(self) -> CheckReport:
        """Test the connection and list what would load, without loading anything."""

    @abstractmethod
    def resource(self, table: TableSpec, window: BackfillWindow | None = None) -> DltResource:
        """A dlt resource named `table.name` yielding Arrow tables, with write disposition,
        primary key and incremental cursor applied. `window` bounds the cursor for a backfill
        (dlt's `end_value`: the incremental state is then not advanced)."""

    def source_row_count(self, table: TableSpec) -> int | None:
        """Rows the source holds for `table` now, counted at the source (monitoring
        reconciles it with the warehouse); None when this type cannot count (REST APIs).
        Raise ConnectorError / TransientConnectorError like `tables()`."""
        return None



def resolve_options(config: SourceBase, options: TableOptions) -> tuple[WriteDisposition, bool]:
    """(write_disposition, allow_empty_replace) of a table, falling back to the source."""
    disposition = options.write_disposition or config.write_disposition
    allow_empty = (
        options.allow_empty_replace
        if options.allow_empty_replace is not None
        else config.allow_empty_replace
    )
    return disposition, allow_empty
