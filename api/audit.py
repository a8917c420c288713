"""The audit log: every change attempted through the API (who, what, when, from where).

`AuditMiddleware` is plain ASGI rather than Starlette's BaseHTTPMiddleware, which would
buffer streamed answers (exports, server-sent events)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio
from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import ApiError
from headwater.auth.errors import AuthError
from headwater.auth.roles import Principal
from headwater.store import AuditRecord, MetadataStore, record_audit

logger = logging.getLogger("headwater.api.audit")

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
"""Methods that change nothing and so are not audited."""
_SUBJECT = "audit_subject"
_DETAIL = "audit_detail"


def note_subject(request: Request, email: str | None, user_id: int | None = None) -> None:
    """Name who a request is about when no one is signed in yet (sign-in, setup, invite):
    the audit log records it as the actor."""
    setattr(request.state, _SUBJECT, (user_id, email))


def note_detail(request: Request, detail: str) -> None:
    """Add a note to the request's audit entry."""
    setattr(request.state, _DETAIL, detail)


@contextmanager
def noting_refusal(request: Request) -> Iterator[None]:
    """Note the code of an API error leaving the block (`account_locked`, `invalid_code`)
    in the request's audit entry."""
    try:
        yield
    except (ApiError, AuthError) as exc:
        note_detail(request, exc.code)
        raise


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            text: str = value.decode("latin-1")
            return text
    return None


def _record_for(scope: Scope, state: dict[str, Any], status: int) -> AuditRecord:
    principal = state.get("principal")
    user_id: int | None = None
    email: str | None = None
    api_key_id: int | None = None
    if isinstance(principal, Principal):
        user_id, email, api_key_id = principal.user_id, principal.email, principal.api_key_id
    elif state.get(_SUBJECT):
        user_id, email = state[_SUBJECT]
    route = scope.get("route")
    client = scope.get("client")
    return AuditRecord(
        method=scope["method"],
        path=scope.get("path", ""),
        route=getattr(route, "path", None),
        status_code=status,
        client_address=client[0] if client else None,
        user_id=user_id,
        user_email=email,
        api_key_id=api_key_id,
        user_agent=_header(scope, b"user-agent"),
        detail=state.get(_DETAIL),
    )


class AuditMiddleware:
    """Records each non-read request once its answer starts (or fails to)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, and write its audit entry when the answer starts."""
        if scope["type"] != "http" or scope["method"] in READ_METHODS:
            await self.app(scope, receive, send)
            return
        # The route guard puts the principal in request.state, which is this dict: made
        # here so every copy of the scope further in shares it.
        state: dict[str, Any] = scope.setdefault("state", {})
        recorded = False

        async def send_and_record(message: Message) -> None:
            nonlocal recorded
            if message["type"] != "http.response.start" or recorded:
                await send(message)
                return
            recorded = True
            try:
                await send(message)
            finally:
                await self._record(scope, state, int(message["status"]))

        try:
            await self.app(scope, receive, send_and_record)
        except Exception:
            if not recorded:  # the server answers 500 further out
                recorded = True
                await self._record(scope, state, 500)
            raise

    async def _record(self, scope: Scope, state: dict[str, Any], status: int) -> None:
        app = scope.get("app")
        context = getattr(getattr(app, "state", None), "context", None)
        store: MetadataStore | None = getattr(context, "store", None)
        if store is None:  # the app has not started (or has stopped)
            return
        record = _record_for(scope, state, status)
        try:
            await anyio.to_thread.run_sync(record_audit, store, record)
        except Exception:  # an audit failure must not break the answer; the log tells
            logger.exception("could not write the audit entry for %s", record.action)
