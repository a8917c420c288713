"""Consoles: saved read-only SQL from project.yml, run as `run_console` flow runs, with
assertions on the result, an optional table `consoles.<name>` and export file, and a run
history in the metadata DB."""

from headwater.consoles.assertions import AssertionResult, check_assertions, check_expression
from headwater.consoles.definition import (
    CONSOLES_SCHEMA,
    console_read_tables,
    console_sql,
    get_console,
    materialized_table,
)
from headwater.consoles.errors import (
    ConsoleAssertionError,
    ConsoleError,
    ConsoleNotFoundError,
    ConsoleOutputError,
    ConsoleSqlFileError,
)
from headwater.consoles.history import (
    console_runs,
    last_result_run,
    last_run,
    last_runs,
    record_failure,
    record_finish,
    record_start,
)
from headwater.consoles.runner import PREVIEW_ROWS, ConsoleOutcome, execute_console
from headwater.consoles.schedule import describe_schedule, next_run_at

__all__ = [
    "CONSOLES_SCHEMA",
    "PREVIEW_ROWS",
    "AssertionResult",
    "ConsoleAssertionError",
    "ConsoleError",
    "ConsoleNotFoundError",
    "ConsoleOutcome",
    "ConsoleOutputError",
    "ConsoleSqlFileError",
    "check_assertions",
    "check_expression",
    "console_read_tables",
    "console_runs",
    "console_sql",
    "describe_schedule",
    "execute_console",
    "get_console",
    "last_result_run",
    "last_run",
    "last_runs",
    "materialized_table",
    "next_run_at",
    "record_failure",
    "record_finish",
    "record_start",
]
