"""Which models read a source's tables, from the last manifest when it is still current.

After every sync Headwater asks "does any model depend on these tables?". `dbt ls` answers
correctly but costs a dbt start-up (about 3 s); target/manifest.json answers in
milliseconds and is right as long as no project file changed since dbt wrote it.
"""

from __future__ import annotations

import json
from collections import deque

from headwater.config import Project
from headwater.dbt.profile import dbt_paths
from headwater.dbt.runner import list_selected

_SKIP = frozenset({"target", "logs", "dbt_packages", "__pycache__"})
"""Folders of a dbt project that dbt itself writes: not the project's sources."""


def downstream_models(project: Project, source: str, tables: list[str]) -> list[str]:
    """unique_ids of the models downstream of `source`.<table> for each of `tables`."""
    manifest_file = dbt_paths(project).target_dir / "manifest.json"
    if manifest_is_current(project):
        manifest = json.loads(manifest_file.read_text())
        starts = [
            unique_id
            for unique_id, node in manifest.get("sources", {}).items()
            if node.get("source_name") == source and node.get("name") in tables
        ]
        return _models_below(manifest.get("child_map", {}), starts)
    return list_selected(project, [f"source:{source}.{table}+" for table in tables])


def _models_below(child_map: dict[str, list[str]], starts: list[str]) -> list[str]:
    """Models reachable from `starts` in dbt's child map (breadth first, cycle-safe)."""
    seen: set[str] = set()
    queue = deque(starts)
    while queue:
        for child in child_map.get(queue.popleft(), []):
            if child not in seen:
                seen.add(child)
                queue.append(child)
    return sorted(unique_id for unique_id in seen if unique_id.startswith("model."))


def manifest_is_current(project: Project) -> bool:
    """Whether target/manifest.json is newer than every file of the dbt project."""
    paths = dbt_paths(project)
    manifest_file, project_dir = paths.target_dir / "manifest.json", paths.project_dir
    if not manifest_file.is_file():
        return False
    written = manifest_file.stat().st_mtime
    # Directories too: deleting a model changes only its directory's mtime.
    candidates = [project_dir, *project_dir.rglob("*")]
    return not any(
        path.stat().st_mtime > written
        for path in candidates
        if not _SKIP.intersection(path.relative_to(project_dir).parts)
    )
