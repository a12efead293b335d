"""The action's status patch, and how a write that may have landed is recognised.

Kept apart from the effects (``controllers.executor``) because a status write has a
problem of its own: a patch that timed out, or a retry that met a Conflict, may have
been stored anyway. Counting such a write as lost would let a reconcile give the slot
it granted to a second action, so the action is read back and a write whose
transition shows (``_LANDMARKS`` as written) counts as written.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from asyncaction.controllers.api_writes import ApiWrites
from asyncaction.kube import ApiError, Conflict, NotFound, paths
from asyncaction.logfields import about

log = logging.getLogger(__name__)
Obj = dict[str, Any]

# Status fields that identify a transition: when they all read back as written, the
# write landed (a timed-out or retried request is checked, never assumed lost).
_LANDMARKS = ("phase", "attempts", "jobName", "failures")


class StatusWriter:
    """Patches ``.status`` of actions (see ``write``)."""

    def __init__(self, writes: ApiWrites) -> None:
        self.writes = writes

    async def write(
        self, action: Mapping[str, Any], status: Mapping[str, Any], *, fresh: bool = False
    ) -> bool:
        """Patch ``.status``: over the cached resourceVersion, or with ``fresh`` over the
        one the API server has now, read first (after effects that took a while).

        False when it did not land (the cache was stale: the watch brings the newer
        version, or the action is gone). A Conflict or a failure after which the write
        may have landed anyway (a timeout, a retried request) is checked by reading
        the action back: a landed write counts as written, so a grant it used is not
        given to a second action.
        """
        meta = action["metadata"]
        path = paths.action_path(meta["namespace"], meta["name"], status=True)
        body: dict[str, Any] = {"status": dict(status)}
        if fresh:
            # Over the version the API server has now, of this very action: a merge patch
            # with no precondition landed on an action deleted and re-created under the
            # same name meanwhile (its TTL work then counted as done: a test against
            # kube-apiserver showed a patch's metadata.uid is no precondition).
            version = await self._current_version(action)
            if version is None:
                return False
            body["metadata"] = {"resourceVersion": version}
        else:
            body["metadata"] = {"resourceVersion": meta["resourceVersion"]}
        try:
            updated = await self.writes.kube.patch(path, body)
        except NotFound:
            return False
        except Conflict:
            landed = await self._read_back(action, status)
            if landed is None:
                log.debug(
                    "status of %s/%s changed meanwhile",
                    meta["namespace"],
                    meta["name"],
                    extra=about(action),
                )
                return False
            updated = landed
        except ApiError as exc:
            if not exc.transient:
                log.error(
                    "status patch of %s/%s refused: %s",
                    meta["namespace"],
                    meta["name"],
                    exc,
                    extra=about(action),
                )
                raise
            landed = await self._read_back(action, status)
            if landed is None:
                raise
            updated = landed
        self.writes.count("asyncactions/status")
        caches = self.writes.caches
        caches.accept(caches.actions, updated, update=True)
        return True

    async def _current(self, action: Mapping[str, Any]) -> Obj | None:
        """The action as the API server has it now; None when it is gone or another
        object (a new uid) has its name."""
        meta = action["metadata"]
        try:
            current = await self.writes.kube.get(paths.action_path(meta["namespace"], meta["name"]))
        except NotFound:
            return None
        if (current.get("metadata") or {}).get("uid") != meta["uid"]:
            return None
        return current

    async def _current_version(self, action: Mapping[str, Any]) -> str | None:
        """The resourceVersion the API server has of ``action`` now (``_current``)."""
        current = await self._current(action)
        return None if current is None else str(current["metadata"]["resourceVersion"])

    async def _read_back(self, action: Mapping[str, Any], status: Mapping[str, Any]) -> Obj | None:
        """The action as it is now, when it shows ``status``'s transition; else None
        (the fresher object goes to the cache either way)."""
        marks = [key for key in _LANDMARKS if key in status]
        if not marks:
            return None  # no transition to recognise: the next reconcile decides again
        current = await self._current(action)
        if current is None:
            return None
        caches = self.writes.caches
        caches.accept(caches.actions, current, update=True)
        now = current.get("status") or {}
        if all(now.get(key) == status[key] for key in marks):
            return current
        return None
