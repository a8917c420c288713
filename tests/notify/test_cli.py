"""`headwater notifications rules | deliveries | test | deliver`."""

from __future__ import annotations

import time

from typer.testing import CliRunner, Result

from headwater.cli.main import app
from headwater.notify import NotificationEvent, publish
from tests.notify.conftest import SECRET, SECRET_ENV, NotifyProject
from tests.notify.receiver import webhook_receiver

runner = CliRunner()


def hw(args: list[str]) -> Result:
    """Run `headwater` with a wide terminal (tables are not cut)."""
    return runner.invoke(app, args, env={"COLUMNS": "200"})


def test_cli(notify_project: NotifyProject) -> None:
    with webhook_receiver(SECRET, fail_first=1) as receiver:
        project = notify_project(
            receiver.url,
            rules={"drift_a": {"events": ["schema_drift"], "channel": "hook", "sources": ["a"]}},
        )
        where = ["--project", str(project.file)]

        rules = hw(["notifications", "rules", *where])
        assert rules.exit_code == 0, rules.output
        assert "drift_a" in rules.output and "source:a" in rules.output
        assert f"${SECRET_ENV}" in rules.output and SECRET not in rules.output

        # The first try fails (500): a test send is tried once and says so, exit 1.
        failed = hw(["notifications", "test", "--rule", "drift_a", *where])
        assert failed.exit_code == 1 and "HTTP 500" in failed.output
        sent = hw(["notifications", "test", *where])
        assert sent.exit_code == 0 and "delivered rule drift_a: HTTP 200" in sent.output
        unknown = hw(["notifications", "test", "--rule", "nope", *where])
        assert unknown.exit_code == 1 and "known: drift_a" in unknown.output

        receiver.always = 500
        [pending] = publish(
            project,
            NotificationEvent(kind="schema_drift", summary="x dropped", source="a"),
            retry_within=0,
        )
        assert pending.status == "pending"
        receiver.always = None
        time.sleep(0.1)  # past the 0.05 s backoff
        deliver = hw(["notifications", "deliver", *where])
        assert deliver.exit_code == 0, deliver.output
        assert "1 due deliveries tried" in deliver.output
        assert "delivered rule drift_a" in deliver.output

    log = hw(["notifications", "deliveries", "--status", "delivered", *where])
    assert log.exit_code == 0, log.output
    assert "2 of 2 deliveries" in log.output
    bad = hw(["notifications", "deliveries", "--status", "lost", *where])
    assert bad.exit_code == 1 and "pending, delivered, failed" in bad.output
