"""The hook's per-process state (contract, section 2).

``Hook.authenticate`` and ``Hook.authenticate_now`` run the checks every request passes
(``callers``: cheapest first, waiting only where they must); the rest of
``Hook`` is what the route handlers (``routes``, ``tasks``, ``uploads``) share: the
stores and their per-namespace slots, the spec with its template's defaults, an
attempt's input listing, and the per-uid state dropped when an action ends. The
server that serves them is ``server.create_server``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any

from asyncaction.keys import MasterKeys
from asyncaction.kube import KubeClient
from asyncaction.logthrottle import ThrottledLog
from asyncaction.manifests import resolve_spec_shared
from asyncaction.sharding import hook_url_for
from asyncaction.stores import ObjectInfo, Store, Stores
from asyncaction.tenancy import key_allowed
from asyncaction_hook import callers, dataplane, tasks
from asyncaction_hook.auth import ReplayGuard
from asyncaction_hook.budgets import Budgets
from asyncaction_hook.cache import ActionCache, is_terminal
from asyncaction_hook.callers import Caller
from asyncaction_hook.errors import (
    HookError,
    forbidden,
    not_found,
    unavailable,
)
from asyncaction_hook.fence import ShardFence
from asyncaction_hook.httpmessages import Request
from asyncaction_hook.metrics import HookMetrics
from asyncaction_hook.settings import HookSettings
from asyncaction_hook.uploads import verify_pending
from asyncaction_hook.writer import Coalescer, StatusWriter
from asyncaction_job.signing import Signer

log = logging.getLogger(__name__)
HEX32 = re.compile(r"\A[0-9a-f]{32}\Z")


@dataclass
class _Slot:
    semaphore: asyncio.Semaphore
    users: int = 0  # running or waiting


def _attempt_of(action: dict[str, Any]) -> int:
    attempts = (action.get("status") or {}).get("attempts")
    return attempts if isinstance(attempts, int) and attempts >= 0 else 0


def _check_staged_names(listed: list[tuple[str, str]]) -> None:
    """Refuse inputs that cannot all be staged as named: the same name under two
    prefixes (the second overwrote the first, and the action ran on half its data), or
    a name that is another's folder (``x`` and ``x/y``: a traceback, no report). Found
    by a review; 409 names both keys."""
    seen: dict[str, str] = {}
    for key, name in listed:
        if name in seen:
            raise HookError(
                409, "INPUT_CLASH", f"inputs {seen[name]} and {key} would both be {name}"
            )
        seen[name] = key
    for key, name in listed:
        parts = name.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if folder in seen:
                raise HookError(
                    409,
                    "INPUT_CLASH",
                    f"input {seen[folder]} is a file where {key} needs the folder {folder}",
                )


@dataclass
class Hook:
    settings: HookSettings
    kube: KubeClient
    cache: ActionCache
    writer: StatusWriter
    coalescer: Coalescer
    stores: Stores
    guard: ReplayGuard
    master_keys: Callable[[], MasterKeys]
    budgets: Budgets
    fence: ShardFence | None = None
    clock_ms: Callable[[], int] = field(default=lambda: int(time.time() * 1000))
    metrics: HookMetrics = field(default_factory=HookMetrics)
    started_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    store_slots: dict[str, _Slot] = field(default_factory=dict)
    # uid -> (attempt, [(key, relative name)]): an attempt's input prefixes, listed once
    listings: dict[str, tuple[int, list[tuple[str, str]]]] = field(default_factory=dict)
    # uid -> (attempt, its accepted keys, keyed): derived once per attempt
    derived: dict[str, tuple[int, tuple[Signer, ...]]] = field(default_factory=dict)
    _keys_of: MasterKeys | None = None
    _background: set[asyncio.Task[None]] = field(default_factory=set)
    # API and S3 errors while serving: a line an interval while a dependency is down
    failure_log: ThrottledLog = field(
        default_factory=lambda: ThrottledLog(logging.getLogger("asyncaction_hook.server"))
    )
    task_books: tasks.TaskBooks = field(init=False)

    def __post_init__(self) -> None:
        self.task_books = tasks.TaskBooks(self.kube)

    def in_background(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` after the answer, keeping a reference until it is done."""
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def misdirected(self, uid: str) -> HookError:
        """421, naming the replica that serves ``uid`` now when the URL template is known:
        after a change of the shard count, a running job's JOB_HOOK may point elsewhere."""
        extra = {}
        if "{shard}" in self.settings.hook_url:
            extra["hook"] = hook_url_for(self.settings.hook_url, uid, self.settings.shards)
        return HookError(
            421,
            "MISDIRECTED",
            "this action is served by another hook replica"
            + (f": {extra['hook']}" if extra else "; use its JOB_HOOK"),
            extra,
        )

    @property
    def fenced_until_ms(self) -> int:
        """Without a shard Lease: requests signed before this could have been accepted by
        a previous process (its replay memory is gone)."""
        return self.started_ms + int(self.settings.max_future_seconds * 1000)

    def candidate_keys(self, action: dict[str, Any]) -> Iterator[tuple[int, tuple[Signer, ...]]]:
        """The keys that may sign for ``action``: its current attempt's, then the next's.

        The next attempt's key is tried too because the operator writes the new attempt
        to the action before creating its Job, and this cache may see the Job's first
        report before that write; the write path then binds the report to the attempt
        the API server has (``StatusWriter.apply``). Lazy, and remembered per action
        and attempt (until the action ends or the master keys change): a report derives
        nothing in the common case.
        """
        meta = action["metadata"]
        keys = self.master_keys()
        if keys is not self._keys_of:
            self._keys_of, self.derived = keys, {}
        current = _attempt_of(action)
        for attempt in (current, current + 1):
            if attempt < 1:
                continue
            derived = self.derived.get(meta["uid"])
            if derived is None or derived[0] != attempt:
                accepted = keys.accepted(meta["namespace"], meta["uid"], attempt)
                derived = (attempt, tuple(Signer(key) for key in accepted))
                if attempt == current:
                    self.derived[meta["uid"]] = derived
            yield derived

    async def authenticate(self, request: Request) -> Caller:
        """Who sent ``request`` (``callers``: the checks, cheapest first, waiting where
        they must); raises the refusal."""
        return await callers.authenticate(self, request)

    def authenticate_now(self, request: Request) -> Caller | None:
        """Who sent ``request`` when no check has to wait; None when one would."""
        return callers.check_now(self, request)

    def store(self, caller: Caller, name: str, uuid: str) -> Store:
        if uuid != caller.uid:
            raise forbidden("a job can reach only its own action's objects")
        store = self.stores.get(name)
        if store is None:
            raise not_found(f"no store named {name!r}")
        return store

    @contextlib.asynccontextmanager
    async def s3_slot(self, namespace: str) -> AsyncIterator[None]:
        """At most ``s3_per_namespace`` S3 calls of one namespace at once: one tenant
        cannot occupy every worker of the shared pool. A namespace's entry lives only
        while it has calls running or waiting."""
        slot = self.store_slots.get(namespace)
        if slot is None:
            slot = self.store_slots[namespace] = _Slot(
                asyncio.Semaphore(self.settings.s3_per_namespace)
            )
        slot.users += 1
        try:
            async with slot.semaphore:
                yield
        finally:
            slot.users -= 1
            if slot.users == 0:
                del self.store_slots[namespace]

    def check_reachable(self, store: Store, key: str, action: dict[str, Any]) -> None:
        """403 unless the action's namespace may use ``key`` (``asyncaction.tenancy``)."""
        meta = action["metadata"]
        own = dataplane.own_prefix(store.prefix, meta["namespace"], meta["uid"])
        if not key_allowed(store.scope, key, meta["namespace"], extra=(own,)):
            raise forbidden(
                f"s3://{store.bucket}/{key} is outside the prefixes namespace "
                f"{meta['namespace']} may use in store {store.name}"
            )

    def spec_of(self, action: dict[str, Any]) -> dict[str, Any]:
        """The action's spec with its template's defaults, from the cache; 503 when the
        template cannot be read (never a spec without the defaults it should have).
        For reading only: it shares its values with the cache (a 10,000-task list is not
        copied on every lease)."""
        spec = action.get("spec") or {}
        template = None
        if not spec.get("template") and spec.get("templateRef"):
            namespace = action["metadata"]["namespace"]
            found = self.cache.template(namespace, spec["templateRef"])
            if found is None:
                # 503 either way: a template applied after its action (GitOps order) comes;
                # but say which it is: one a healthy view lacks does not exist (yet)
                why = "does not exist (yet)" if self.cache.ready else "cannot be read now"
                raise unavailable(
                    "TEMPLATE_UNAVAILABLE",
                    f"ActionTemplate {namespace}/{spec['templateRef']} {why}; retry",
                    5,
                )
            template = found.get("spec")
        return resolve_spec_shared(spec, template)

    async def input_listing(
        self, caller: Caller, store: Store, action: dict[str, Any], spec: dict[str, Any]
    ) -> list[tuple[str, str]]:
        """The objects under the action's input prefixes, listed once per attempt (a job
        staging n files asks n times; the prefixes are the attempt's inputs)."""
        kept = self.listings.get(caller.uid)
        if kept is not None and kept[0] == caller.attempt:
            return kept[1]
        listed: list[tuple[str, str]] = []
        for prefix in dataplane.input_prefixes(spec):
            if prefix.bucket != store.bucket:
                raise forbidden(f"bucket {prefix.bucket} is not in store {store.name}")
            self.check_reachable(store, prefix.key, action)
            async with self.s3_slot(caller.namespace):
                objects = await store.list(prefix.key)
            for obj in objects:
                if obj.key.endswith("/"):
                    continue  # a "folder" marker (S3 console, s3fs, Hadoop): no file
                listed.append((obj.key, obj.key[len(prefix.key) :].lstrip("/")))
        _check_staged_names(listed)
        self.listings[caller.uid] = (caller.attempt, listed)
        return listed

    def action(self, uid: str) -> dict[str, Any]:
        """The cached action of ``uid``; 404 when the cache has none."""
        action = self.cache.action(uid)
        if action is None:
            raise not_found("no action with this id")
        return action

    async def verify_pending(self, action: dict[str, Any]) -> dict[str, Any]:
        """``uploads.verify_pending``, each S3 call within the namespace's slots (the
        coalescer and the sweep call this too: one tenant's pending uploads cannot
        occupy every S3 worker)."""
        namespace = action["metadata"]["namespace"]

        async def head(store: Store, key: str) -> ObjectInfo | None:
            async with self.s3_slot(namespace):
                return await store.head(key)

        return await verify_pending(self.stores, action, head)

    def forget(self, uid: str) -> None:
        """Drop what is kept for ``uid`` (it finished or disappeared)."""
        self.budgets.forget(uid)
        self.coalescer.forget(uid)
        self.listings.pop(uid, None)
        self.derived.pop(uid, None)
        self.task_books.forget(uid)

    def on_action(self, event: str, new: dict[str, Any] | None, old: dict[str, Any] | None) -> None:
        """Informer handler: per-uid state goes with the action's end or deletion."""
        gone = old if event == "DELETED" else new
        if gone is None:
            return
        if event == "DELETED" or is_terminal(new):
            uid = gone["metadata"].get("uid")
            if uid:
                self.forget(str(uid))
