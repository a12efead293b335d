"""Request budgets that one tenant cannot spend for another (token buckets).

Three kinds of budget, drawn at different points of a request:

- ``unauthenticated``: one budget shared by every request that fails before or at the
  signature check (no or malformed headers, an unknown id, a bad signature, a replay).
  It is drawn only by such requests, so a flood of them, however large, never takes a
  token an authenticated job needs; once it is empty they are answered 429 instead of
  401/404, at the same (small) cost.
- per namespace: every authenticated request of a namespace's jobs, so one tenant's
  jobs at full speed cannot starve another tenant's;
- per action: one job cannot take its whole namespace's budget either.

A refusal carries ``Retry-After`` (whole seconds until the bucket holds a token again).
Buckets that have refilled carry no information and are dropped (``prune``), and an
action's bucket goes when the action finishes or disappears (``forget``), so memory
follows the number of busy actions, not of actions ever seen.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from asyncaction_hook.errors import HookError


@dataclass
class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved."""

    rate: float
    burst: float
    tokens: float
    last: float

    def refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now

    def take(self, now: float) -> bool:
        self.refill(now)
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    def retry_after(self) -> int:
        """Whole seconds until one token is saved again (at least 1)."""
        missing = max(0.0, 1 - self.tokens)
        return max(1, math.ceil(missing / self.rate)) if self.rate > 0 else 60

    def full(self, now: float) -> bool:
        return self.tokens + (now - self.last) * self.rate >= self.burst


@dataclass(frozen=True)
class Rate:
    per_second: float
    burst: float


def rate_limited(scope: str, retry_after: int) -> HookError:
    return HookError(
        429,
        "RATE_LIMITED",
        f"too many requests for this {scope}; retry after {retry_after}s",
        retry_after=retry_after,
    )


@dataclass
class Budgets:
    unauthenticated: Rate
    namespace: Rate
    action: Rate
    clock: Callable[[], float] = time.monotonic
    _anonymous: TokenBucket | None = None
    namespaces: dict[str, TokenBucket] = field(default_factory=dict)
    actions: dict[str, TokenBucket] = field(default_factory=dict)

    def _bucket(self, table: dict[str, TokenBucket], key: str, rate: Rate) -> TokenBucket:
        bucket = table.get(key)
        if bucket is None:
            bucket = table[key] = TokenBucket(rate.per_second, rate.burst, rate.burst, self.clock())
        return bucket

    def refused(self, error: HookError) -> HookError:
        """What to answer a request that failed authentication with ``error``: the error
        itself while the unauthenticated budget lasts, 429 once it is spent."""
        if self._anonymous is None:
            rate = self.unauthenticated
            self._anonymous = TokenBucket(rate.per_second, rate.burst, rate.burst, self.clock())
        if self._anonymous.take(self.clock()):
            return error
        return rate_limited("hook (unauthenticated requests)", self._anonymous.retry_after())

    def charge(self, namespace: str, uid: str) -> None:
        """Draw an authenticated request from its namespace's and its action's budget."""
        now = self.clock()
        tenant = self._bucket(self.namespaces, namespace, self.namespace)
        job = self._bucket(self.actions, uid, self.action)
        tenant.refill(now)
        job.refill(now)
        if job.tokens < 1:
            raise rate_limited("action", job.retry_after())
        if tenant.tokens < 1:
            raise rate_limited("namespace", tenant.retry_after())
        tenant.tokens -= 1
        job.tokens -= 1

    def forget(self, uid: str) -> None:
        self.actions.pop(uid, None)

    def prune(self) -> int:
        """Drop the buckets that have refilled (they would be created the same); returns
        how many were dropped."""
        now = self.clock()
        dropped = 0
        for table in (self.namespaces, self.actions):
            for key in [k for k, bucket in table.items() if bucket.full(now)]:
                del table[key]
                dropped += 1
        return dropped
