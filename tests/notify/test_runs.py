"""run_failed / run_succeeded from real Prefect flow runs, through the run watcher."""

from __future__ import annotations

import time
import uuid

import pytest
from prefect import flow, tags

from headwater.config import load_project
from headwater.notify.runs import watch_runs
from headwater.runs import project_tag, source_tag
from headwater.store import MetadataStore
from tests.conftest import drain_prefect_workers
from tests.notify.conftest import SECRET, NotifyProject
from tests.notify.receiver import webhook_receiver

pytestmark = pytest.mark.slow


@flow(name="notify_test_failing")
def failing() -> None:
    raise ValueError("boom: table t is missing")


@flow(name="notify_test_slow", timeout_seconds=0.2)
def too_slow() -> None:
    time.sleep(3)


@flow(name="run_schedule")  # the flow name of a schedule's own run
def failing_schedule() -> None:
    raise ValueError("1 of 2 runs failed: sync a: boom")


@flow(name="notify_test_ok")
def succeeding() -> int:
    return 1


def test_finished_runs_are_published_once(notify_project: NotifyProject, prefect_api: str) -> None:
    with webhook_receiver(SECRET) as receiver:
        project = notify_project(
            receiver.url,
            name=f"nt_{uuid.uuid4().hex[:8]}",
            rules={
                "failures_of_a": {"events": ["run_failed"], "channel": "hook", "sources": ["a"]},
                "successes": {"events": ["run_succeeded"], "channel": "hook"},
            },
        )
        with tags(project_tag(project), source_tag("a")):
            failed = failing(return_state=True)
            timed_out = too_slow(return_state=True)
        with tags(project_tag(project), "console:c"):
            succeeded = succeeding(return_state=True)
        with tags("project:another_project", source_tag("a")):
            failing(return_state=True)
        with tags(project_tag(project), source_tag("a"), "schedule:nightly"):
            failing(return_state=True)  # a schedule's child: its schedule's run reports it
        with tags(project_tag(project), source_tag("b"), source_tag("a"), "schedule:nightly"):
            scheduled = failing_schedule(return_state=True)
        assert timed_out.name == "TimedOut" and timed_out.is_failed()

        drain_prefect_workers()

        store = MetadataStore.open(project)
        first = watch_runs(project, store, prefect_api)
        store.close()
        # A restart: the cursor is in the metadata DB, so nothing is sent again.
        store = MetadataStore.open(project)
        second = watch_runs(project, store, prefect_api)
        store.close()

    assert sorted((r.rule, r.status) for r in first) == [
        *[("failures_of_a", "delivered")] * 3, ("successes", "delivered")
    ]
    assert second == []
    bodies = {r.json["details"]["run_id"]: r.json for r in receiver.accepted}
    assert len(receiver.accepted) == 4
    # A schedule's run syncing b and a matches a rule on a, whichever its first source is.
    schedule_run = bodies.pop(str(scheduled.state_details.flow_run_id))
    assert set(schedule_run["details"]["sources"]) == {"a", "b"}
    assert schedule_run["details"]["flow"] == "run_schedule"
    run_ids = [str(s.state_details.flow_run_id) for s in (failed, timed_out, succeeded)]
    assert set(bodies) == set(run_ids)
    failure = bodies[run_ids[0]]
    assert failure["kind"] == "run_failed" and failure["source"] == "a"
    assert failure["details"]["flow"] == "notify_test_failing"
    assert failure["details"]["state"] == "Failed"
    assert "boom: table t is missing" in failure["details"]["message"]
    assert "boom" in failure["summary"]
    assert isinstance(failure["details"]["duration"], float)
    assert bodies[run_ids[1]]["details"]["state"] == "TimedOut"
    success = bodies[run_ids[2]]
    assert (success["kind"], success["console"], success["source"]) == ("run_succeeded", "c", None)


def test_cdc_lag_is_published_once_per_slot_and_hour(
    notify_project: NotifyProject, prefect_api: str
) -> None:
    from connectors.postgres_cdc.status import CdcStatus
    from flows.cdc import _warn_on_lag

    status = CdcStatus(
        source="a", slot="headwater_a", slot_exists=True, confirmed_lsn="0/1",
        lag_bytes=123_456, retained_bytes=123_456, lag_warning=True, last_batch_at=None,
    )

    @flow(name="notify_test_cdc_lag")
    def lagging(project_file: str) -> None:
        project = load_project(project_file)
        _warn_on_lag(project, status)
        _warn_on_lag(project, status)  # the next check of a continuous run, still lagging

    with webhook_receiver(SECRET) as receiver:
        project = notify_project(
            receiver.url, rules={"lag": {"events": ["cdc_lag"], "channel": "hook"}}
        )
        lagging(str(project.file))
        drain_prefect_workers()
    [request] = receiver.requests
    body = request.json
    assert (body["kind"], body["source"]) == ("cdc_lag", "a")
    assert body["details"] == {"slot": "headwater_a", "lag_bytes": 123_456}
