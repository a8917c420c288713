"""The auth services on a real metadata DB: what only shows below HTTP (failures that stay
counted when the request fails, codes claimed once by racing requests, admins who count)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import select

from headwater.auth import accounts, two_factor, users
from headwater.auth.errors import (
    AccountLockedError,
    AuthConflictError,
    InvalidCredentialsError,
)
from headwater.auth.login import login
from headwater.auth.principals import principal_from_session_token
from headwater.auth.sessions import purge_expired
from headwater.config.models import AuthConfig
from headwater.store import LoginSession, MetadataStore, User, utcnow
from tests.conftest import MakeProject

PASSWORD = "a-long-enough-password"


@pytest.fixture
def store(make_project: MakeProject) -> Iterator[MetadataStore]:
    """A metadata DB with the first admin (admin@example.com) in a throwaway project."""
    opened = MetadataStore.open(make_project("project:\n  name: services\n"))
    with opened.session() as db:
        accounts.create_first_admin(db, "admin@example.com", PASSWORD)
    yield opened
    opened.close()


def test_failed_logins_stay_counted_although_the_request_fails(store: MetadataStore) -> None:
    config = AuthConfig(max_failed_logins=3, lockout_minutes=1)
    for _ in range(2):
        with pytest.raises(InvalidCredentialsError), store.session() as db:
            login(db, "admin@example.com", "wrong-password-xx", config)
    with store.session() as db:
        user = accounts.find_user_by_email(db, "admin@example.com")
        assert user is not None and user.failed_logins == 2
    with pytest.raises(AccountLockedError), store.session() as db:
        login(db, "admin@example.com", "wrong-password-xx", config)
    with pytest.raises(AccountLockedError), store.session() as db:
        login(db, "admin@example.com", PASSWORD, config)


def test_session_token_gives_principal_with_2fa_requirement(store: MetadataStore) -> None:
    with store.session() as db:
        token = login(db, "admin@example.com", PASSWORD, AuthConfig()).session_token
    assert token is not None
    with store.session() as db:
        relaxed = principal_from_session_token(db, token, AuthConfig())
        strict = principal_from_session_token(db, token, AuthConfig(require_2fa=True))
        assert relaxed is not None and not relaxed.needs_2fa_setup
        assert strict is not None and strict.needs_2fa_setup and strict.role == "admin"
        assert principal_from_session_token(db, token + "x", AuthConfig()) is None


def test_a_code_is_claimed_by_one_of_two_racing_requests(store: MetadataStore) -> None:
    with store.session() as db:
        user = db.get(User, 1)
        assert user is not None
        made = two_factor.begin_setup(db, user, PASSWORD)
        # The previous step's code, so that the current one is still unused.
        two_factor.confirm_setup(db, user, pyotp.TOTP(made.secret).at(time.time() - 30))
    code = pyotp.TOTP(made.secret).now()
    # Both requests read the user before either writes: only the conditional UPDATE stops
    # the second one.
    with store.session() as first, store.session() as second:
        one = first.get(User, 1)
        two = second.get(User, 1)
        assert one is not None and two is not None
        assert two_factor.check_second_factor(first, one, code)
        first.commit()
        assert not two_factor.check_second_factor(second, two, code)
    # A recovery code works once. (Here the second lookup already sees the first commit;
    # it does not reach the guarded UPDATE the way the TOTP case above does.)
    recovery = made.recovery_codes[0]
    with store.session() as first, store.session() as second:
        one = first.get(User, 1)
        two = second.get(User, 1)
        assert one is not None and two is not None
        assert two_factor.check_second_factor(first, one, recovery)
        first.commit()
        assert not two_factor.check_second_factor(second, two, recovery)


def test_only_admins_who_can_act_count_as_the_last_admin(store: MetadataStore) -> None:
    config = AuthConfig()
    with store.session() as db:
        invited = users.invite_user(db, "later@example.com", "admin", config)
        other = users.invite_user(db, "off@example.com", "admin", config)
        accounts.accept_invite(db, other.token, PASSWORD)
        users.deactivate_user(db, other.user.id)
    with pytest.raises(AuthConflictError, match="last active admin"), store.session() as db:
        users.change_role(db, 1, "viewer")
    with store.session() as db:
        accounts.accept_invite(db, invited.token, PASSWORD)
    with store.session() as db:
        assert users.change_role(db, 1, "viewer").role == "viewer"


def test_unknown_email_takes_as_long_as_a_wrong_password(store: MetadataStore) -> None:
    def timed(email: str) -> float:
        started = time.perf_counter()
        with pytest.raises(InvalidCredentialsError), store.session() as db:
            login(db, email, "wrong-password-xx", AuthConfig())
        return time.perf_counter() - started

    known = timed("admin@example.com")
    unknown = timed("nobody@example.com")
    # Both hash once (argon2, tenths of a second); a skipped hash would be 100 times faster.
    assert unknown > known / 3


def test_purge_expired_deletes_old_sessions_only(store: MetadataStore) -> None:
    with store.session() as db:
        old = login(db, "admin@example.com", PASSWORD, AuthConfig()).session
        fresh = login(db, "admin@example.com", PASSWORD, AuthConfig()).session
        assert old is not None and fresh is not None
        old.expires_at = utcnow() - timedelta(days=31)
    with store.session() as db:
        assert purge_expired(db) == 1
    with store.session() as db:
        assert [s.id for s in db.scalars(select(LoginSession))] == [fresh.id]
