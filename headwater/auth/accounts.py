"""Accounts: email rules, first-admin setup, choosing and changing one's password."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from headwater.auth.errors import (
    AuthConflictError,
    AuthInputError,
    InvalidCredentialsError,
    RecordNotFoundError,
)
from headwater.auth.passwords import hash_password, verify_password
from headwater.auth.roles import ROLE_PERMISSIONS
from headwater.auth.sessions import revoke_user_sessions
from headwater.auth.tokens import hash_token
from headwater.store.models import Invitation, SetupRecord, User
from headwater.store.types import utcnow

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_EMAIL_LENGTH = 254
"""Longest email accepted (RFC 5321)."""


def normalize_email(email: str) -> str:
    """`email` trimmed and lower-cased; refused when it does not look like an address."""
    cleaned = email.strip().lower()
    if len(cleaned) > MAX_EMAIL_LENGTH or not _EMAIL.match(cleaned):
        raise AuthInputError(
            f"'{email[:100]}' is not an email address (expected name@example.com)",
            "invalid_email",
        )
    return cleaned


def check_role(role: str) -> str:
    """`role` when it is a known one, else an error listing them."""
    if role not in ROLE_PERMISSIONS:
        raise AuthInputError(
            f"unknown role '{role}': use one of {', '.join(ROLE_PERMISSIONS)}", "invalid_role"
        )
    return role


def get_user(session: Session, user_id: int) -> User:
    """The user with `user_id`, or RecordNotFoundError."""
    user = session.get(User, user_id)
    if user is None:
        raise RecordNotFoundError("user", user_id)
    return user


def find_user_by_email(session: Session, email: str) -> User | None:
    """The user with `email` (any case), if any."""
    return session.scalar(select(User).where(User.email == email.strip().lower()))


def setup_needed(session: Session) -> bool:
    """Whether no user exists yet, so the first admin may be created."""
    return session.scalar(select(User.id).limit(1)) is None


def create_first_admin(
    session: Session, email: str, password: str, display_name: str | None = None
) -> User:
    """Create the first admin; refused once any user exists."""
    done = AuthConflictError(
        "setup is already done: sign in with POST /api/auth/login, or ask an admin "
        "for an invitation",
        "setup_done",
    )
    if not setup_needed(session):
        raise done
    user = User(
        email=normalize_email(email),
        display_name=display_name,
        role="admin",
        password_hash=hash_password(password),
    )
    session.add(user)
    try:
        session.flush()
        # The fixed key turns a second, simultaneous setup into a unique-key error.
        session.add(SetupRecord(id=1, admin_user_id=user.id))
        session.flush()
    except IntegrityError:
        session.rollback()
        raise done from None
    return user


def change_password(
    session: Session,
    user: User,
    current_password: str,
    new_password: str,
    keep_session_id: int | None = None,
) -> int:
    """Change `user`'s password after checking the current one, and sign out their other
    sessions (a thief's among them); returns how many were signed out."""
    if not verify_password(user.password_hash, current_password):
        raise InvalidCredentialsError(
            "the current password is wrong; type it again (forgotten it? ask an admin)",
            "wrong_password",
        )
    if new_password == current_password:
        raise AuthInputError(
            "the new password is the same as the current one; choose another", "weak_password"
        )
    user.password_hash = hash_password(new_password)
    return revoke_user_sessions(session, user.id, except_session_id=keep_session_id)


def accept_invite(session: Session, token: str, password: str) -> User:
    """Set the password of the invited user whose invitation `token` is, activating the
    account; the token works once, until it expires."""
    invitation = session.scalar(
        select(Invitation).where(Invitation.token_hash == hash_token(token.strip()))
    )
    now = utcnow()
    if invitation is None or invitation.accepted_at is not None:
        raise InvalidCredentialsError(
            "this invitation token is unknown or was already used; ask an admin for a new "
            "invitation",
            "invite_invalid",
        )
    if invitation.expires_at <= now:
        raise InvalidCredentialsError(
            f"this invitation expired on {invitation.expires_at:%Y-%m-%d %H:%M} UTC; ask an "
            "admin for a new one",
            "invite_expired",
        )
    user = get_user(session, invitation.user_id)
    if not user.is_active:
        raise InvalidCredentialsError(
            "this account was deactivated after the invitation was sent; ask an admin",
            "account_disabled",
        )
    user.password_hash = hash_password(password)
    invitation.accepted_at = now
    # Any other invitation for this user is void now that they have a password.
    for other in user.invitations:
        if other.accepted_at is None:
            other.accepted_at = now
    return user
