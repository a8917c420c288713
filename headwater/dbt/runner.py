"""Run dbt in-process through its programmatic runner and return typed results.

Every run uses the generated profile and keeps target/ and logs/ under `.headwater/dbt/`,
the same directory each time: dbt's partial parsing then reuses `partial_parse.msgpack`, so
an unchanged project does not pay a full parse. Commands that write to the warehouse hold
the warehouse write lock (a SQLite catalog takes one writer at a time).
"""

from __future__ import annotations

import json
import re
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headwater.config import Project
from headwater.dbt import history
from headwater.dbt.profile import DbtPaths, dbt_paths, has_dbt_project, write_profile
from headwater.errors import TerminalError
from headwater.warehouse import Warehouse
from headwater.warehouse.lock import write_lock

if TYPE_CHECKING:
    from dbt.cli.main import dbtRunnerResult

WRITING_COMMANDS = frozenset({"build", "run", "seed", "snapshot", "test"})
"""dbt commands that write to the warehouse (tests too: they may store failures)."""
FAILED_STATUSES = frozenset({"error", "fail", "runtime error"})
"""Node statuses that make a run fail (`warn` and `skipped` do not on their own)."""


@dataclass
class NodeResult:
    """What dbt did with one node (model, test, seed, snapshot)."""

    unique_id: str
    """dbt's unique id, e.g. `model.headwater_demo.stg_orders`."""
    name: str
    """Node name, e.g. `stg_orders` or `unique_stg_orders_order_id`."""
    resource_type: str
    """model, test, seed, snapshot, ..."""
    status: str
    """success, error, fail, warn, pass, skipped."""
    seconds: float
    """Execution time."""
    rows_affected: int | None = None
    """Rows written (models) or failing rows (tests), when the adapter reports them."""
    adapter_response: dict[str, Any] = field(default_factory=dict)
    """The adapter's raw response (message, code, rows_affected)."""
    message: str | None = None
    """For failures: the node, its compiled SQL file and the database error."""
    compiled_path: str | None = None
    """Absolute path of the compiled SQL, when dbt compiled the node."""
    materialized: str | None = None
    """Models: view, table, incremental, ..."""
    relation: str | None = None
    """Models: the quoted relation it builds, e.g. `"lake"."marts"."daily_orders"`."""

    @property
    def failed(self) -> bool:
        """Whether this node makes the run fail."""
        return self.status in FAILED_STATUSES


@dataclass
class DbtResult:
    """One dbt invocation: overall success and one entry per node that ran."""

    command: list[str]
    """The dbt arguments (subcommand and its options, Headwater's path flags left out)."""
    success: bool
    """dbt's own verdict: False when any node errored or dbt itself failed."""
    seconds: float
    """Wall time of the invocation."""
    nodes: list[NodeResult] = field(default_factory=list)
    """Per-node results in execution order."""
    error: str | None = None
    """Set when dbt failed before running nodes (parse error, bad selector, ...)."""

    @property
    def failures(self) -> list[NodeResult]:
        """Nodes that errored or whose tests failed."""
        return [node for node in self.nodes if node.failed]

    def failure_message(self) -> str:
        """One line per failing node (or dbt's own error), for exceptions and events."""
        if self.error:
            return self.error
        return "\n".join(node.message or f"{node.name}: {node.status}" for node in self.failures)


def run_dbt(project: Project, args: list[str], quiet: bool = True) -> DbtResult:
    """Run `dbt <args>` for `project` in this process; never raises for node failures."""
    if not has_dbt_project(project):
        raise TerminalError(f"no dbt project: {dbt_paths(project).project_dir} does not exist")
    paths = dbt_paths(project)
    write_profile(project)
    full_args = [*_global_flags(paths, quiet), *args, *_path_flags(paths)]
    started = time.monotonic()
    outcome = _invoke(project, full_args, writes=bool(args) and args[0] in WRITING_COMMANDS)
    seconds = time.monotonic() - started
    nodes = [_node_result(item, paths) for item in _run_results(outcome.result)]
    error = None
    if outcome.exception is not None:
        error = f"dbt {' '.join(args[:1])} failed: {_one_line(str(outcome.exception))}"
    elif not outcome.success and not any(node.failed for node in nodes):
        error = f"dbt {' '.join(args[:1])} failed; see {paths.log_dir / 'dbt.log'}"
    result = DbtResult(
        command=args, success=outcome.success, seconds=seconds, nodes=nodes, error=error
    )
    if args and args[0] in {"build", "run"}:
        count_table_rows(project, result)
    history.record(project, result)
    return result


def build(
    project: Project,
    select: list[str] | None = None,
    exclude: list[str] | None = None,
    full_refresh: bool = False,
) -> DbtResult:
    """`dbt build` of the selected nodes (all when `select` is empty)."""
    args = ["build"]
    if select:
        args += ["--select", *select]
    if exclude:
        args += ["--exclude", *exclude]
    if full_refresh:
        args.append("--full-refresh")
    return run_dbt(project, args)


def parse(project: Project) -> DbtResult:
    """`dbt parse`: refresh target/manifest.json (partially when little changed)."""
    return run_dbt(project, ["parse"])


def list_selected(project: Project, select: list[str], resource_type: str = "model") -> list[str]:
    """unique_ids `select` picks (only `resource_type` nodes); empty when it picks nothing."""
    paths = dbt_paths(project)
    write_profile(project)
    outcome = _invoke(
        project,
        [
            # dbt prints ls results to stdout even with --quiet; they are read from the
            # result here, so the console stays clean (dbt.log still gets everything).
            *_global_flags(paths, quiet=False),
            "--log-level",
            "none",
            "ls",
            "--select",
            *select,
            "--resource-type",
            resource_type,
            "--output",
            "json",
            "--output-keys",
            "unique_id",
            *_path_flags(paths),
        ],
        writes=False,
    )
    if not outcome.success:
        raise TerminalError(f"dbt ls --select {' '.join(select)} failed: {outcome.exception}")
    lines: list[str] = outcome.result or []  # type: ignore[assignment]  # ls returns lines
    return [json.loads(line)["unique_id"] for line in lines]


def count_table_rows(project: Project, result: DbtResult) -> None:
    """Fill `rows_affected` of successful table models with their row count.

    DuckDB reports no row count for `CREATE TABLE AS`; counting a built DuckLake table reads
    only Parquet footers, so this is cheap. Views are left alone: counting one runs its query.
    """
    built = [
        node
        for node in result.nodes
        if node.resource_type == "model"
        and node.status == "success"
        and node.materialized in {"table", "incremental"}
        and node.relation
        and node.rows_affected is None
    ]
    if not built:
        return
    import duckdb

    with Warehouse(project).reader() as conn:
        for node in built:
            try:
                row = conn.execute(f"SELECT count(*) FROM {node.relation}").fetchone()
            except duckdb.Error:  # a count is a nicety: never fail a build over it
                continue
            node.rows_affected = int(row[0]) if row else None


def load_manifest(project: Project) -> dict[str, Any] | None:
    """target/manifest.json from the last dbt invocation, or None when there is none."""
    return _read_json(dbt_paths(project).target_dir / "manifest.json")


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _invoke(project: Project, args: list[str], writes: bool) -> dbtRunnerResult:
    """dbtRunner().invoke under the project's dbt lock (and the warehouse write lock)."""
    from dbt.cli.main import dbtRunner

    timeout = project.config.warehouse.write_lock_timeout_seconds
    # One dbt at a time per project: runs share target/ (manifest, partial_parse.msgpack),
    # and dbt's global flags make concurrent runs in one process unsafe too.
    dbt_lock = write_lock(dbt_paths(project).state_dir / "dbt.lock", timeout)
    warehouse_lock: AbstractContextManager[None] = (
        Warehouse(project).write_lock() if writes else nullcontext()
    )
    with dbt_lock, warehouse_lock:
        return dbtRunner().invoke(args)


def _global_flags(paths: DbtPaths, quiet: bool) -> list[str]:
    # No phoning home (the platform runs offline) and no colour codes in Prefect's logs.
    flags = ["--no-send-anonymous-usage-stats", "--no-version-check", "--no-use-colors"]
    flags += ["--log-path", str(paths.log_dir)]
    return [*flags, "--quiet"] if quiet else flags


def _path_flags(paths: DbtPaths) -> list[str]:
    return [
        "--project-dir",
        str(paths.project_dir),
        "--profiles-dir",
        str(paths.profiles_dir),
        "--target-path",
        str(paths.target_dir),
    ]


def _run_results(result: Any) -> list[Any]:
    """The per-node results of a RunExecutionResult (empty for parse, ls, errors)."""
    return list(getattr(result, "results", None) or [])


def _node_result(item: Any, paths: DbtPaths) -> NodeResult:
    node = item.node
    status = str(getattr(item.status, "value", item.status))
    response = dict(item.adapter_response or {})
    rows = response.get("rows_affected")
    if node.resource_type == "test" and item.failures is not None:
        rows = item.failures  # for a test, the interesting count is its failing rows
    compiled = _compiled_path(node, paths)
    result = NodeResult(
        unique_id=node.unique_id,
        name=node.name,
        resource_type=str(node.resource_type),
        status=status,
        seconds=float(item.execution_time or 0.0),
        rows_affected=int(rows) if isinstance(rows, int) and rows >= 0 else None,
        adapter_response=response,
        compiled_path=compiled,
        materialized=getattr(node.config, "materialized", None),
        relation=getattr(node, "relation_name", None),
    )
    if result.failed or status == "warn":
        result.message = _failure_message(result, item.message)
    return result


def _compiled_path(node: Any, paths: DbtPaths) -> str | None:
    relative = getattr(node, "compiled_path", None)
    if not relative:
        return None
    candidate = Path(relative)
    if not candidate.is_absolute():
        candidate = paths.target_dir / "compiled" / node.package_name / node.original_file_path
    return str(candidate)


def _failure_message(node: NodeResult, raw: str | None) -> str:
    """`<type> <name> failed: <database error> (compiled SQL: <path>)`."""
    text = _one_line(raw or node.status)
    # dbt prefixes "Runtime Error in model x (models/x.sql)": the node is named already.
    text = re.sub(r"^(Runtime|Database|Compilation) Error in \w+ \S+ \([^)]*\)\s*", "", text)
    where = f" (compiled SQL: {node.compiled_path})" if node.compiled_path else ""
    verb = "warned" if node.status == "warn" else "failed"
    return f"{node.resource_type} {node.name} {verb}: {text}{where}"


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()
