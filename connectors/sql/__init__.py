"""The `sql` connector: SQLite, PostgreSQL and MySQL/MariaDB tables through SQLAlchemy."""

from connectors.sql.connector import SqlConnector

CONNECTOR = SqlConnector
"""The connector class registered for `type: sql`."""

__all__ = ["CONNECTOR", "SqlConnector"]
