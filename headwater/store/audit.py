"""Writing and reading the audit log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from headwater.store.db import MetadataStore
from headwater.store.models import AuditEntry
from headwater.store.types import utcnow


@dataclass(frozen=True)
class AuditRecord:
    """One change attempt, as the API saw it."""

    method: str
    """HTTP method."""
    path: str
    """Path as called."""
    route: str | None
    """Route template (`/api/admin/users/{user_id}`), None when no route matched."""
    status_code: int
    """The answer's status."""
    client_address: str | None = None
    """The caller's address."""
    user_id: int | None = None
    """Who: the user (or the API key's owner)."""
    user_email: str | None = None
    """Who: their email at that moment."""
    api_key_id: int | None = None
    """The API key used, if any."""
    user_agent: str | None = None
    """The caller's User-Agent."""
    detail: str | None = None
    """A note from the route (e.g. the email a failed sign-in tried)."""
    at: datetime = field(default_factory=utcnow)
    """When."""

    @property
    def action(self) -> str:
        """`METHOD template`, what the audit log is filtered on."""
        return f"{self.method} {self.route or self.path}"


def record_audit(store: MetadataStore, record: AuditRecord) -> None:
    """Append `record` to the audit log (its own transaction)."""
    with store.session() as session:
        session.add(
            AuditEntry(
                at=record.at,
                user_id=record.user_id,
                user_email=record.user_email,
                api_key_id=record.api_key_id,
                action=record.action[:300],
                method=record.method[:10],
                path=record.path[:2000],
                status_code=record.status_code,
                client_address=(record.client_address or None) and record.client_address[:64],
                user_agent=(record.user_agent or None) and record.user_agent[:300],
                detail=record.detail,
            )
        )


def list_audit(
    session: Session,
    *,
    skip: int = 0,
    limit: int = 50,
    user_id: int | None = None,
    email: str | None = None,
    action: str | None = None,
) -> tuple[Sequence[AuditEntry], int]:
    """Audit entries, newest first, and how many match: filtered by user id, by part of
    the email, by part of the action (`POST /api/admin/users`, `deactivate`)."""
    query = select(AuditEntry)
    if user_id is not None:
        query = query.where(AuditEntry.user_id == user_id)
    if email:
        query = query.where(AuditEntry.user_email.contains(email.lower(), autoescape=True))
    if action:
        query = query.where(AuditEntry.action.contains(action, autoescape=True))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).offset(skip).limit(limit)
    ).all()
    return rows, total
