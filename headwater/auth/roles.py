"""Roles and the permissions each one grants."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["viewer", "editor", "admin"]
"""A user's role; API keys act with their owner's role."""

VIEWER_PERMISSIONS = frozenset(
    {"source.view", "governance.view", "scheduler.view", "query.execute"}
)
EDITOR_PERMISSIONS = VIEWER_PERMISSIONS | {
    "source.sync",
    "dbt.run",
    "console.run",
    "console.manage",
    "governance.manage",
}
ADMIN_PERMISSIONS = EDITOR_PERMISSIONS | {"scheduler.manage", "users.manage", "config.manage"}

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "viewer": VIEWER_PERMISSIONS,
    "editor": EDITOR_PERMISSIONS,
    "admin": ADMIN_PERMISSIONS,
}
"""Role -> the permissions it grants."""

ALL_PERMISSIONS = ADMIN_PERMISSIONS


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user through a session cookie or one of their API keys."""

    user_id: int
    """The user's id in the metadata DB."""
    email: str
    """The user's email (audit log, `/api/auth/me`)."""
    role: str
    """The user's role: viewer, editor or admin."""
    session_id: int | None = None
    """The login session, when authenticated by cookie."""
    api_key_id: int | None = None
    """The API key, when authenticated by `Authorization: Bearer hw_...`."""
    needs_2fa_setup: bool = False
    """`auth.require_2fa` is on and this user has no TOTP yet: only 2FA setup may proceed."""

    @property
    def permissions(self) -> frozenset[str]:
        """What this principal may do."""
        return ROLE_PERMISSIONS.get(self.role, frozenset())

    def can(self, permission: str) -> bool:
        """Whether this principal holds `permission`."""
        return permission in self.permissions
