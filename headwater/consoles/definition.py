"""Consoles as project.yml declares them: their SQL, the table they materialize, what they read."""

from __future__ import annotations

from headwater.config import Project
from headwater.config.consoles import ConsoleConfig
from headwater.consoles.errors import ConsoleNotFoundError, ConsoleSqlFileError

CONSOLES_SCHEMA = "consoles"
"""The warehouse schema of materialized consoles."""


def get_console(project: Project, name: str) -> ConsoleConfig:
    """The console called `name`, or `ConsoleNotFoundError` listing the known ones."""
    try:
        return project.config.consoles[name]
    except KeyError:
        raise ConsoleNotFoundError(name, list(project.config.consoles)) from None


def console_sql(project: Project, name: str) -> str:
    """The console's SQL: inline `sql`, or the text of its `file` (relative to project.yml);
    a missing or unreadable file raises `ConsoleSqlFileError` naming the path."""
    config = get_console(project, name)
    if config.sql is not None:
        return config.sql
    assert config.file is not None  # the config model requires one of them
    path = project.path(config.file)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConsoleSqlFileError(
            f"console '{name}': its SQL file {path} does not exist (consoles.{name}.file: "
            f"{config.file}); create it or fix the path, which is relative to "
            f"{project.file.name}"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConsoleSqlFileError(
            f"console '{name}': cannot read its SQL file {path}: {exc}"
        ) from None


def materialized_table(name: str) -> str:
    """`consoles.<name>`: the warehouse table a materialized console replaces each run."""
    return f"{CONSOLES_SCHEMA}.{name}"


def console_read_tables(project: Project, name: str) -> list[str]:
    """The tables (`schema.table`, as written) the console's SQL reads, for lineage; empty
    when its file is missing or the SQL does not parse."""
    from headwater.catalog.sql_lineage import sql_lineage

    try:
        return list(sql_lineage(console_sql(project, name)).tables_read)
    except (ConsoleSqlFileError, ValueError):
        return []
