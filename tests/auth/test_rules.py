"""The auth rules without HTTP: passwords, tokens, TOTP codes and recovery codes."""

from __future__ import annotations

import re
import time

import pyotp
import pytest

from headwater.auth.errors import AuthInputError
from headwater.auth.passwords import hash_password, needs_rehash, verify_password
from headwater.auth.tokens import hash_token, looks_like_api_key, new_api_key, new_token
from headwater.auth.totp import (
    hash_recovery_code,
    matching_step,
    new_recovery_codes,
    new_secret,
    provisioning_uri,
)


def test_passwords_are_salted_argon2_and_checked() -> None:
    first = hash_password("correct horse battery")
    second = hash_password("correct horse battery")
    assert first.startswith("$argon2id$") and first != second
    assert verify_password(first, "correct horse battery")
    assert not verify_password(first, "correct horse battery!")
    assert not verify_password(None, "correct horse battery")
    assert not verify_password("not a hash", "correct horse battery")
    assert not needs_rehash(first)


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("eleven char", "too short (11 characters): use at least 12"),
        (" " * 12, "only spaces"),
        ("x" * 1025, "too long"),
    ],
)
def test_password_rules_say_what_is_needed(password: str, message: str) -> None:
    with pytest.raises(AuthInputError, match=re.escape(message)) as caught:
        hash_password(password)
    assert caught.value.code == "weak_password"


def test_tokens_and_api_keys() -> None:
    assert len({new_token() for _ in range(50)}) == 50
    assert hash_token("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    made = new_api_key()
    assert made.key.startswith("hw_") and len(made.key) == 3 + 43
    assert made.prefix == made.key[:10]
    assert made.key_hash == hash_token(made.key)
    assert looks_like_api_key(made.key)
    assert not looks_like_api_key("hw_short") and not looks_like_api_key("ghp_" + "x" * 40)


def test_totp_window_and_replay() -> None:
    secret = new_secret()
    totp = pyotp.TOTP(secret)
    now = time.time()
    step = totp.timecode(now)
    assert matching_step(secret, totp.at(now), None) == step
    assert matching_step(secret, totp.at(now - 30), None) == step - 1  # one step of drift
    assert matching_step(secret, totp.at(now + 30), None) == step + 1
    assert matching_step(secret, totp.at(now - 90), None) is None  # too old
    assert matching_step(secret, totp.at(now), step) is None  # already used
    assert matching_step(secret, totp.at(now + 30), step) == step + 1
    assert matching_step(secret, "12345", None) is None
    assert matching_step(secret, "abcdef", None) is None
    assert "issuer=Headwater" in provisioning_uri(secret, "a@example.com")


def test_recovery_codes() -> None:
    codes = new_recovery_codes()
    assert len(codes) == len(set(codes)) == 8
    assert all(len(code) == 11 and code[5] == "-" for code in codes)
    assert hash_recovery_code(codes[0]) == hash_recovery_code(codes[0].replace("-", "").upper())
    assert hash_recovery_code(codes[0]) != hash_recovery_code(codes[1])
