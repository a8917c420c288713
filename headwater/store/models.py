"""The metadata DB's tables: users and everything that authenticates them, and the audit log.

Secrets (passwords, session tokens, API keys, invitation and 2FA tokens, recovery codes)
are never stored as such: passwords as argon2 hashes, random tokens as SHA-256 hex.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from headwater.store.types import UTCDateTime, utcnow


class Base(DeclarativeBase):
    """Every table of the metadata DB."""

    type_annotation_map = {datetime: UTCDateTime()}  # noqa: RUF012 (SQLAlchemy reads it as is)


class User(Base):
    """A person who signs in; API keys act on their behalf with their role."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    """Lower-cased, unique."""
    display_name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    """viewer, editor or admin (headwater.auth.roles)."""
    password_hash: Mapped[str | None] = mapped_column(String(255))
    """argon2; None until an invited user accepts the invitation."""
    is_active: Mapped[bool] = mapped_column(default=True)
    """False once an admin deactivates the account."""
    failed_logins: Mapped[int] = mapped_column(default=0)
    """Consecutive failed sign-ins since the last success or lockout."""
    locked_until: Mapped[datetime | None]
    """Sign-in refused until then (too many failures)."""
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    """Base32 TOTP secret once 2FA is on."""
    totp_pending_secret: Mapped[str | None] = mapped_column(String(64))
    """Secret from 2FA setup, waiting for a first valid code (verify-setup)."""
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    """Time step of the last accepted TOTP code: it and older ones are refused (replay)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]

    sessions: Mapped[list[LoginSession]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )
    api_keys: Mapped[list[ApiKey]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )
    recovery_codes: Mapped[list[RecoveryCode]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True
    )
    challenges: Mapped[list[LoginChallenge]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True
    )
    invitations: Mapped[list[Invitation]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, foreign_keys="Invitation.user_id"
    )

    @property
    def totp_enabled(self) -> bool:
        """Whether sign-in asks for a second factor."""
        return self.totp_secret is not None

    @property
    def invited(self) -> bool:
        """Invited but has not chosen a password yet."""
        return self.password_hash is None


class SetupRecord(Base):
    """One row once the first admin exists; its fixed key makes a second setup fail even
    when two run at the same moment."""

    __tablename__ = "setup"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    admin_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    completed_at: Mapped[datetime] = mapped_column(default=utcnow)


class LoginSession(Base):
    """A signed-in browser: the `hw_session` cookie holds the token, this row its hash."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    last_seen_at: Mapped[datetime | None]
    """Updated at most once a minute."""
    revoked_at: Mapped[datetime | None]
    client_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))

    user: Mapped[User] = relationship(back_populates="sessions")


class ApiKey(Base):
    """A key for scripts (`Authorization: Bearer hw_...`), acting with its owner's role."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    """The key's first characters, shown in lists so users can tell keys apart."""
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    """Updated at most once a minute."""
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(back_populates="api_keys")


class RecoveryCode(Base):
    """A single-use 2FA recovery code (hashed)."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None]


class LoginChallenge(Base):
    """The pending second step of a sign-in with 2FA (`pending_token`, hashed)."""

    __tablename__ = "login_challenges"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    """Wrong codes sent with this token; past a few the token is void."""
    used_at: Mapped[datetime | None]


class Invitation(Base):
    """An invitation to choose a password (`invite_token`, hashed)."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]


class AuditEntry(Base):
    """One change attempted through the API: who, what, when and from where.

    Who is copied (id and email), not referenced, so the record outlives the user."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_user_at", "user_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    user_id: Mapped[int | None]
    user_email: Mapped[str | None] = mapped_column(String(254))
    api_key_id: Mapped[int | None]
    action: Mapped[str] = mapped_column(String(300), index=True)
    """`METHOD /route/{template}`, e.g. `POST /api/admin/users/{user_id}/deactivate`."""
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(2000))
    """The path as called (with the ids)."""
    status_code: Mapped[int]
    client_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    detail: Mapped[str | None] = mapped_column(Text)
    """What the route noted, e.g. the email a failed sign-in tried."""
