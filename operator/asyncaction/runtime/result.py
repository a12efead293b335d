"""What one reconcile tells the work queue: done, look again later, or give up.

In the manner of controller-runtime's ``reconcile.Result`` and ``TerminalError``:

- ``Result(requeue_after=s)``: process the key again in ``s`` seconds (a deadline, a
  TTL, a start time); ``Result()`` means nothing is due, the next change brings it back;
- any exception: a transient failure, retried with the queue's per-key backoff;
- ``TerminalError``: retrying cannot help (the API server refused the object for good,
  the spec can never be built). The controller turns it into a decision (fail the
  attempt, fail the action) where it can; one that reaches the queue is logged and the
  key is not retried, instead of spinning on the backoff forever.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    requeue_after: float | None = None

    @classmethod
    def after(cls, seconds: float | None) -> Result:
        return cls(requeue_after=seconds)


DONE = Result()


class TerminalError(Exception):
    """A failure no retry can fix; ``reason`` is CamelCase, as in ``status.error``.

    ``counts_as_attempt``: the failure is the attempt's, not the action's: another
    attempt (within ``backoffLimit``) may succeed (a webhook's or a quota's refusal may
    clear up); otherwise the action itself cannot run (an invalid pod template).
    """

    def __init__(self, reason: str, message: str, *, counts_as_attempt: bool = False) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message
        self.counts_as_attempt = counts_as_attempt
