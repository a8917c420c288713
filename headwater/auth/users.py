"""Managing users (admins): invitations, roles, deactivation, lockouts, deletion.

There is always at least one active admin: the last one cannot be demoted, deactivated
or deleted, or nobody could manage users any more."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from headwater.auth.accounts import check_role, find_user_by_email, get_user, normalize_email
from headwater.auth.errors import AuthConflictError
from headwater.auth.sessions import revoke_user_sessions
from headwater.auth.tokens import hash_token, new_token
from headwater.config.models import AuthConfig
from headwater.store.models import Invitation, User
from headwater.store.types import utcnow


def list_users(session: Session, skip: int = 0, limit: int = 50) -> tuple[Sequence[User], int]:
    """Users ordered by id, and how many there are."""
    total = session.scalar(select(func.count()).select_from(User)) or 0
    rows = session.scalars(select(User).order_by(User.id).offset(skip).limit(limit)).all()
    return rows, total


@dataclass(frozen=True)
class NewInvitation:
    """An invitation just made: hand `token` to the user (it is stored only hashed)."""

    user: User
    """The invited user."""
    token: str
    """For `accept-invite`; works once."""
    expires_at: datetime
    """When it lapses."""


def _new_invitation(
    session: Session, user: User, invited_by: int | None, config: AuthConfig
) -> NewInvitation:
    token = new_token()
    now = utcnow()
    expires_at = now + timedelta(days=config.invite_days)
    session.add(
        Invitation(
            user_id=user.id,
            token_hash=hash_token(token),
            created_by_id=invited_by,
            created_at=now,
            expires_at=expires_at,
        )
    )
    return NewInvitation(user, token, expires_at)


def invite_user(
    session: Session,
    email: str,
    role: str,
    config: AuthConfig,
    display_name: str | None = None,
    invited_by: int | None = None,
) -> NewInvitation:
    """A new user with `role` who chooses a password with the returned invitation token
    (valid `auth.invite_days`)."""
    email = normalize_email(email)
    check_role(role)
    taken = AuthConflictError(f"a user with the email {email} already exists", "email_taken")
    if find_user_by_email(session, email) is not None:
        raise taken
    user = User(email=email, role=role, display_name=display_name)
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise taken from None
    return _new_invitation(session, user, invited_by, config)


def reinvite_user(
    session: Session, user_id: int, config: AuthConfig, invited_by: int | None = None
) -> NewInvitation:
    """A fresh invitation token for a user who has not accepted theirs yet."""
    user = get_user(session, user_id)
    if not user.invited:
        raise AuthConflictError(
            f"{user.email} already chose a password; there is nothing to invite to",
            "already_accepted",
        )
    return _new_invitation(session, user, invited_by, config)


def _is_effective_admin(user: User) -> bool:
    """An admin who can act: active and past the invitation."""
    return user.role == "admin" and user.is_active and not user.invited


def _protect_last_admin(session: Session, user: User, change: str) -> None:
    """Refuse `change` when `user` is the last admin able to manage users.

    The admins' rows are locked (on PostgreSQL) so two admins demoting each other at the
    same moment cannot both succeed."""
    if not _is_effective_admin(user):
        return
    admins = session.scalars(
        select(User.id)
        .where(User.role == "admin", User.is_active.is_(True), User.password_hash.is_not(None))
        .with_for_update()
    ).all()
    if len(admins) <= 1:
        raise AuthConflictError(
            f"cannot {change} {user.email}: they are the last active admin; make another "
            "user admin first",
            "last_admin",
        )


def change_role(session: Session, user_id: int, role: str) -> User:
    """Give `user_id` the role `role`."""
    check_role(role)
    user = get_user(session, user_id)
    if role != "admin":
        _protect_last_admin(session, user, f"make {role} out of")
    user.role = role
    return user


def deactivate_user(session: Session, user_id: int) -> User:
    """Stop `user_id` from signing in or using their keys; their sessions end."""
    user = get_user(session, user_id)
    _protect_last_admin(session, user, "deactivate")
    user.is_active = False
    revoke_user_sessions(session, user.id)
    return user


def reactivate_user(session: Session, user_id: int) -> User:
    """Let a deactivated user sign in again (their API keys work again too)."""
    user = get_user(session, user_id)
    user.is_active = True
    return user


def unlock_user(session: Session, user_id: int) -> User:
    """Lift a lockout after failed sign-ins."""
    user = get_user(session, user_id)
    user.locked_until = None
    user.failed_logins = 0
    return user


def revoke_sessions(session: Session, user_id: int) -> int:
    """Sign `user_id` out everywhere (their API keys keep working); how many sessions."""
    get_user(session, user_id)
    return revoke_user_sessions(session, user_id)


def delete_user(session: Session, user_id: int) -> None:
    """Delete `user_id` with their sessions, keys and 2FA (the audit log keeps their email)."""
    user = get_user(session, user_id)
    _protect_last_admin(session, user, "delete")
    session.delete(user)
    session.flush()
