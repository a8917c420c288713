"""Projects whose notifications point at a local receiver."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest

from headwater.config import Project
from headwater.config.notifications import EVENT_KINDS
from tests.conftest import MakeProject

SECRET = "whsec_" + base64.b64encode(b"headwater-test-signing-key-32byte").decode()
"""The signing secret the receivers check."""
SECRET_ENV = "HW_TEST_WEBHOOK_SECRET"
"""The env var the test channels name for it."""

NotifyProject = Callable[..., Project]


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> str:
    """The signing secret, exported as HW_TEST_WEBHOOK_SECRET."""
    monkeypatch.setenv(SECRET_ENV, SECRET)
    return SECRET


@pytest.fixture
def notify_project(make_project: MakeProject, secret_env: str) -> NotifyProject:
    """A project with sources a, b, console c and a webhook channel `hook` at `url`
    (max_attempts as given, backoff 0.05 s); `rules` default: every kind to `hook`."""

    def make(
        url: str,
        *,
        rules: dict[str, dict[str, Any]] | None = None,
        fmt: str = "generic",
        max_attempts: int = 5,
        enabled: bool = True,
        channels: dict[str, dict[str, Any]] | None = None,
        name: str = "notify_test",
    ) -> Project:
        hook: dict[str, Any] = {"url": url, "format": fmt}
        if fmt == "generic":
            hook["secret_env"] = SECRET_ENV
        if rules is None:
            rules = {"all": {"events": list(EVENT_KINDS), "channel": "hook"}}
        notifications = {
            "enabled": enabled,
            "max_attempts": max_attempts,
            "backoff_seconds": 0.05,
            "channels": {"hook": hook, **(channels or {})},
            "rules": rules,
        }
        return make_project(
            f"""
            project:
              name: {name}
            sources:
              a: {{type: files, tables: {{t: {{path: a.csv}}}}}}
              b: {{type: files, tables: {{t: {{path: b.csv}}}}}}
            consoles:
              c: {{sql: "select 1 as x"}}
            notifications: {json.dumps(notifications)}
            """
        )

    return make
