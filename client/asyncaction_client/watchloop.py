"""What the clients' watch does next, apart from how it sends its requests (no I/O).

``Client.watch`` and ``AsyncClient.watch`` (and every ``wait`` built on them) list the
actions, then watch from the list's resourceVersion; they watch again when the server
ends a watch, list again on 410 Gone, back off while the server cannot be reached, and
stop at a deadline. That logic was written twice, once in each client's loop; it is
here once, and each loop only sends the requests it is asked for and sleeps the pauses
it is given, in its own manner (the sans-I/O way of h11 and httpx).

A driver runs::

    loop = WatchLoop(field_selector, deadline)
    while loop.running():
        try:
            if loop.must_list:
                yield from loop.listed(<list>)
                if loop.expired():
                    return
            <watch from loop.version for loop.watch_seconds()>:
                loop.connected() once the server answered, then for each event
                yield from loop.received(event), ending the watch when loop.must_list
        except <410 Gone>:
            loop.gone()
        except <a refusal that retrying cannot fix>:
            raise
        except <anything else worth retrying>:
            sleep(loop.interrupted(exc))
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from asyncaction_client.errors import Refusal, not_served, short_reason
from asyncaction_client.model import Action, backoff, interpret

log = logging.getLogger("asyncaction_client")

WATCH_SECONDS = 60
# The longest a list may take (a server that accepts and never answers must not hold a
# wait past its timeout); near or past the deadline, still this least.
LIST_SECONDS = 30.0
LEAST_LIST_SECONDS = 5.0
# API answers worth watching again after a pause: throttling, a server restarting, no
# answer at all (None, 0); any other refusal (403, 404, 422) is the caller's to see.
RETRYABLE_STATUS = (None, 0, 429, 500, 502, 503, 504)

# What a watch yields: ("LISTED" | "CHANGED" | "DELETED", the action), or ("MISSING", {})
# when a list by name found nothing.
Event = tuple[str, Action]


@dataclass
class WatchLoop:
    """The state of one watch: the resourceVersion to watch from (None: list first),
    failures in a row, and whether the first list was made."""

    field_selector: str | None
    deadline: float | None  # monotonic seconds; None: for ever
    clock: Callable[[], float] = time.monotonic
    version: str | None = None
    failures: int = 0
    listed_once: bool = False
    tried: bool = False  # a request was made (answered or not)
    # "namespace/name" -> uid of each action yielded and not yet deleted: a relist after a
    # gap (410, a restart) reports the ones gone meanwhile, or re-created under the name
    known: dict[str, str] = field(default_factory=dict)

    def running(self) -> bool:
        """Whether to go on. The first list runs even when the deadline has passed: a
        wait with no time left still reports an action that had already finished; once,
        not for as long as the server refuses it."""
        return not self.tried or self.deadline is None or self.clock() < self.deadline

    def list_seconds(self) -> float:
        """The request timeout of a list: the time left and a second, within
        ``LEAST_LIST_SECONDS`` and ``LIST_SECONDS``."""
        if self.deadline is None:
            return LIST_SECONDS
        left = self.deadline - self.clock() + 1
        return max(LEAST_LIST_SECONDS, min(LIST_SECONDS, left))

    @property
    def must_list(self) -> bool:
        return self.version is None

    def expired(self) -> bool:
        return self.deadline is not None and self.clock() >= self.deadline

    def listed(self, listed: Mapping[str, Any]) -> list[Event]:
        """A list's answer: its actions, then ``MISSING`` for a list by name that found
        none; the next watch starts at its resourceVersion."""
        items = listed.get("items") or []
        self.listed_once = self.tried = True
        self.version = listed["metadata"]["resourceVersion"]
        self.failures = 0
        log.info("listed %d action(s) at version %s; watching", len(items), self.version)
        now = {_key(item): _uid(item) for item in items}
        # Gone during the gap, or deleted and re-created under the same name: DELETED for
        # the one that was (a wait reported the new one's outcome as the old one's, and a
        # watch table showed the deleted for ever: found by a review).
        events: list[Event] = [
            ("DELETED", _gone(key, uid)) for key, uid in self.known.items() if now.get(key) != uid
        ]
        self.known = now
        events += [("LISTED", item) for item in items]
        if self.field_selector and not items:
            events.append(("MISSING", {}))
        return events

    def request_seconds(self, seconds: float) -> float:
        """The client-side timeout of a request the server should answer within
        ``seconds``: some slack, but never far past the deadline (a watch accepted and
        never answered held a two-second wait for two minutes: found by a review)."""
        if self.deadline is None:
            return seconds + 30
        return max(LEAST_LIST_SECONDS, min(seconds + 30, self.deadline - self.clock() + 5))

    def watch_seconds(self) -> int:
        """How long to ask the server to keep the next watch open: a watch ends about
        when the deadline comes, so a wait never outlives its timeout by a watch."""
        if self.deadline is None:
            return WATCH_SECONDS
        return max(1, min(WATCH_SECONDS, int(self.deadline - self.clock()) + 1))

    def connected(self) -> None:
        """The server answered the watch: the backoff starts again from its least (it
        grows only while the server does not answer)."""
        if self.failures:
            log.info("reconnected; watching from version %s", self.version)
        self.failures = 0

    def received(self, event: Mapping[str, Any]) -> list[Event]:
        """One event of the watch. An ``ERROR`` 410 empties ``version``: end the watch
        and list again (``must_list``); another ``ERROR`` raises ``WatchError``."""
        step = interpret(event, self.version)
        if step.relist:
            self.version = None
            return []
        self.version = step.resource_version
        events: list[Event] = []
        if step.action is not None:
            self.known[_key(step.action)] = _uid(step.action)
            events.append(("CHANGED", step.action))
        if step.deleted is not None:
            self.known.pop(_key(step.deleted), None)
            events.append(("DELETED", step.deleted))
        return events

    def gone(self) -> None:
        """410 Gone answered the watch: list again, at once."""
        self.version = None

    def worth_retrying(self, exc: Refusal) -> bool:
        """Whether the API server's refusal is one to watch again after: throttling, a
        server restarting (``RETRYABLE_STATUS``), or, once a list has answered or the
        server was unreachable, a 404 that names nothing (a just-restarted server that
        has not read the CRDs yet); the first answer of a server that was up says
        the CRD is not installed, and is the caller's to see."""
        served_before = self.listed_once or self.failures > 0  # or it was unreachable
        return exc.status in RETRYABLE_STATUS or (served_before and not_served(exc))

    def interrupted(self, exc: BaseException) -> float:
        """A failure worth retrying: the seconds to pause first (growing with the
        failures in a row, never past the deadline)."""
        self.failures += 1
        self.tried = True
        delay = backoff(self.failures)
        if self.deadline is not None:
            delay = max(0.0, min(delay, self.deadline - self.clock()))
        log.warning("watch interrupted (%s); reconnecting in %.1fs", short_reason(exc), delay)
        return delay


def _key(action: Mapping[str, Any]) -> str:
    meta = action.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def _uid(action: Mapping[str, Any]) -> str:
    return str((action.get("metadata") or {}).get("uid", ""))


def _gone(key: str, uid: str) -> Action:
    """What is left to say of an action deleted while nobody watched."""
    namespace, name = key.split("/", 1)
    return {"metadata": {"namespace": namespace, "name": name, "uid": uid}}


__all__ = ["LIST_SECONDS", "RETRYABLE_STATUS", "WATCH_SECONDS", "Event", "WatchLoop"]
