"""The `postgres_cdc` connector: PostgreSQL tables replicated from the write-ahead log."""

from connectors.postgres_cdc.connector import PostgresCdcConnector

CONNECTOR = PostgresCdcConnector
"""The connector class registered for `type: postgres_cdc`."""

__all__ = ["CONNECTOR", "PostgresCdcConnector"]
