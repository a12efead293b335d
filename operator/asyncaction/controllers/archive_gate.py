"""Archive uploads that cannot hold the reconcile workers while the store is down.

The TTL work of a finished action uploads its record to the archive store inside the
reconcile. An S3 endpoint that accepts connections and never answers held each worker
for botocore's timeouts (three minutes with its defaults), and once as many TTLs had
expired as there are workers, no action in any namespace was reconciled (found by a
review). So the uploads go through a gate: at most ``slots`` at once, and after a
failure the store counts as down for a while (doubling, capped) during which uploads
fail at once; one upload then probes it. A failure is an ``ArchiveUnavailable``,
retried by the work queue with its backoff and logged as a transient error.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from asyncaction.stores import Store


class ArchiveUnavailable(ConnectionError):
    """The archive store failed lately, or every upload slot is taken: retry later."""


class ArchiveGate:
    def __init__(
        self,
        slots: int = 4,
        *,
        base: float = 5.0,
        cap: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.slots = slots
        self.base = base
        self.cap = cap
        self.clock = clock
        self.in_flight = 0
        self.failures = 0
        self.down_until = float("-inf")
        self.last_error = ""

    async def put(self, store: Store, key: str, body: bytes, content_type: str) -> str:
        """``store.put`` through the gate; its URI."""
        now = self.clock()
        if now < self.down_until:
            raise ArchiveUnavailable(
                f"archive store {store.name} failed {self.failures} time(s) in a row"
                f" ({self.last_error}); next try in {self.down_until - now:.0f}s"
            )
        if self.in_flight >= self.slots or (self.failures and self.in_flight):
            # every slot taken, or a probe of a failing store is out: do not wait here
            raise ArchiveUnavailable(
                f"archive store {store.name}: {self.in_flight} upload(s) in flight; retry later"
            )
        self.in_flight += 1
        try:
            uri = await store.put(key, body, content_type)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.failures += 1
            self.last_error = f"{type(exc).__name__}: {exc}"[:300]
            self.down_until = self.clock() + min(self.cap, self.base * 2 ** (self.failures - 1))
            raise
        finally:
            self.in_flight -= 1
        self.failures = 0
        return uri
