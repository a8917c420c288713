"""A fixed-window request counter per caller, in memory (one API process)."""

from __future__ import annotations

import math
import threading
import time


class RateLimiter:
    """At most `limit` hits per `window` seconds per key."""

    def __init__(self, limit: int, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._hits: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> float | None:
        """Count one hit for `key`; None when allowed, else seconds until the next is."""
        now = time.monotonic()
        with self._lock:
            started, count = self._hits.get(key, (now, 0))
            if now - started >= self.window:
                started, count = now, 0
            if count >= self.limit:
                return max(started + self.window - now, 0.0)
            self._hits[key] = (started, count + 1)
            if len(self._hits) > 10_000:  # forget idle callers so memory stays bounded
                self._hits = {k: v for k, v in self._hits.items() if now - v[0] < self.window}
        return None


def retry_after_header(seconds: float) -> dict[str, str]:
    """The Retry-After header for a wait of `seconds` (whole seconds, at least 1)."""
    return {"Retry-After": str(max(1, math.ceil(seconds)))}
