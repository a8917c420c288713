"""Signing in: password with lockout, then (with 2FA on) a code against a pending token."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from headwater.auth.accounts import find_user_by_email
from headwater.auth.errors import (
    AccountDisabledError,
    AccountLockedError,
    InvalidCredentialsError,
)
from headwater.auth.passwords import hash_password, needs_rehash, verify_password
from headwater.auth.sessions import create_session
from headwater.auth.tokens import hash_token, new_token
from headwater.auth.two_factor import check_second_factor
from headwater.config.models import AuthConfig
from headwater.store.models import LoginChallenge, LoginSession, User
from headwater.store.types import utcnow

CHALLENGE_LIFETIME = timedelta(minutes=5)
"""How long a `pending_token` waits for its code."""
CHALLENGE_MAX_ATTEMPTS = 5
"""Wrong codes a `pending_token` survives."""

_WRONG_PASSWORD = "wrong email or password"


@dataclass(frozen=True)
class LoginResult:
    """A sign-in step's outcome: a session (and its token), or a pending second step."""

    user: User
    """Who signed in."""
    session: LoginSession | None = None
    """The new session, when signed in."""
    session_token: str | None = None
    """The session's token (the cookie), when signed in."""
    pending_token: str | None = None
    """When 2FA is on: send it with a code to finish signing in."""


@dataclass(frozen=True)
class ClientInfo:
    """Where a sign-in comes from, kept with the session."""

    address: str | None = None
    """The client's address."""
    user_agent: str | None = None
    """Its User-Agent."""


def _check_not_locked(user: User, now: datetime) -> None:
    if user.locked_until is not None and user.locked_until > now:
        raise AccountLockedError(user.locked_until)


def _record_failure(session: Session, user: User, config: AuthConfig, now: datetime) -> None:
    """Count a failed attempt and lock the account at the limit. Committed at once: the
    refusal that follows rolls the request's transaction back, and the count must stay."""
    user.failed_logins += 1
    locked = user.failed_logins >= config.max_failed_logins
    if locked:
        user.locked_until = now + timedelta(minutes=config.lockout_minutes)
        user.failed_logins = 0
    session.commit()
    if locked and user.locked_until is not None:
        raise AccountLockedError(user.locked_until)


def login(
    session: Session,
    email: str,
    password: str,
    config: AuthConfig,
    client: ClientInfo | None = None,
) -> LoginResult:
    """Check `email` and `password`: a new session, or with 2FA on a pending token.

    A locked account is refused whatever the password, so guessing goes nowhere; the
    attempt that reaches `max_failed_logins` locks it for `lockout_minutes`."""
    now = utcnow()
    user = find_user_by_email(session, email)
    if user is not None:
        _check_not_locked(user, now)
    # Checked even for an unknown email, so the answer takes as long as for a known one.
    password_ok = verify_password(user.password_hash if user else None, password)
    if user is None or not password_ok:
        if user is not None and user.password_hash is not None:
            _record_failure(session, user, config, now)
        raise InvalidCredentialsError(_WRONG_PASSWORD, "invalid_credentials")
    assert user.password_hash is not None  # verify_password is False without one
    if not user.is_active:
        raise AccountDisabledError(
            "this account is deactivated; ask an admin to reactivate it", "account_disabled"
        )
    user.failed_logins = 0
    user.locked_until = None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    if user.totp_enabled:
        token = new_token()
        session.add(
            LoginChallenge(
                user_id=user.id,
                token_hash=hash_token(token),
                created_at=now,
                expires_at=now + CHALLENGE_LIFETIME,
            )
        )
        return LoginResult(user=user, pending_token=token)
    return _signed_in(session, user, config, client)


def _signed_in(
    session: Session, user: User, config: AuthConfig, client: ClientInfo | None
) -> LoginResult:
    client = client or ClientInfo()
    login_session, token = create_session(session, user, config, client.address, client.user_agent)
    return LoginResult(user=user, session=login_session, session_token=token)


def verify_second_factor(
    session: Session,
    pending_token: str,
    code: str,
    config: AuthConfig,
    client: ClientInfo | None = None,
) -> LoginResult:
    """Finish a 2FA sign-in: the pending token from `login` plus a TOTP or recovery code.

    Wrong codes count as failed sign-ins (lockout) and void the token after a few."""
    now = utcnow()
    invalid = InvalidCredentialsError(
        "the sign-in token is unknown, used or expired (it lasts "
        f"{int(CHALLENGE_LIFETIME.total_seconds() // 60)} minutes): sign in again with "
        "POST /api/auth/login",
        "pending_token_invalid",
    )
    challenge = session.scalar(
        select(LoginChallenge).where(LoginChallenge.token_hash == hash_token(pending_token))
    )
    if (
        challenge is None
        or challenge.used_at is not None
        or challenge.expires_at <= now
        or challenge.attempts >= CHALLENGE_MAX_ATTEMPTS
    ):
        raise invalid
    user = session.get(User, challenge.user_id)
    if user is None or not user.totp_enabled:
        raise invalid
    _check_not_locked(user, now)
    if not user.is_active:
        raise AccountDisabledError(
            "this account is deactivated; ask an admin to reactivate it", "account_disabled"
        )
    if not check_second_factor(session, user, code):
        challenge.attempts += 1
        _record_failure(session, user, config, now)
        raise InvalidCredentialsError(
            "the code is wrong or was already used: type the code your authenticator app "
            "shows now (each code works once), or an unused recovery code",
            "invalid_code",
        )
    claimed = session.execute(
        update(LoginChallenge)
        .where(LoginChallenge.id == challenge.id, LoginChallenge.used_at.is_(None))
        .values(used_at=now)
    )
    if int(cast(CursorResult[Any], claimed).rowcount or 0) != 1:
        raise invalid
    user.failed_logins = 0
    return _signed_in(session, user, config, client)
