"""The hook's view of actions and templates, built on the operator's runtime informer.

The hook reads no Secret: a job's key is derived (``asyncaction.keys``) from the action's
namespace, uid and current attempt, all of which this cache holds. It is the runtime's
``asyncaction.runtime.informer.Informers`` (paginated LIST, WATCH resumed from the last
resourceVersion, relist after an error or 410), so the hook has no watch loop of its own.

What it keeps is a summary (``summarize_action``): what authentication (uid, namespace,
attempt), status writes (phase, resourceVersion), tenancy and the data plane (the S3
parts of the spec, recorded outputs, pending uploads) need, for a running action the
size of its status (so a progress write needs no read), and for an action made of
tasks the task list and its settings (the task routes lease from it; reading a
10,000-task action from the API server on every lease would cost ~700 KB each). No
managedFields, no ``request`` payload, no ``logTail``, ``statusDetails`` or ``result``:
at 100,000 actions whole objects cost gigabytes, these summaries a few hundred bytes each.
A finished action keeps less still: its name, namespace, uid and a status dict shared by
every action that ended in the same phase.

Shards: with several hook replicas the operator labels each action with its shard
(``asyncaction.api.names.LABEL_HOOK_SHARD``) before its Job exists, and each replica
selects only its own shard's actions on the server, so a replica caches, sweeps and
holds state for its shard alone.

An id the cache does not know is answered from the cache alone (404 once it is synced
and fresh, held then 503 while it is not), never by an API call, so requests with
made-up ids cost the API server nothing. Templates are cached the same way: uploads and
downloads cost no API read.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from asyncaction.api.names import LABEL_HOOK_SHARD
from asyncaction.kube import ApiError, Gone, paths
from asyncaction.kube.api import CachedReadApi, ListWatchApi
from asyncaction.kube.client import WatchEvent
from asyncaction.runtime.indexed_cache import Handler, Obj
from asyncaction.runtime.informer import Informers
from asyncaction_hook.limits import json_size

# The parts of the spec the hook reads (``GET /action`` reads ``request`` fresh).
SPEC_FIELDS = ("template", "templateRef", "arguments", "inputs", "outputs")
# What the task routes read (``asyncaction_hook.tasks``); numbers are kept when 0.
TASK_FIELDS = ("tasks", "excludedTasks", "taskRetry")
TASK_NUMBERS = ("taskLeaseSeconds", "taskRetryLimit")
STREAMS = ("stdin", "stdout", "stderr")
STATUS_FIELDS = ("phase", "attempts", "outputs", "pendingUploads")
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "ABORTED", "TIMEOUT"})
RUNNING_PHASES = frozenset({"STARTING", "RUNNING"})
STATUS_BYTES = "statusBytes"  # a running action's summary: json_size of its whole status
# The status summary of a finished action without pending uploads, shared by all.
FINISHED_STATUS: Mapping[str, Obj] = {phase: {"phase": phase} for phase in TERMINAL}


def summarize_action(action: Obj) -> Obj:
    """The few fields of an action the hook reads; ``template`` becomes a presence flag
    (the pod template is the operator's business, the hook only needs to know the action
    carries one instead of a ``templateRef``). A finished action keeps only its phase
    (the hook answers its late reports 409 and serves it nothing else) and its pending
    uploads until the sweep has recorded or expired them. Empty parts are
    left out and repeated strings interned: at 100,000 actions every byte counts."""
    meta = action.get("metadata") or {}
    status = action.get("status") or {}
    summary: Obj = {
        "metadata": {
            key: sys.intern(meta[key]) if key == "namespace" else meta[key]
            for key in ("name", "namespace", "uid", "resourceVersion")
            if key in meta
        }
    }
    phase = status.get("phase")
    if phase in TERMINAL:
        if status.get("pendingUploads"):  # a job may upload and end without reporting:
            summary["status"] = {"phase": sys.intern(phase)}  # the sweep records them
            summary["status"]["pendingUploads"] = status["pendingUploads"]
            return summary
        # Most of 100,000 cached actions are finished: no resourceVersion (nothing writes
        # them here) and one status dict per phase, shared (never mutated): 240 bytes less
        # each (bench/bench_hook_memory.py).
        summary["metadata"].pop("resourceVersion", None)
        summary["status"] = FINISHED_STATUS[phase]
        return summary
    spec = action.get("spec") or {}
    summary_spec: dict[str, Any] = {}
    # What the action sets is kept as it sets it, empty lists included: a set field
    # replaces the template's, so an action's ``outputs: []`` clears the template's
    # outputs; dropped here as falsy, uploads went to the template's (found by a review).
    for name in SPEC_FIELDS:
        value = spec.get(name)
        if name == "template":
            if value:
                summary_spec[name] = True
        elif value is not None:
            summary_spec[name] = value
    for name in STREAMS:
        value = spec.get(name)
        if isinstance(value, dict):  # a pipe too: it overrides a template's uri stream
            summary_spec[name] = value
    if spec.get("tasks") or spec.get("templateRef"):  # tasks of its own or its template's
        summary_spec.update((k, spec[k]) for k in TASK_FIELDS if spec.get(k) is not None)
        summary_spec.update((k, spec[k]) for k in TASK_NUMBERS if spec.get(k) is not None)
    if summary_spec:
        summary["spec"] = summary_spec
    if status.get("phase") in RUNNING_PHASES and not spec.get("tasks"):
        # the status's JSON size as the API server has it: a write from this summary
        # can then bound the whole status without reading it (``StatusWriter.apply``).
        # Not for an action made of tasks: its status (every task's state) is large and
        # changes with every lease, and its writes read it fresh anyway.
        summary[STATUS_BYTES] = json_size(status)
    summary_status = {key: status[key] for key in STATUS_FIELDS if status.get(key) is not None}
    if isinstance(summary_status.get("phase"), str):
        summary_status["phase"] = sys.intern(summary_status["phase"])
    if summary_status:
        summary["status"] = summary_status
    return summary


def summarize_template(template: Obj) -> Obj:
    meta = template.get("metadata") or {}
    spec = dict(template.get("spec") or {})
    spec.pop("template", None)  # the pod template: the operator's part
    return {
        "metadata": {
            key: meta[key] for key in ("name", "namespace", "resourceVersion") if key in meta
        },
        "spec": spec,
    }


def _uid_of(obj: Mapping[str, Any]) -> list[str]:
    uid = (obj.get("metadata") or {}).get("uid")
    return [str(uid)] if uid else []


def shard_selector(shard: int, shards: int) -> str | None:
    """The server-side label selector of one replica (None: one replica sees all)."""
    return f"{LABEL_HOOK_SHARD}={shard}" if shards > 1 else None


class _WatchHealth:
    """Passes the informer's requests through and records whether they succeed: the
    informer relists on its own, but the hook must also know when its view is stale (an
    unknown id is then "retry", not "no such action")."""

    def __init__(self, kube: ListWatchApi, on_change: Callable[[str, bool], None]) -> None:
        self.kube = kube
        self.on_change = on_change  # (the collection's path, whether it is current)

    async def request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            answer = await self.kube.request(method, path, **kwargs)
        except ApiError:
            self.on_change(path, False)
            raise
        if method == "GET" and not (answer.get("metadata") or {}).get("continue"):
            self.on_change(path, True)  # a whole LIST is in: this view is current again
        return answer

    async def watch(self, path: str, **kwargs: Any) -> AsyncIterator[WatchEvent]:
        try:
            async for event in self.kube.watch(path, **kwargs):
                self.on_change(path, True)
                yield event
        except (Gone, asyncio.CancelledError):
            raise  # a 410 relists at once (the view stays current); a stop is no failure
        except Exception:
            self.on_change(path, False)  # any failure of the watch: it may be stale
            raise


class ActionCache:
    """uid -> action summary for this replica's shard, plus the templates it resolves."""

    def __init__(
        self,
        kube: CachedReadApi,
        *,
        shard: int = 0,
        shards: int = 1,
        namespaces: tuple[str, ...] = (),
        page_size: int = 500,
    ) -> None:
        self.kube = kube
        self.stale_since: float | None = None  # the oldest failure not yet healed
        self.errors = 0
        # Each collection's own staleness (actions and templates, per namespace): one
        # healing must not vouch for another (the templates listed again after an API
        # server restart while the actions' watch still failed, and a new action was
        # answered 404 "unknown job id" instead of 503).
        self._stale: dict[str, float] = {}
        tracked = _WatchHealth(kube, self._health)
        self.actions = Informers(
            tracked,
            paths.action_path,
            namespaces,
            label_selector=shard_selector(shard, shards),
            transform=summarize_action,
            name="hook-actions",
        )
        self.templates = Informers(
            tracked,
            paths.template_path,
            namespaces,
            transform=summarize_template,
            name="hook-templates",
        )
        for informer in self.actions.members.values():
            informer.page_size = page_size
        # uid -> the cached summary's metadata (its namespace and name make the informer's
        # key), kept by a handler: a plain dict (an index keeps a set per uid), holding
        # no string of its own (a key string per action was 63 bytes at 100,000 actions).
        self._meta: dict[str, Obj] = {}
        self.actions.add_handler(self._track_uid)
        self._tasks: list[asyncio.Task[None]] = []
        self._synced = False

    def _health(self, path: str, ok: bool) -> None:
        if ok:
            if self._stale.pop(path, None) is None:
                return
        elif path not in self._stale:
            self.errors += 1
            self._stale[path] = time.monotonic()
        self.stale_since = min(self._stale.values(), default=None)

    def _track_uid(self, event: str, new: Obj | None, old: Obj | None) -> None:
        """uid -> metadata; an object re-created under its name (a new uid) replaces the
        old. A summary replaced without an event (only its resourceVersion changed) leaves
        the older metadata here: its namespace and name are the same."""
        for uid in _uid_of(old or {}):
            if event == "DELETED" or uid not in _uid_of(new or {}):
                self._meta.pop(uid, None)
        if new is not None and event != "DELETED":
            for uid in _uid_of(new):
                self._meta[uid] = new["metadata"]

    def add_handler(self, handler: Handler) -> None:
        self.actions.add_handler(handler)

    def start(self) -> None:
        self._tasks = [*self.actions.tasks(), *self.templates.tasks()]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    @property
    def synced(self) -> bool:
        """Both caches listed once (it stays true: a relist keeps serving the old view)."""
        if not self._synced:
            self._synced = self.actions.is_synced and self.templates.is_synced
        return self._synced

    @property
    def ready(self) -> bool:
        """Synced, and no list or watch failed since the last event."""
        return self.synced and self.stale_since is None

    async def wait_synced(self, within: float) -> bool:
        """Wait up to ``within`` seconds for the first sync (requests are held meanwhile)."""
        if not self.synced:
            try:
                await asyncio.wait_for(self._both_synced(), within)
            except TimeoutError:
                return False
        return True

    async def _both_synced(self) -> None:
        # one after the other: a gather of the two, cancelled with its waiter (a hook
        # that stops before its first sync), logged "exception was never retrieved"
        await self.actions.wait_synced()
        await self.templates.wait_synced()

    def action(self, uid: str) -> Obj | None:
        meta = self._meta.get(uid)
        found = self.actions.get(f"{meta['namespace']}/{meta['name']}") if meta else None
        if found is not None and (found.get("metadata") or {}).get("uid") != uid:
            return None  # re-created under the same name: another action now
        return found

    def template(self, namespace: str, name: str) -> Obj | None:
        return self.templates.get(f"{namespace}/{name}")

    def uids(self) -> list[str]:
        return [
            uid
            for informer in self.actions.members.values()
            for obj in informer.items.values()
            for uid in _uid_of(obj)
        ]

    def put(self, obj: Obj) -> None:
        """A write's answer: cached before its watch event arrives."""
        self.actions.put(obj)

    async def fresh_action(self, uid: str) -> Obj | None:
        """The action as the API server has it now (for writes); only for known uids."""
        cached = self.action(uid)
        if cached is None:
            return None
        meta = cached["metadata"]
        try:
            obj = await self.kube.get(paths.action_path(meta["namespace"], meta["name"]))
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        if obj["metadata"].get("uid") != uid:
            return None
        self.put(obj)
        return obj


def is_terminal(action: Mapping[str, Any] | None) -> bool:
    return ((action or {}).get("status") or {}).get("phase") in TERMINAL
