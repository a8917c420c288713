"""API keys: made for a user, shown once, stored as a SHA-256 hash, revocable, may expire."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from headwater.auth.errors import AuthInputError, InvalidCredentialsError, RecordNotFoundError
from headwater.auth.sessions import TOUCH_INTERVAL
from headwater.auth.tokens import hash_token, looks_like_api_key, new_api_key
from headwater.store.models import ApiKey, User
from headwater.store.types import utcnow

MAX_KEY_DAYS = 3650
"""Longest lifetime a key may be given (ten years); without one it never expires."""


def create_api_key(
    session: Session, user: User, name: str, expires_in_days: int | None = None
) -> tuple[ApiKey, str]:
    """A new key of `user` called `name`, and the key itself (shown this once only)."""
    name = name.strip()
    if not name:
        raise AuthInputError("give the key a name, e.g. 'nightly export'", "invalid_name")
    if expires_in_days is not None and not 1 <= expires_in_days <= MAX_KEY_DAYS:
        raise AuthInputError(
            f"expires_in_days must be between 1 and {MAX_KEY_DAYS} (or left out for a key "
            "that does not expire)",
            "invalid_expiry",
        )
    made = new_api_key()
    now = utcnow()
    key = ApiKey(
        user_id=user.id,
        name=name[:100],
        prefix=made.prefix,
        key_hash=made.key_hash,
        created_at=now,
        expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    session.add(key)
    session.flush()
    return key, made.key


def list_api_keys(session: Session, user_id: int) -> Sequence[ApiKey]:
    """`user_id`'s keys that are not revoked (expired ones too, so they can be cleaned up),
    newest first."""
    return session.scalars(
        select(ApiKey)
        .where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
        .order_by(ApiKey.created_at.desc(), ApiKey.id.desc())
    ).all()


def revoke_api_key(session: Session, user_id: int, key_id: int) -> None:
    """Revoke `user_id`'s key `key_id` (404 for another user's key or a revoked one)."""
    key = session.get(ApiKey, key_id)
    if key is None or key.user_id != user_id or key.revoked_at is not None:
        raise RecordNotFoundError("API key", key_id)
    key.revoked_at = utcnow()


def api_key_for(session: Session, key: str) -> ApiKey:
    """The live key `key` is, else InvalidCredentialsError saying why (unknown, revoked,
    expired, owner deactivated); notes when it was last used, at most once a minute."""
    if not looks_like_api_key(key):
        raise InvalidCredentialsError(
            "this is not a Headwater API key (they start with hw_); create one with "
            "POST /api/auth/api-keys",
            "invalid_api_key",
        )
    row = session.scalar(
        select(ApiKey).options(joinedload(ApiKey.user)).where(ApiKey.key_hash == hash_token(key))
    )
    now = utcnow()
    if row is None:
        raise InvalidCredentialsError(
            "unknown API key: check that it was copied whole, or create a new one",
            "invalid_api_key",
        )
    if row.revoked_at is not None:
        raise InvalidCredentialsError(
            f"the API key '{row.name}' ({row.prefix}...) was revoked; create a new one",
            "api_key_revoked",
        )
    if row.expires_at is not None and row.expires_at <= now:
        raise InvalidCredentialsError(
            f"the API key '{row.name}' ({row.prefix}...) expired on "
            f"{row.expires_at:%Y-%m-%d %H:%M} UTC; create a new one",
            "api_key_expired",
        )
    if not row.user.is_active:
        raise InvalidCredentialsError(
            f"the owner of the API key '{row.name}' ({row.prefix}...) is deactivated; "
            "an admin can reactivate the account",
            "account_disabled",
        )
    if row.last_used_at is None or now - row.last_used_at >= TOUCH_INTERVAL:
        row.last_used_at = now
    return row
