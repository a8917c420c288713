"""A cap on request bodies, enforced before anything reads them."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 1024 * 1024
"""Largest request body accepted: the biggest legitimate one is a 100 KB query."""


class BodyLimitMiddleware:
    """Answer 413 to a request whose body is larger than `max_bytes`: by its Content-Length
    at once, or, for chunked bodies, as soon as the bytes read pass the cap, so a hostile
    client cannot make the server buffer an endless body."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, counting its body."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._refuse(send)
            return
        seen = 0
        started = refused = False

        async def counted() -> Message:
            # Past the cap: answer 413 ourselves and tell the app the client left, so it
            # stops reading (FastAPI would turn an exception here into a 400).
            nonlocal seen, refused
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes and not refused:
                refused = True
                if not started:
                    await self._refuse(send)
            return {"type": "http.disconnect"} if refused else message

        async def tracked(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 is the answer
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counted, tracked)

    async def _refuse(self, send: Send) -> None:
        body: dict[str, Any] = {
            "detail": f"the request body is larger than {self.max_bytes // 1024} KB",
            "code": "too_large",
        }
        payload = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
