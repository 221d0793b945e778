"""How often one client address may knock: public reports, failed sign-ins, wrong receipt codes.

The counting is the `limits` library's moving window (exact over the last minute, so a burst
at a minute's edge does not get twice the rate). Its counters live where
``Settings.rate_limit_storage`` says: ``memory://`` keeps them in this process, which is right
for the single-process default; a deployment that runs several server processes points them
all at one Redis (``redis://...``), or each process would allow the full rate on its own.

A counter store that cannot be reached lets requests through (and logs it): a rate limit
protects the desk's availability, so it must not become the thing that takes intake down.
"""

from __future__ import annotations

import logging
import math
import time

from limits import RateLimitItem, RateLimitItemPerMinute, storage, strategies
from limits.errors import StorageError

from qorgau.config import Settings

log = logging.getLogger(__name__)

INTAKE = "intake"
SIGN_IN = "sign-in"
RECEIPT = "receipt"
NAMESPACE = "qorgau"


class RateLimiter:
    """Per-address counters for a few named buckets; a bucket with no limit never refuses."""

    def __init__(self, storage_uri: str, per_minute: dict[str, int]) -> None:
        self._storage = storage.storage_from_string(storage_uri, wrap_exceptions=True)
        # Counters in another process (Redis) are a network round trip: callers on an event
        # loop hand those calls to a thread, so a slow counter store cannot stall every request.
        self.remote = not isinstance(self._storage, storage.MemoryStorage)
        self._window = strategies.MovingWindowRateLimiter(self._storage)
        self._items: dict[str, RateLimitItem] = {
            bucket: RateLimitItemPerMinute(n) for bucket, n in per_minute.items() if n > 0
        }

    @classmethod
    def for_settings(cls, settings: Settings) -> RateLimiter:
        return cls(
            settings.rate_limit_storage,
            {
                INTAKE: settings.intake_rate_per_minute,
                SIGN_IN: settings.sign_in_rate_per_minute,
                RECEIPT: settings.receipt_rate_per_minute,
            },
        )

    def hit(self, bucket: str, address: str | None) -> int | None:
        """Count one request; ``None`` if it may pass, else the seconds until one may."""
        item = self._items.get(bucket)
        if item is None:
            return None
        key = address or "unknown"
        try:
            if self._window.hit(item, NAMESPACE, bucket, key):
                return None
            return self._wait(item, bucket, key)
        except StorageError:
            log.warning("rate-limit store unreachable: %s request let through", bucket)
            return None

    def wait(self, bucket: str, address: str | None) -> int | None:
        """Like ``hit`` but counts nothing: for limits on *failed* attempts, counted with
        ``hit`` only once an attempt has failed."""
        item = self._items.get(bucket)
        if item is None:
            return None
        key = address or "unknown"
        try:
            if self._window.test(item, NAMESPACE, bucket, key):
                return None
            return self._wait(item, bucket, key)
        except StorageError:
            log.warning("rate-limit store unreachable: %s request let through", bucket)
            return None

    def _wait(self, item: RateLimitItem, bucket: str, key: str) -> int:
        stats = self._window.get_window_stats(item, NAMESPACE, bucket, key)
        return max(1, math.ceil(stats.reset_time - time.time()))

    def close(self) -> None:
        """Release a shared store's connections (the in-process store holds none)."""
        client = getattr(self._storage, "storage", None)
        close = getattr(client, "close", None)
        if callable(close) and not isinstance(self._storage, storage.MemoryStorage):
            close()
