"""The last result of every dbt node, kept across runs in `.headwater/dbt/node_status.json`.

dbt's run_results.json holds only the last invocation: after `dbt build -s source:orders+`
it knows nothing of the CRM models. This file merges every invocation's node results, so
`headwater dbt models` (and the catalog) can show each node's last status and run.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from headwater.config import Project
from headwater.dbt.profile import dbt_paths

if TYPE_CHECKING:
    from headwater.dbt.runner import DbtResult

HISTORY_FILE = "node_status.json"
"""File name under `.headwater/dbt/`."""


def record(project: Project, result: DbtResult) -> None:
    """Merge `result`'s nodes into the history (skipped nodes keep their previous entry)."""
    if not result.nodes:
        return
    history = node_status(project)
    finished = datetime.now(UTC).isoformat(timespec="seconds")
    for node in result.nodes:
        if node.status == "skipped" and node.unique_id in history:
            continue
        history[node.unique_id] = {
            "name": node.name,
            "resource_type": node.resource_type,
            "status": node.status,
            "finished_at": finished,
            "seconds": round(node.seconds, 3),
            "rows": node.rows_affected,
            "message": node.message,
            "compiled_path": node.compiled_path,
        }
    path = dbt_paths(project).state_dir / HISTORY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(history, indent=1, sort_keys=True))
    os.replace(tmp, path)  # readers never see a half-written file


def node_status(project: Project) -> dict[str, dict[str, Any]]:
    """unique_id -> {name, resource_type, status, finished_at, seconds, rows, message}."""
    path = dbt_paths(project).state_dir / HISTORY_FILE
    if not path.is_file():
        return {}
    data: dict[str, dict[str, Any]] = json.loads(path.read_text())
    return data
