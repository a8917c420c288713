"""Sources needing attention: each reason from its real origin (metadata DB, Prefect run
history, dbt's node history and manifest)."""

from __future__ import annotations

import json
import time
import uuid

from headwater.config import Project
from headwater.dbt.profile import dbt_paths
from headwater.governance.attention import sources_needing_attention
from headwater.governance.drift import accept_drift, check_drift
from headwater.store import MetadataStore
from headwater.store.pii import PiiFinding
from headwater.store.types import utcnow
from tests.conftest import MakeProject
from tests.governance.test_freshness import finished_run

PROJECT = """
project: {{name: {name}}}
sources:
  drifted: {{type: files, tables: {{t: {{path: a.csv}}}}}}
  personal: {{type: files, tables: {{t: {{path: a.csv}}}}}}
  broken: {{type: files, tables: {{t: {{path: a.csv}}}}}}
  late: {{type: files, freshness: 1s, tables: {{t: {{path: a.csv}}}}}}
  fine: {{type: files, freshness: 1h, tables: {{t: {{path: a.csv}}}}}}
governance:
  pii_overrides:
    - {{source: broken, table: t, column: code, pii: false, reason: product codes}}
"""


def write_dbt_state(project: Project) -> None:
    """dbt's node history with a failing test on a model over `drifted.t`, and a passing
    one over `fine.t`, plus the manifest's parent map that links them."""
    paths = dbt_paths(project)
    paths.target_dir.mkdir(parents=True)
    manifest = {
        "sources": {
            "source.p.drifted.t": {"source_name": "drifted", "name": "t"},
            "source.p.fine.t": {"source_name": "fine", "name": "t"},
        },
        "parent_map": {
            "model.p.stg": ["source.p.drifted.t"],
            "test.p.not_null_stg_id": ["model.p.stg"],
            "test.p.unique_fine": ["source.p.fine.t"],
        },
    }
    (paths.target_dir / "manifest.json").write_text(json.dumps(manifest))
    history = {
        "test.p.not_null_stg_id": {"name": "not_null_stg_id", "resource_type": "test",
                                   "status": "fail"},
        "test.p.unique_fine": {"name": "unique_fine", "resource_type": "test", "status": "pass"},
        "model.p.stg": {"name": "stg", "resource_type": "model", "status": "success"},
    }
    (paths.state_dir / "node_status.json").write_text(json.dumps(history))


def test_every_reason_and_only_sources_with_one(
    make_project: MakeProject, prefect_api: str
) -> None:
    project = make_project(PROJECT.format(name=f"attn_{uuid.uuid4().hex[:8]}"))
    store = MetadataStore.open(project)
    try:
        check_drift(project, store, "drifted", {"t": {"id": "bigint", "name": "text"}})
        check_drift(project, store, "drifted", {"t": {"id": "text"}})
        now = utcnow()
        with store.session() as session:
            for source, column, kind in (("personal", "email", "email"),
                                         ("broken", "code", "iban")):
                session.add(PiiFinding(source=source, table_name="t", column_name=column,
                                       kind=kind, first_seen_at=now, detected_at=now))
        write_dbt_state(project)
        finished_run(prefect_api, project, "broken", "FAILED")
        finished_run(prefect_api, project, "late")
        finished_run(prefect_api, project, "fine")
        time.sleep(1.1)  # past late's `freshness: 1s`

        report = sources_needing_attention(project, store, prefect_api)
        assert report.not_checked == {}
        reasons = {entry.source: [r.kind for r in entry.reasons] for entry in report.sources}
        assert reasons == {
            "drifted": ["breaking_drift", "failing_dbt_tests"],
            "personal": ["new_pii"],
            "broken": ["failing_sync"],  # its PII finding is overridden as not PII
            "late": ["stale"],
        }
        by_source = {entry.source: entry.reasons for entry in report.sources}
        assert "id bigint -> text" in by_source["drifted"][0].message
        assert by_source["drifted"][1].details == {"tests": ["not_null_stg_id"]}
        assert "t.email (email)" in by_source["personal"][0].message
        assert "failed: failed on purpose" in by_source["broken"][0].message

        accept_drift(store, "drifted", "ana@example.com")
        after = sources_needing_attention(project, store, prefect_api)
        assert [r.kind for r in after.sources[0].reasons] == ["failing_dbt_tests"]
    finally:
        store.close()
