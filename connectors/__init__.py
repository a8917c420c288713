"""Connectors, one folder per source type, named after its `type:` value.

The registry is derived, not listed: `type: sql` is the package `connectors.sql`, whose
`CONNECTOR` class says `type = "sql"`. Adding a connector means adding a folder and its
config model in `headwater.config.sources`.
"""

from __future__ import annotations

import importlib
from typing import Any

from connectors.base import BackfillWindow, CheckReport, Connector, TableSpec
from headwater.config.project import Project
from headwater.config.sources import SOURCE_TYPES
from headwater.errors import ConfigError


def connector_class(source_type: str) -> type[Connector[Any]]:
    """The connector class for `type: source_type`; an unknown type lists the known ones."""
    if source_type not in SOURCE_TYPES:
        raise ConfigError(
            f"unknown source type {source_type!r}; known types: {', '.join(SOURCE_TYPES)}"
        )
    module = importlib.import_module(f"connectors.{source_type}")
    cls: type[Connector[Any]] = module.CONNECTOR
    return cls


def connector_for(project: Project, source_name: str) -> Connector[Any]:
    """The connector for `sources.<source_name>` of `project`."""
    config = project.source(source_name)
    return connector_class(config.type)(source_name, config, project)


__all__ = [
    "BackfillWindow",
    "CheckReport",
    "Connector",
    "TableSpec",
    "connector_class",
    "connector_for",
]
