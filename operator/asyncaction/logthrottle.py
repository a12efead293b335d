"""One warning for many alike: what keeps an API outage from flooding the logs.

While the API server is down or throttling, every reconcile that writes fails and every
request retries: at 100,000 actions that was a traceback per failed key and a line per
retried request, hundreds of thousands of lines that bury the one that says what is
wrong and fill the log storage of a shared cluster. ``ThrottledLog`` writes the first
failure of a kind at once, then at most one line per ``interval`` with the number left
out since, and one line once they stopped (``recovered``: a success with no failure of
that kind for ``interval``), so an outage reads as a few lines: when it began, that it
goes on, and when it ended.

Only failures that are expected to pass go through it (``is_transient``): an error the
code does not expect still gets its own line and its traceback.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_INTERVAL_SECONDS = 30.0


def is_transient(exc: BaseException) -> bool:
    """An API error worth retrying (``ApiError.transient``: throttling, timeouts,
    unavailability, a write whose outcome is unknown), or the connection itself.
    (An ``ApiError`` is known by its ``transient``: importing the class here made a
    cycle with the client, which logs through this module.)"""
    transient = getattr(exc, "transient", None)
    if isinstance(transient, bool):
        return transient
    return isinstance(exc, (ConnectionError, TimeoutError))


@dataclass
class _Kind:
    first_at: float  # when the first line of this run of failures was written
    logged_at: float  # when a line about this kind was last written
    failed_at: float  # the last failure
    left_out: int = 0  # failures since then that wrote no line
    total: int = 1  # failures since the first


@dataclass
class ThrottledLog:
    """Warnings of ``logger``, at most one per kind and ``interval`` seconds."""

    logger: logging.Logger
    interval: float = DEFAULT_INTERVAL_SECONDS
    clock: Callable[[], float] = time.monotonic
    _kinds: dict[str, _Kind] = field(default_factory=dict)

    def warning(
        self, kind: str, message: str, *args: Any, extra: Mapping[str, Any] | None = None
    ) -> bool:
        """Write ``message % args`` now, or count it; returns whether a line was written.

        A line written after some were left out says how many, and since when."""
        now = self.clock()
        seen = self._kinds.get(kind)
        if seen is None:
            self._kinds[kind] = _Kind(first_at=now, logged_at=now, failed_at=now)
            self.logger.warning(message, *args, extra=extra)
            return True
        seen.total += 1
        seen.failed_at = now
        if now - seen.logged_at < self.interval:
            seen.left_out += 1
            return False
        self.logger.warning(
            message + " (%d more like it in the last %.0fs, %d since the first %.0fs ago)",
            *args,
            seen.left_out,
            now - seen.logged_at,
            seen.total,
            now - seen.first_at,
            extra=extra,
        )
        seen.logged_at, seen.left_out = now, 0
        return True

    def recovered(self, kind: str, message: str, *args: Any) -> bool:
        """A success: when no failure of ``kind`` came for ``interval`` (during an outage
        some work needs no API call and succeeds), the run of failures ended: one line
        with their count, and the next failure starts a new run. Returns whether a line
        was written."""
        seen = self._kinds.get(kind)
        if seen is None:
            return False
        now = self.clock()
        if now - seen.failed_at < self.interval:
            return False
        del self._kinds[kind]
        self.logger.info(
            message + ": %d failure(s) over %.0fs",
            *args,
            seen.total,
            seen.failed_at - seen.first_at,
        )
        return True


__all__ = ["DEFAULT_INTERVAL_SECONDS", "ThrottledLog", "is_transient"]
