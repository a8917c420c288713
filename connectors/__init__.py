"""Connectors, one folder per source type; `connector_for` picks one by `type:`."""

from __future__ import annotations

from headwater.config.project import Project
from headwater.config.sources import SOURCE_TYPES, SourceBase
from headwater.errors import ConfigError

from connectors.base import BackfillWindow, CheckReport, Connector, TableSpec


def _registry() -> dict[str, type[Connector[SourceBase]]]:
    # Imported here so that `import connectors` stays cheap; each folder exports CONNECTOR.
    from connectors.files import CONNECTOR as files
    from connectors.rest_api import CONNECTOR as rest_api
    from connectors.sql import CONNECTOR as sql

    registry: dict[str, type[Connector[SourceBase]]] = {
        cls.type: cls for cls in (files, sql, rest_api)  # type: ignore[misc]
    }
    assert set(registry) == set(SOURCE_TYPES), "config and connector registries disagree"
    return registry


def connector_for(project: Project, source_name: str) -> Connector[SourceBase]:
    """The connector for `sources.<source_name>`; an unknown type lists the known ones."""
    config = project.source(source_name)
    registry = _registry()
    source_type = getattr(config, "type", None)
    if source_type not in registry:
        raise ConfigError(
            f"source '{source_name}': unknown type {source_type!r}; "
            f"known types: {', '.join(sorted(registry))}"
        )
    return registry[source_type](source_name, config, project)


__all__ = ["BackfillWindow", "CheckReport", "Connector", "TableSpec", "connector_for"]
