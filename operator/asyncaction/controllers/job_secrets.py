"""The action's Secret: the one place that writes a job's key material.

Kept apart from the other effects (``controllers.executor``) because the Secret has
rules of its own: it is found by its owner's uid, never by name; it holds the key of
one attempt at a time (derived from the master keys, ``asyncaction.keys``) and says
which in an annotation, since the cache keeps no Secret data; a Secret of the same
name owned by someone else (an earlier action of the same name, not yet
garbage-collected) is deleted, never adopted; an immutable Secret written before keys
were derived per attempt is deleted and written again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from asyncaction.controllers.api_writes import ApiWrites
from asyncaction.controllers.caches import BY_OWNER_UID, key_attempt_of, owned_by
from asyncaction.keys import MasterKeysFile
from asyncaction.kube import AlreadyExists, ApiError, NotFound, paths
from asyncaction.logfields import about
from asyncaction.manifests import build_secret

log = logging.getLogger(__name__)
Obj = dict[str, Any]


class JobSecrets:
    """Finds and writes the Secret that holds an action's current job key."""

    def __init__(self, writes: ApiWrites, master_keys: MasterKeysFile) -> None:
        self.writes = writes
        self.master_keys = master_keys

    def find(self, action: Mapping[str, Any]) -> Obj | None:
        """The action's live Secret in the cache (by owner uid), if any."""
        uid = action["metadata"]["uid"]
        live = [
            s
            for s in self.writes.caches.secrets.by_index(BY_OWNER_UID, uid)
            if not s["metadata"].get("deletionTimestamp")
        ]
        return live[0] if live else None

    async def ensure(self, action: Mapping[str, Any], attempt: int) -> Obj:
        """The action's Secret holds the key of ``attempt`` before that attempt's Job is
        created (see the module docstring for what is found, replaced or deleted)."""
        kube, caches = self.writes.kube, self.writes.caches
        meta = action["metadata"]
        ns = meta["namespace"]
        found = self.find(action)
        if found is not None and key_attempt_of(found) == attempt:
            return found
        key = self.master_keys.current().issue(ns, meta["uid"], attempt)
        wanted = build_secret(action, key, attempt=attempt)
        name = wanted["metadata"]["name"]
        path = paths.secret_path(ns, name)
        for _ in range(3):
            if found is not None:
                replaced = await self._replace(path, found, wanted)
                if replaced is not None:
                    return replaced
                found = None  # an immutable Secret of an earlier version: deleted
                continue
            try:
                created = await kube.create(paths.secret_path(ns), wanted)
            except AlreadyExists:
                try:
                    existing = await kube.get(path)
                except NotFound:
                    continue
                if owned_by(existing, meta["uid"]):
                    if key_attempt_of(existing) == attempt:
                        caches.accept(caches.secrets, existing, update=False)
                        return existing
                    found = existing
                    continue
                log.info(
                    "secret %s/%s belongs to an earlier action: replaced",
                    ns,
                    name,
                    extra=about(action),
                )
                await self.writes.delete(path)
                continue
            return self.writes.created(caches.secrets, "secrets", created)
        raise ApiError(409, "Conflict", f"secret {ns}/{name} could not be written")

    async def _replace(self, path: str, existing: Obj, wanted: Obj) -> Obj | None:
        """Write ``wanted``'s key and annotation over ``existing``; None when the Secret
        was immutable (written before keys were derived per attempt) and was deleted."""
        body = {
            "metadata": {
                "resourceVersion": existing["metadata"].get("resourceVersion"),
                "annotations": wanted["metadata"]["annotations"],
            },
            "data": wanted["data"],
        }
        try:
            updated = await self.writes.kube.patch(path, body)
        except ApiError as exc:
            if exc.status != 422:
                raise
            await self.writes.delete(path)
            return None
        self.writes.count("secrets")
        caches = self.writes.caches
        caches.accept(caches.secrets, updated, update=False)
        return updated
