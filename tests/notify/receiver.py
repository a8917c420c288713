"""A local webhook receiver for tests: verifies Standard Webhooks signatures itself,
refuses old timestamps and replays, and answers errors on the first tries."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOLERANCE_SECONDS = 5 * 60


@dataclass
class Received:
    """One request the receiver saw, and what it answered."""

    headers: dict[str, str]
    body: bytes
    status: int
    verdict: str

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """State of a running receiver."""

    secret: str | None
    fail_first: int = 0
    fail_status: int = 500
    always: int | None = None
    requests: list[Received] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    """Message ids processed (answered 200): a second copy is a replay."""
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def accepted(self) -> list[Received]:
        return [r for r in self.requests if r.status == 200]

    def key(self) -> bytes:
        assert self.secret is not None
        if self.secret.startswith("whsec_"):
            return base64.b64decode(self.secret[len("whsec_") :])
        return self.secret.encode()

    def verify(self, headers: dict[str, str], body: bytes) -> str | None:
        """Why the request is refused, or None when its signature and timestamp are good."""
        msg_id = headers.get("webhook-id")
        stamp = headers.get("webhook-timestamp")
        signature = headers.get("webhook-signature")
        if not (msg_id and stamp and signature):
            return "missing webhook headers"
        if abs(time.time() - int(stamp)) > TOLERANCE_SECONDS:
            return "timestamp outside tolerance"
        expected = base64.b64encode(
            hmac.new(self.key(), f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
        ).decode()
        given = [part.split(",", 1)[1] for part in signature.split() if part.startswith("v1,")]
        if not any(hmac.compare_digest(expected, sig) for sig in given):
            return "bad signature"
        if msg_id in self.seen:
            return "replay"
        return None

    def handle(self, headers: dict[str, str], body: bytes) -> tuple[int, str]:
        with self.lock:
            if self.secret is not None:
                refused = self.verify(headers, body)
                if refused:
                    self.requests.append(Received(headers, body, 401, refused))
                    return 401, refused
            tries = len(self.requests)
            if self.always is not None:
                status = self.always
            else:
                status = self.fail_status if tries < self.fail_first else 200
            if status == 200 and "webhook-id" in headers:
                self.seen.add(headers["webhook-id"])
            self.requests.append(Received(headers, body, status, "ok"))
            return status, "ok" if status == 200 else "try later"


@contextmanager
def webhook_receiver(
    secret: str | None, *, fail_first: int = 0, fail_status: int = 500, always: int | None = None
) -> Iterator[Receiver]:
    """Run a receiver on 127.0.0.1 (a free port) in a thread while the block runs."""
    state = Receiver(secret, fail_first=fail_first, fail_status=fail_status, always=always)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, text = state.handle(headers, body)
            data = text.encode()
            self.send_response(status)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
