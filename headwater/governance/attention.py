"""Which sources need someone's attention, and why.

Reasons: unaccepted breaking schema drift, PII found by the latest scan for the first time
(not overridden as not PII), a failing latest sync, staleness, and failing dbt tests over
the source's tables or the models downstream of them. A part that cannot be checked
(Prefect not answering, no dbt manifest yet) is named in `not_checked` instead.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from headwater.config import Project
from headwater.dbt.history import node_status
from headwater.dbt.profile import dbt_paths
from headwater.errors import HeadwaterError
from headwater.governance.drift import describe_event, open_breaking_events
from headwater.governance.freshness import latest_finished_sync, source_freshness
from headwater.governance.pii import source_override
from headwater.store import MetadataStore
from headwater.store.pii import present_findings

ReasonKind = Literal["breaking_drift", "new_pii", "failing_sync", "stale", "failing_dbt_tests"]
"""Why a source needs attention."""

FAILED_STATES = frozenset({"failed", "crashed"})
"""Prefect states of a sync run that failed."""
FAILED_TEST_STATUSES = frozenset({"fail", "error"})
"""dbt test statuses that count as failing (`warn` does not)."""


@dataclass(frozen=True)
class Reason:
    """One reason a source needs attention."""

    kind: ReasonKind
    """breaking_drift, new_pii, failing_sync, stale or failing_dbt_tests."""
    message: str
    """One line for people, saying what to do where it can."""
    details: dict[str, Any] = field(default_factory=dict)
    """The facts behind it (tables, columns, run id, test names)."""


@dataclass(frozen=True)
class SourceAttention:
    """A source and why it needs attention."""

    source: str
    """Source name."""
    reasons: list[Reason]
    """At least one."""


@dataclass(frozen=True)
class AttentionReport:
    """The sources needing attention, and which reasons could not be checked."""

    sources: list[SourceAttention]
    """Sources with at least one reason, in project.yml order."""
    not_checked: dict[str, str] = field(default_factory=dict)
    """Reason kind -> why it could not be checked this time."""


def sources_needing_attention(
    project: Project, store: MetadataStore, prefect_api_url: str
) -> AttentionReport:
    """Every source with a reason for attention (see the module docstring)."""
    reasons: dict[str, list[Reason]] = {name: [] for name in project.config.sources}
    not_checked: dict[str, str] = {}
    _drift_reasons(store, reasons)
    _pii_reasons(project, store, reasons)
    try:
        _run_reasons(project, prefect_api_url, reasons)
    except HeadwaterError as exc:
        not_checked["failing_sync"] = not_checked["stale"] = f"Prefect: {exc}"
    try:
        _dbt_reasons(project, reasons)
    except (OSError, ValueError) as exc:
        not_checked["failing_dbt_tests"] = f"cannot read dbt's results: {exc}"
    return AttentionReport(
        sources=[SourceAttention(name, found) for name, found in reasons.items() if found],
        not_checked=not_checked,
    )


def _drift_reasons(store: MetadataStore, reasons: dict[str, list[Reason]]) -> None:
    with store.session() as session:
        events = open_breaking_events(session)
    by_source: dict[str, list[Any]] = {}
    for event in events:
        if event.source in reasons:
            by_source.setdefault(event.source, []).append(event)
    for source, found in by_source.items():
        tables = sorted({event.table_name for event in found})
        reasons[source].append(Reason(
            "breaking_drift",
            f"unaccepted breaking schema drift in {', '.join(tables)} "
            f"({describe_event(found[0])}); dbt builds after its syncs are held back until "
            f"`headwater governance accept {source}`",
            {"tables": tables, "events": [event.id for event in found]},
        ))


def _pii_reasons(project: Project, store: MetadataStore, reasons: dict[str, list[Reason]]) -> None:
    with store.session() as session:
        findings = [
            finding for finding in present_findings(session)
            if finding.new and finding.source in reasons
        ]
    by_source: dict[str, list[str]] = {}
    for finding in findings:
        override = source_override(project, finding.source, finding.table_name,
                                   finding.column_name)
        if override is not None and not override.pii:
            continue
        by_source.setdefault(finding.source, []).append(
            f"{finding.table_name}.{finding.column_name} ({finding.kind})"
        )
    for source, columns in by_source.items():
        reasons[source].append(Reason(
            "new_pii",
            f"new PII found by the latest scan: {', '.join(columns)}; review it, and declare "
            "false positives in governance.pii_overrides",
            {"columns": columns},
        ))


def _run_reasons(project: Project, api_url: str, reasons: dict[str, list[Reason]]) -> None:
    for name, fresh in source_freshness(project, api_url).items():
        if fresh.stale:
            reasons[name].append(Reason("stale", f"stale: {fresh.reason}", {
                "last_success_at": fresh.last_success_at.isoformat()
                if fresh.last_success_at else None,
                "threshold_from": fresh.threshold_from,
            }))
    for name, config in project.config.sources.items():
        if not config.enabled:
            continue
        latest = latest_finished_sync(project, api_url, name)
        if latest is not None and latest.state in FAILED_STATES:
            message = (latest.state_message or "").strip().splitlines()
            reasons[name].append(Reason(
                "failing_sync",
                f"the latest sync ({latest.name}) {latest.state}"
                + (f": {message[0][:300]}" if message else ""),
                {"run_id": latest.id, "state": latest.state},
            ))


def _dbt_reasons(project: Project, reasons: dict[str, list[Reason]]) -> None:
    failing = {
        unique_id: entry
        for unique_id, entry in node_status(project).items()
        if entry.get("resource_type") == "test" and entry.get("status") in FAILED_TEST_STATUSES
    }
    if not failing:
        return
    manifest_file = dbt_paths(project).target_dir / "manifest.json"
    if not manifest_file.is_file():
        raise ValueError(f"{manifest_file} does not exist (run a dbt build)")
    manifest = json.loads(manifest_file.read_text())
    parent_map: dict[str, list[str]] = manifest.get("parent_map", {})
    sources: dict[str, Any] = manifest.get("sources", {})
    by_source: dict[str, list[str]] = {}
    for unique_id, entry in failing.items():
        for source in _upstream_sources(unique_id, parent_map, sources):
            if source in reasons:
                by_source.setdefault(source, []).append(str(entry.get("name") or unique_id))
    for source, tests in by_source.items():
        reasons[source].append(Reason(
            "failing_dbt_tests",
            f"{len(tests)} dbt test(s) failing over its data: {', '.join(sorted(tests)[:10])}",
            {"tests": sorted(tests)},
        ))


def _upstream_sources(
    unique_id: str, parent_map: dict[str, list[str]], sources: dict[str, Any]
) -> set[str]:
    """Headwater sources (dbt source names) upstream of a node in dbt's parent map."""
    found: set[str] = set()
    seen = {unique_id}
    queue = deque([unique_id])
    while queue:
        for parent in parent_map.get(queue.popleft(), []):
            if parent in seen:
                continue
            seen.add(parent)
            if parent.startswith("source."):
                name = sources.get(parent, {}).get("source_name")
                if name:
                    found.add(str(name))
            else:
                queue.append(parent)
    return found
