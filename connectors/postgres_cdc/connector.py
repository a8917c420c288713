"""The `postgres_cdc` connector as the shared connector contract sees it.

`headwater check` and the API's source test use `check()` (the preflight). Loading does not
go through dlt: the CDC flow drives `Replicator` (snapshot, then merged change batches).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from connectors.base import BackfillWindow, CheckReport, Connector, TableSpec
from connectors.postgres_cdc.connection import source_database
from connectors.postgres_cdc.preflight import run_preflight
from connectors.postgres_cdc.replicator import PreflightError
from headwater.config.sources import PostgresCdcSource
from headwater.errors import ConfigError

if TYPE_CHECKING:
    from dlt.extract.resource import DltResource


class PostgresCdcConnector(Connector[PostgresCdcSource]):
    """Log-based change capture from PostgreSQL (logical replication, pgoutput)."""

    type = "postgres_cdc"

    def tables(self) -> list[TableSpec]:
        """The replicated tables (merged by primary key), as the preflight resolves them."""
        return self.check().tables

    def check(self) -> CheckReport:
        """Run the preflight; a source that is not ready raises with the fixing SQL."""
        preflight = run_preflight(self.name, self.config, source_database(self.name, self.config))
        if not preflight.ok:
            raise PreflightError(self.name, preflight)
        specs = [TableSpec(name=table, write_disposition="merge") for table in preflight.tables]
        details = {
            table: f"deletes: {self.config.delete_mode(table)}" for table in preflight.tables
        }
        return CheckReport(tables=specs, details=details)

    def resource(self, table: TableSpec, window: BackfillWindow | None = None) -> DltResource:
        """CDC sources are not loaded through dlt."""
        raise ConfigError(
            f"source '{self.name}' is a postgres_cdc source: it is replicated by the CDC flow "
            f"(`headwater cdc run {self.name}`), not by a dlt sync"
        )
