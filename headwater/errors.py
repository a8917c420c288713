"""One exception root for Headwater, split into transient and terminal kinds.

Prefect retries only transient errors (network blips, lock timeouts); terminal errors
(bad config, missing tables, refused data-safety checks) fail the run at once.
"""

from __future__ import annotations

TRANSIENT_MARKERS = (
    "connection refused",
    "timeout",
    "timed out",
    "could not connect",
    "can't connect",
    "unable to connect",
    "lost connection",
    "server closed the connection",
    "connection reset",
    "ssl connection has been closed",
    "terminating connection",
    "no connection to the server",
    "not currently accepting connections",
    "the database system is",  # ... starting up / shutting down / in recovery mode
    "starting up",
    "shutting down",
    "too many connections",
    "database is locked",
    "temporarily unavailable",
)
"""Lower-case fragments of driver and DuckDB messages whose failure may pass (a server
restarting, a network blip, a busy lock): the operation is worth retrying."""


def is_transient_message(message: str) -> bool:
    """Whether an error message reads like a failure that may pass when tried again."""
    lowered = message.lower()
    return any(marker in lowered for marker in TRANSIENT_MARKERS)


class HeadwaterError(Exception):
    """Root of every error Headwater raises on purpose; its message is shown to users."""

    transient: bool = False


class TransientError(HeadwaterError):
    """A failure that may succeed when tried again (network, lock wait, server restart)."""

    transient = True


class TerminalError(HeadwaterError):
    """A failure that will repeat until someone changes the config, the data or the source."""


class ConfigError(TerminalError):
    """project.yml is invalid; the message lists every problem with its file and line."""


class MissingSecretError(TerminalError):
    """An env var named in project.yml (`*_env`) is not set."""

    def __init__(self, env_var: str, source: str, field: str) -> None:
        self.env_var = env_var
        super().__init__(
            f"source '{source}': environment variable {env_var} (named by {field}) is not set; "
            f"export {env_var}=... before running"
        )


class _SourceTableError(HeadwaterError):
    """An error whose message starts with the source and table it concerns."""

    def __init__(self, source: str, table: str | None, cause: str) -> None:
        self.source = source
        self.table = table
        where = f"source '{source}'" + (f", table '{table}'" if table else "")
        super().__init__(f"{where}: {cause}")


class ConnectorError(_SourceTableError, TerminalError):
    """A connector failed on a terminal cause; names the source and the table."""


class TransientConnectorError(_SourceTableError, TransientError):
    """A connector failed on a cause that may pass (connection refused, timeout)."""


class DataSafetyError(TerminalError):
    """A load was refused because it would destroy data (e.g. an empty replace)."""


class WarehouseLockTimeoutError(TransientError):
    """Another writer held the warehouse write lock for longer than the allowed wait."""
