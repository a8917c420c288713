"""Login sessions: the `hw_session` cookie's token, stored hashed, with an expiry."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session, joinedload

from headwater.auth.errors import RecordNotFoundError
from headwater.auth.tokens import hash_token, new_token
from headwater.config.models import AuthConfig
from headwater.store.models import LoginChallenge, LoginSession, User
from headwater.store.types import utcnow

TOUCH_INTERVAL = timedelta(minutes=1)
"""`last_seen_at` / `last_used_at` are written at most this often, not on every request."""


def create_session(
    session: Session,
    user: User,
    config: AuthConfig,
    client_address: str | None = None,
    user_agent: str | None = None,
) -> tuple[LoginSession, str]:
    """A new login session for `user`, and its token (for the cookie; shown once)."""
    token = new_token()
    now = utcnow()
    login = LoginSession(
        user_id=user.id,
        token_hash=hash_token(token),
        created_at=now,
        expires_at=now + timedelta(hours=config.session_hours),
        last_seen_at=now,
        client_address=client_address[:64] if client_address else None,
        user_agent=user_agent[:300] if user_agent else None,
    )
    session.add(login)
    user.last_login_at = now
    session.flush()
    return login, token


def session_for_token(session: Session, token: str) -> LoginSession | None:
    """The live session `token` opens (not expired, not revoked, its user active), else
    None; notes when it was last seen."""
    now = utcnow()
    login = session.scalar(
        select(LoginSession)
        .options(joinedload(LoginSession.user))
        .where(LoginSession.token_hash == hash_token(token))
    )
    if login is None or login.revoked_at is not None or login.expires_at <= now:
        return None
    if not login.user.is_active:
        return None
    if login.last_seen_at is None or now - login.last_seen_at >= TOUCH_INTERVAL:
        login.last_seen_at = now
    return login


def list_sessions(session: Session, user_id: int) -> Sequence[LoginSession]:
    """`user_id`'s live sessions, newest first."""
    return session.scalars(
        select(LoginSession)
        .where(
            LoginSession.user_id == user_id,
            LoginSession.revoked_at.is_(None),
            LoginSession.expires_at > utcnow(),
        )
        .order_by(LoginSession.created_at.desc(), LoginSession.id.desc())
    ).all()


def revoke_session(session: Session, user_id: int, session_id: int) -> None:
    """Sign out `user_id`'s session `session_id` (404 for another user's or a dead one)."""
    login = session.get(LoginSession, session_id)
    if (
        login is None
        or login.user_id != user_id
        or login.revoked_at is not None
        or login.expires_at <= utcnow()
    ):
        raise RecordNotFoundError("session", session_id)
    login.revoked_at = utcnow()


def revoke_user_sessions(
    session: Session, user_id: int, except_session_id: int | None = None
) -> int:
    """Sign out every live session of `user_id` (but `except_session_id`); how many."""
    now = utcnow()
    query = update(LoginSession).where(
        LoginSession.user_id == user_id,
        LoginSession.revoked_at.is_(None),
        LoginSession.expires_at > now,
    )
    if except_session_id is not None:
        query = query.where(LoginSession.id != except_session_id)
    result = session.execute(query.values(revoked_at=now))
    return int(getattr(result, "rowcount", 0) or 0)


def purge_expired(session: Session, keep: timedelta = timedelta(days=30)) -> int:
    """Delete sessions and sign-in challenges that ended more than `keep` ago (for the
    housekeeping job); how many rows went."""
    cutoff = utcnow() - keep
    sessions = session.execute(
        delete(LoginSession).where(
            or_(LoginSession.expires_at < cutoff, LoginSession.revoked_at < cutoff)
        )
    )
    challenges = session.execute(delete(LoginChallenge).where(LoginChallenge.expires_at < cutoff))
    return int(getattr(sessions, "rowcount", 0) or 0) + int(getattr(challenges, "rowcount", 0) or 0)
