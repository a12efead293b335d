"""A watch-fed cache of one resource: paginated LIST, then WATCH.

The generic half of the controller (it knows nothing about actions), in the manner of
client-go's shared informer. What the cache holds (transforms, indexes, handlers,
``put``) is ``runtime.indexed_cache``; this module fills it from the API server:

- the initial LIST is paginated (``limit``/``continue``) and filtered on the server by a
  label selector, so the operator never downloads objects it does not manage; each page
  is handled in slices of ``slice_size`` objects with a turn of the event loop between
  them, so a start-up or relist of 100,000 objects never holds the loop for a page;
- the WATCH resumes from the last resourceVersion seen (bookmarks on, so that version
  stays recent even when nothing we select changes): a watch that ends or fails (a
  dropped connection, a 500) is opened again from there after a capped, jittered
  backoff; only a 410 Gone (the version left the API server's window) leads to a fresh
  LIST, after which the objects that vanished meanwhile are reported as deleted;
- a refusal before the cache ever worked (401/403: RBAC refuses the list or watch; 404:
  the resource, a CRD, does not exist) is not retried: ``wait_synced`` raises a
  ``CacheError`` naming the resource, so the operator stops loudly instead of waiting
  forever on a cache that cannot fill;
- ``synced`` is set once the first LIST is in the cache, so a controller can wait for a
  full view before deciding anything (admission must never act on a partial view).

``Informers`` groups one informer per served namespace behind the same reads.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from asyncaction.kube import ApiError, Gone, NotServed
from asyncaction.kube.api import ListWatchApi
from asyncaction.runtime.indexed_cache import (
    Handler,
    IndexedCache,
    IndexFunc,
    Key,
    Obj,
    Transform,
    object_key,
    strip_managed_fields,
)
from asyncaction.runtime.initial_list import initial_list

log = logging.getLogger(__name__)

# Answers that retrying cannot change: no permission, or no such resource.
REFUSALS = frozenset({401, 403})


def refused(exc: ApiError) -> bool:
    """An answer that retrying cannot change, for a cache that never worked: no
    permission, or a resource the API server does not serve (no CRD)."""
    return exc.status in REFUSALS or isinstance(exc, NotServed)


class CacheError(RuntimeError):
    """A cache cannot start: the API server refuses its list or watch or lacks the resource."""

    def __init__(self, name: str, path: str, error: ApiError) -> None:
        # a NotServed error asks about the CRD itself
        hint = (
            ""
            if isinstance(error, NotServed)
            else " (does the operator's role grant list and watch on it?)"
        )
        super().__init__(f"cache {name} cannot list/watch {path}: {error}{hint}")
        self.error = error


@dataclass
class Backoff:
    """Capped exponential delay with jitter, reset after a success."""

    base: float = 0.5
    cap: float = 30.0
    failures: int = 0

    def next(self) -> float:
        self.failures += 1
        delay: float = min(self.cap, self.base * 2 ** (self.failures - 1))
        return delay * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not crypto

    def reset(self) -> None:
        self.failures = 0


@dataclass
class Informer(IndexedCache):
    """The cache of one collection path (``paths.job_path(ns)`` etc.), kept filled by
    LIST and WATCH; ``transform`` and ``name`` (of ``IndexedCache``) are keyword-only."""

    kube: ListWatchApi
    path: str
    label_selector: str | None = None
    page_size: int = 500
    slice_size: int = 50  # objects of a LIST page handled between two turns of the loop
    watch_timeout: int = 300
    synced: asyncio.Event = field(default_factory=asyncio.Event)
    _resource_version: str | None = None
    backoff: Backoff = field(default_factory=Backoff)
    lists: int = 0  # how many full LISTs ran: a figure for metrics and tests
    watches: int = 0  # how many WATCH requests were opened
    failure: CacheError | None = None
    _failed: asyncio.Event = field(default_factory=asyncio.Event)
    _confirmed: bool = False  # a watch was accepted once: later refusals are retried
    # keys the controller wrote (``put``) while a LIST was in flight: newer than its
    # snapshot, so their absence from it is no deletion
    _written_during_list: set[Key] | None = None

    def display_name(self) -> str:
        return self.name or self.path

    # -- the loop ------------------------------------------------------------------------

    async def _list(self) -> None:
        # The first LIST's adds queue as bulk (``runtime.initial_list``); a relist's
        # notifications are changes missed during a watch gap: ordinary.
        with initial_list(not self.synced.is_set()):
            await self._list_pages()

    def put(self, obj: Obj) -> None:
        super().put(obj)
        if self._written_during_list is not None:
            self._written_during_list.add(object_key(obj))

    async def _list_pages(self) -> None:
        self._written_during_list = set()
        try:
            await self._list_and_reconcile()
        finally:
            self._written_during_list = None

    async def _list_and_reconcile(self) -> None:
        """The pages into the cache, then whatever the cache holds that the LIST lacks
        reported deleted, except what this process wrote after the LIST began (a create
        answered after the snapshot; if it was deleted since, the watch from the LIST's
        version says so)."""
        seen: set[Key] = set()
        params: dict[str, str] = {"limit": str(self.page_size)}
        if self.label_selector:
            params["labelSelector"] = self.label_selector
        version = None
        while True:
            page = await self.kube.request("GET", self.path, params=params)
            for count, raw in enumerate(page.get("items") or [], 1):
                seen.add(object_key(raw))
                self._apply("ADDED", raw)
                await self._turn(count)
            meta = page.get("metadata") or {}
            version = meta.get("resourceVersion", version)
            token = meta.get("continue")
            if not token:
                break
            params["continue"] = token
        written = self._written_during_list or set()
        for count, key in enumerate(set(self.items) - seen - written, 1):
            vanished = self.items.get(key)  # a write's answer may have changed it meanwhile
            if vanished is not None:
                self._apply("DELETED", vanished)
            await self._turn(count)
        self._resource_version = version or ""  # "": watch from now
        self.lists += 1

    async def _turn(self, count: int) -> None:
        """Give the event loop a turn every ``slice_size`` objects of a LIST: a page of
        500 summarised, indexed and observed by every handler held the loop for up to
        0.8 s at 100,000 actions (``bench/bench_loop.py``), past the Lease renewal and
        the liveness probe."""
        if count % self.slice_size == 0:
            await asyncio.sleep(0)

    async def _watch(self) -> None:
        self.watches += 1
        async for event in self.kube.watch(
            self.path,
            label_selector=self.label_selector,
            resource_version=self._resource_version,
            timeout_seconds=self.watch_timeout,
            accepted=self._accepted,
        ):
            version = (event.object.get("metadata") or {}).get("resourceVersion")
            if version:
                self._resource_version = version
            if event.type != "BOOKMARK":
                self._apply(event.type, event.object)

    def _accepted(self) -> None:
        """The API server accepted a watch: the cache works, and from now on a refusal
        is an API server restarting (one that has not read its CRDs or its RBAC yet
        answers 404 or 403 for a moment), retried, never the end of the cache. Set on
        the answer, not on a first event: a quiet resource may send none for minutes."""
        self._confirmed = True

    async def wait_synced(self) -> None:
        """Return once the first LIST is in the cache; raise ``CacheError`` if it never
        can be."""
        if not self.synced.is_set() and self.failure is None:
            waits = [asyncio.ensure_future(e.wait()) for e in (self.synced, self._failed)]
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for wait in waits:
                    wait.cancel()
        if self.failure is not None:
            raise self.failure

    async def run(self) -> None:
        """LIST then WATCH forever: resume the watch after errors, relist on 410 only.

        Returns (with ``failure`` set) when the API server refuses a cache that never
        worked; ``wait_synced`` then raises."""
        name = self.display_name()
        while True:
            try:
                if self._resource_version is None:
                    await self._list()
                    self.synced.set()
                    # The API server answered a whole LIST: the failures before it are
                    # over. Counted on, they held the watch back for up to ``cap``
                    # seconds after the next short outage (an API server restarted
                    # twice: 27 s of a stale hook cache, measured).
                    self.backoff.reset()
                await self._watch()  # ends normally at the server's timeout: watch again
                self.backoff.reset()
            except asyncio.CancelledError:
                raise
            except Gone:
                log.info("%s: resourceVersion expired; relisting", name)
                self._resource_version = None
            except ApiError as exc:
                if refused(exc) and not self._confirmed:
                    self.failure = CacheError(name, self.path, exc)
                    self._failed.set()
                    log.error("%s", self.failure)
                    return
                await self._pause(name, exc)
            except Exception as exc:  # a dropped connection, a malformed line: resume
                await self._pause(name, exc)

    async def _pause(self, name: str, exc: Exception) -> None:
        delay = self.backoff.next()
        action = "resuming the watch" if self._resource_version else "listing again"
        log.warning("%s: list/watch failed (%r); %s in %.1fs", name, exc, action, delay)
        await asyncio.sleep(delay)


class Informers:
    """One resource watched in several namespaces (or cluster-wide), read as one cache.

    Watching only the namespaces an operator serves needs one informer per namespace
    (a watch takes one namespace or all); this groups them behind the reads and the
    configuration the controllers use.
    """

    def __init__(
        self,
        kube: ListWatchApi,
        path_for: Callable[[str | None], str],
        namespaces: Iterable[str] = (),
        *,
        label_selector: str | None = None,
        transform: Transform = strip_managed_fields,
        name: str = "",
        watch_timeout: int = 300,
    ) -> None:
        scopes: list[str | None] = list(namespaces) or [None]
        self.name = name
        self.members: dict[str | None, Informer] = {
            ns: Informer(
                kube,
                path_for(ns),
                label_selector=label_selector,
                transform=transform,
                name=f"{name}@{ns or '*'}",
                watch_timeout=watch_timeout,
            )
            for ns in scopes
        }

    def _for_key(self, key: Key) -> Informer | None:
        if None in self.members:
            return self.members[None]
        return self.members.get(key.split("/", 1)[0])

    def add_index(self, name: str, func: IndexFunc) -> None:
        for informer in self.members.values():
            informer.add_index(name, func)

    def add_handler(self, handler: Handler) -> None:
        for informer in self.members.values():
            informer.add_handler(handler)

    def get(self, key: Key) -> Obj | None:
        informer = self._for_key(key)
        return informer.get(key) if informer else None

    def put(self, obj: Obj) -> None:
        informer = self._for_key(object_key(obj))
        if informer is not None:
            informer.put(obj)

    def put_if_held(self, answer: Obj) -> bool:
        """Store the answer to a write of an object read from this cache, only while the
        cache still holds that very object (same uid): the watch may have delivered its
        DELETED event before the answer came back, and a deleted object must not return."""
        key = object_key(answer)
        current = self.get(key)
        uid = (answer.get("metadata") or {}).get("uid")
        if current is None or not uid or (current.get("metadata") or {}).get("uid") != uid:
            return False
        self.put(answer)
        return True

    def by_index(self, name: str, value: str) -> list[Obj]:
        found: list[Obj] = []
        for informer in self.members.values():
            found += informer.by_index(name, value)
        return found

    def index_keys(self, name: str, value: str) -> set[Key]:
        keys: set[Key] = set()
        for informer in self.members.values():
            keys |= informer.index_keys(name, value)
        return keys

    def all_keys(self) -> list[Key]:
        return [key for informer in self.members.values() for key in informer.items]

    def __len__(self) -> int:
        return sum(len(informer.items) for informer in self.members.values())

    @property
    def is_synced(self) -> bool:
        return all(informer.synced.is_set() for informer in self.members.values())

    async def wait_synced(self) -> None:
        """Return once every member synced; raise the first ``CacheError``."""
        await asyncio.gather(*(informer.wait_synced() for informer in self.members.values()))

    @property
    def failure(self) -> CacheError | None:
        return next((m.failure for m in self.members.values() if m.failure), None)

    def tasks(self) -> list[asyncio.Task[None]]:
        return [
            asyncio.create_task(informer.run(), name=informer.name)
            for informer in self.members.values()
        ]
