"""A bound on the coalesced status writes one hook process sends the API server.

The coalescer writes each action's progress at most once per window, so without a bound
the writes grow with the number of running actions: 10,000 actions reporting every
second would be 10,000 status patches a second from one shard, about 30 cores of API
server and etcd on the machines the benchmarks run on. The pacer turns that into a
rate the cluster can plan for (``--status-writes-per-second``): past it, each action's
window stretches (reports go on merging while they wait, none is lost), so progress
shows a little later instead of the API server slowing for every tenant.

Turns are given in the order they were asked for (GCRA, the generic cell rate
algorithm): one action asks once per window, so every action waits alike, whichever
tenant runs most of them. Only coalesced progress writes take a turn; a transition, a
terminal report and an upload's record are written at once, as the contract promises.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class WritePacer:
    """At most ``rate`` turns a second after a burst of ``burst`` (``rate`` 0: no bound)."""

    def __init__(
        self,
        rate: float,
        burst: int = 1,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate < 0 or burst < 1:
            raise ValueError(f"rate must be >= 0 and burst >= 1, got {rate} and {burst}")
        self.rate = rate
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.tolerance = (burst - 1) * self.interval
        self.clock = clock
        self.sleep = sleep
        self._tat = 0.0  # the theoretical arrival time of the next turn
        self.delayed = 0  # turns that waited (a metric)
        self.waited_seconds = 0.0  # their waits together (a metric)

    async def turn(self) -> None:
        """Wait for this caller's turn. Cancelled while waiting, the turn is given back
        when no later caller has been promised one behind it."""
        if self.rate == 0:
            return
        now = self.clock()
        start = max(self._tat, now)
        wait = start - self.tolerance - now
        self._tat = start + self.interval
        if wait <= 0:
            return
        self.delayed += 1
        self.waited_seconds += wait
        try:
            await self.sleep(wait)
        except asyncio.CancelledError:
            if self._tat == start + self.interval:
                self._tat = start
            raise

    def lag(self) -> float:
        """Seconds a turn asked for now would wait (0 when writes flow at once)."""
        if self.rate == 0:
            return 0.0
        return max(0.0, self._tat - self.tolerance - self.clock())
