"""The dbt models with their last result: what `headwater dbt models` and the API list."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from headwater.config import Project
from headwater.dbt.history import node_status
from headwater.dbt.profile import has_dbt_project
from headwater.dbt.runner import load_manifest, parse
from headwater.dbt.selection import manifest_is_current
from headwater.errors import TerminalError


@dataclass(frozen=True)
class ModelInfo:
    """One dbt model."""

    unique_id: str
    """dbt's id, e.g. `model.headwater_demo.stg_orders`."""
    name: str
    """Model name."""
    materialized: str
    """table, view, incremental, ..."""
    schema: str
    """Warehouse schema it builds into."""
    description: str
    """From its YAML."""
    depends_on: list[str]
    """unique_ids of the nodes it reads."""
    last_status: str
    """success, error, skipped, ... or `never run`."""
    last_run_at: str | None
    """When its last build finished (ISO 8601)."""
    rows: int | None
    """Rows its last build wrote, when dbt reported them."""
    message: str | None
    """Error of its last build, if any."""


def list_models(project: Project) -> list[ModelInfo]:
    """Every model of the dbt project, sorted by name; parses the project first when its
    files changed since the last parse (about 3 s), else reads the manifest only; none
    when the project has no dbt project."""
    if not has_dbt_project(project):
        return []
    if not manifest_is_current(project):
        parsed = parse(project)
        if not parsed.success:
            raise TerminalError(f"dbt could not parse the project: {parsed.failure_message()}")
    manifest: dict[str, Any] = load_manifest(project) or {}
    history = node_status(project)
    models = []
    for unique_id, node in manifest.get("nodes", {}).items():
        if node.get("resource_type") != "model":
            continue
        last = history.get(unique_id, {})
        models.append(
            ModelInfo(
                unique_id=unique_id,
                name=node["name"],
                materialized=node.get("config", {}).get("materialized", ""),
                schema=node.get("schema", ""),
                description=node.get("description", ""),
                depends_on=list(node.get("depends_on", {}).get("nodes", [])),
                last_status=last.get("status", "never run"),
                last_run_at=last.get("finished_at"),
                rows=last.get("rows") if isinstance(last.get("rows"), int) else None,
                message=last.get("message"),
            )
        )
    return sorted(models, key=lambda model: model.name)
