"""Random tokens and their SHA-256 hashes: session tokens, invitation and 2FA tokens, API keys.

Tokens carry 256 random bits, so a plain SHA-256 is enough to store them: unlike
passwords they cannot be guessed, and a fast hash lets every request look one up."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

API_KEY_PREFIX = "hw_"
"""Every API key starts with this (and secret scanners can look for it)."""
API_KEY_SHOWN_CHARS = 10
"""Characters of a key kept in clear (`prefix`) so lists can tell keys apart."""


def new_token() -> str:
    """A random URL-safe token (256 bits)."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """SHA-256 hex of `token`, what the DB stores."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class NewApiKey:
    """A freshly made API key: `key` is shown once, the rest is stored."""

    key: str
    """The key itself (`hw_...`)."""
    prefix: str
    """Its first characters, kept in clear."""
    key_hash: str
    """SHA-256 hex of the key."""


def new_api_key() -> NewApiKey:
    """A new API key: `hw_` + 256 random bits."""
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    return NewApiKey(key=key, prefix=key[:API_KEY_SHOWN_CHARS], key_hash=hash_token(key))


def looks_like_api_key(value: str) -> bool:
    """Whether `value` has the shape of a Headwater API key."""
    return value.startswith(API_KEY_PREFIX) and len(value) > len(API_KEY_PREFIX) + 20
