"""Who sent a request: the checks every request of a job passes (contract, section 2), in
one pass that either ends (a ``Caller``, or a refusal raised) or names what it must wait
for first (a ``Wait``).

The checks run cheapest first, so that a request that fails early costs next to nothing
and draws on the unauthenticated budget alone: the signature headers and their time
window, the path and the announced size; the cached action (known, of this shard); the
body; the signature over it; the shard; the restart fence; the time window again and the
replay memory; the budgets.

Three of them may have to wait: the cache's first sync, a body still arriving, and the
shard Lease a new process does not hold yet. ``check`` stops at the first that would
wait, before anything is recorded (the replay memory and the budgets come last), and
says which. So the request that waits for nothing, nearly every report, is checked and
answered in the protocol's callback, with no coroutine or task (``check_now``); a task
and a loop turn cost each report as much as its signature check. The others wait,
bounded by ``hold_seconds``, and are checked again from the start (``authenticate``):
each ``Wait`` is waited for at most once.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from asyncaction.sharding import shard_of
from asyncaction_hook.auth import (
    check_replay,
    check_still_in_window,
    matching_attempt,
    parse_headers,
)
from asyncaction_hook.errors import HookError, bad_request, not_found, too_large, unavailable
from asyncaction_hook.httpmessages import BodyTooLarge, Request
from asyncaction_hook.metrics import UNKNOWN_ID

if TYPE_CHECKING:
    from asyncaction_hook.app import Hook


@dataclass(slots=True)
class Caller:
    uid: str
    namespace: str
    version: int
    body: bytes
    attempt: int  # the attempt whose key signed the request


class Wait(enum.Enum):
    """What a request's checks must wait for before they can go on."""

    SYNC = "the cache's first sync"
    BODY = "the request's body"
    FENCE = "the shard Lease"


def check(hook: Hook, request: Request, *, waited: frozenset[Wait] = frozenset()) -> Caller | Wait:
    """Every check, in order, up to the first that would wait (one in ``waited`` was
    waited for already and is not waited for again). Raises the refusal of a check that
    fails; what fails before the signature is accepted draws on the unauthenticated
    budget alone (``Budgets.refused``)."""
    settings = hook.settings
    budgets = hook.budgets
    try:
        signed = parse_headers(
            request.headers,
            now_ms=hook.clock_ms(),
            past_seconds=settings.time_window_seconds,
            future_seconds=settings.max_future_seconds,
            allow_v1=settings.allow_v1,
        )
    except HookError as exc:
        raise budgets.refused(exc) from None
    path = request.raw_path.split("?", 1)[0]
    if not path.isascii():
        # A client signs what it sends, which is ASCII (RFC 3986); llhttp passes other
        # bytes through (``Request.raw_path`` decodes them as latin-1), and a signature
        # over them would be a signature over something no client meant.
        raise budgets.refused(
            bad_request("the request's path must be ASCII: percent-encode other characters")
        )
    length = request.content_length
    if length is not None and length > settings.max_body_bytes:
        raise budgets.refused(too_large(f"body over {settings.max_body_bytes} bytes"))
    if not hook.cache.synced:
        return Wait.SYNC
    uid = signed.job_id
    action = hook.cache.action(uid)
    if action is None:
        if shard_of(uid, settings.shards) != settings.shard:
            raise budgets.refused(hook.misdirected(uid))
        if not hook.cache.ready:
            raise unavailable("NOT_READY", "the hook is catching up; retry", 2)
        raise budgets.refused(not_found(UNKNOWN_ID))
    if not request.body_complete():
        return Wait.BODY
    try:
        body = request.body()
    except BodyTooLarge as exc:
        raise too_large(f"body over {settings.max_body_bytes} bytes") from exc
    try:
        attempt = matching_attempt(
            signed,
            method=request.method,
            path=path,
            body=body,
            candidates=hook.candidate_keys(action),
        )
    except HookError as exc:
        raise budgets.refused(exc) from None
    if shard_of(uid, settings.shards) != settings.shard:
        raise hook.misdirected(uid)
    fence = hook.fence
    if fence is not None:
        # Another process of this shard may have accepted what this one has not seen:
        # wait (bounded) until this process holds the shard, then refuse only what the
        # previous holder could have accepted (``fence``).
        if Wait.FENCE not in waited and not fence.holding.is_set() and not fence.lost.is_set():
            return Wait.FENCE
        reason = fence.refuses(uid, signed.time_ms)
        if reason is not None:
            raise unavailable("RESTARTED", f"{reason}; sign the request again", 2)
    elif signed.time_ms < hook.fenced_until_ms:
        raise unavailable("RESTARTED", "the hook restarted; sign the request again")
    accepted_ms = hook.clock_ms()  # the body may have taken up to hold_seconds
    try:
        check_still_in_window(signed, now_ms=accepted_ms, past_seconds=settings.time_window_seconds)
        check_replay(hook.guard, signed, accepted_ms)
    except HookError as exc:
        raise budgets.refused(exc) from None
    if fence is not None:
        fence.accepted.record(uid, signed.time_ms)
    namespace = action["metadata"]["namespace"]
    budgets.charge(namespace, uid)
    return Caller(uid, namespace, signed.version, body, attempt)


def check_now(hook: Hook, request: Request) -> Caller | None:
    """The caller, when no check has to wait; None when one would (``authenticate``)."""
    outcome = check(hook, request)
    return outcome if isinstance(outcome, Caller) else None


async def authenticate(hook: Hook, request: Request) -> Caller:
    """The caller, after waiting (bounded) for what the checks need."""
    deadline = time.monotonic() + hook.settings.hold_seconds
    waited: set[Wait] = set()
    while True:
        outcome = check(hook, request, waited=frozenset(waited))
        if isinstance(outcome, Caller):
            return outcome
        waited.add(outcome)
        await _wait(hook, request, outcome, deadline)


async def _wait(hook: Hook, request: Request, what: Wait, deadline: float) -> None:
    if what is Wait.SYNC:
        # a request that arrives before the first sync waits for it (bounded)
        if not await hook.cache.wait_synced(max(0.0, deadline - time.monotonic())):
            raise unavailable("NOT_READY", "the hook is loading its cache; retry", 2)
    elif what is Wait.BODY:
        hold = hook.settings.hold_seconds
        try:
            # a body announced and never sent would hold this handler for as long as the
            # connection stays open, drawing on no budget
            async with asyncio.timeout(hold):
                await request.read()
        except BodyTooLarge:
            pass  # refused by the next check, as any body past the limit
        except TimeoutError:
            raise hook.budgets.refused(
                HookError(
                    408,
                    "BODY_TIMEOUT",
                    f"the request's body did not arrive within {hold:g} s of its headers",
                )
            ) from None
    elif hook.fence is not None:  # Wait.FENCE
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(hook.fence.holding.wait(), max(0.0, deadline - time.monotonic()))
