"""One action controller over an in-memory API (``FakeKube``), its caches fed by hand.

``World.observe`` plays a watch event into a cache the way the informer receives it
(the object as the API server has it, summarised by the cache's transform); a reconcile
then runs exactly as in the operator, against the fake's four verbs.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asyncaction.controllers.actions import ActionController
from asyncaction.controllers.admission import Admissions, QueueLimits
from asyncaction.controllers.caches import (
    Caches,
    summarize_action,
    summarize_job,
    summarize_pod,
    summarize_secret,
)
from asyncaction.kube import paths
from asyncaction.runtime import Informers, Metrics, WorkQueue
from asyncaction.runtime.indexed_cache import Transform, strip_managed_fields
from asyncaction.runtime.result import Result
from asyncaction.settings import OperatorSettings
from tests.unit.controllers.fakekube import FakeKube

NS = "team-a"
API_VERSION = "asyncaction.dev/v1alpha1"


def action_object(name: str, *, queue: str | None = None, **spec: Any) -> dict[str, Any]:
    """An AsyncAction as ``kubectl apply`` would send it (cf. examples/hello.yaml)."""
    body: dict[str, Any] = {
        "request": {"who": "world"},
        "template": {
            "spec": {
                "containers": [{"name": "main", "image": "python:3.12-slim", "command": ["true"]}]
            }
        },
        **spec,
    }
    if queue is not None:
        body["queue"] = queue
    return {
        "apiVersion": API_VERSION,
        "kind": "AsyncAction",
        "metadata": {
            "name": name,
            "namespace": NS,
            "generation": 1,
            "managedFields": [{"manager": "kubectl", "operation": "Update"}],
        },
        "spec": body,
    }


def _informers(kube: FakeKube, path_for: Any, name: str, transform: Transform) -> Informers:
    return Informers(kube, path_for, [NS], name=name, transform=transform)


@dataclass
class World:
    keys_file: Path
    settings_changes: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.kube = FakeKube()
        self.caches = Caches(
            actions=_informers(self.kube, paths.action_path, "asyncactions", summarize_action),
            jobs=_informers(self.kube, paths.job_path, "jobs", summarize_job),
            pods=_informers(self.kube, paths.pod_path, "pods", summarize_pod),
            secrets=_informers(self.kube, paths.secret_path, "secrets", summarize_secret),
            templates=_informers(
                self.kube, paths.template_path, "actiontemplates", strip_managed_fields
            ),
            queues=_informers(self.kube, paths.queue_path, "actionqueues", strip_managed_fields),
        )
        settings = OperatorSettings(
            master_keys_file=str(self.keys_file),
            hook_url="http://hook.test:8080",
            **self.settings_changes,
        )
        self.admissions = Admissions(settings.default_max_concurrent)  # as the Manager
        self.admissions.open = True
        self.queue = WorkQueue("actions")
        self.metrics = Metrics()
        self.controller = ActionController(
            self.kube,
            settings,
            self.caches,
            self.admissions,
            self.queue,
            self.metrics,
        )

    def limit(self, queue: str, max_concurrent: int | None) -> None:
        self.admissions.set_limits((NS, queue), QueueLimits(max_concurrent))

    # -- the watch, played by hand -------------------------------------------------------

    def observe(self, cache: Informers, obj: dict[str, Any], event: str = "MODIFIED") -> None:
        informer = cache.members[NS]
        informer._apply(event, copy.deepcopy(obj))

    def changed(self, cache: Informers, obj: dict[str, Any]) -> None:
        """``obj`` (as stored in the fake) was changed by someone else: a new version."""
        self.kube._stamp(obj)
        self.observe(cache, obj)

    def set_status(self, name: str, **fields: Any) -> None:
        """Another writer (the hook, a test's clock) changed the action's status."""
        obj = self.stored(name)
        obj.setdefault("status", {}).update(fields)
        self.changed(self.caches.actions, obj)

    def create_action(self, obj: dict[str, Any]) -> dict[str, Any]:
        stored = self.kube.seed(paths.action_path(NS), obj)
        self.observe(self.caches.actions, stored, "ADDED")
        return stored

    def stored(self, name: str) -> dict[str, Any]:
        return self.kube.objects[paths.action_path(NS, name)]

    def edit(self, name: str, **spec: Any) -> dict[str, Any]:
        """A user's edit of the spec, seen through the watch."""
        obj = self.stored(name)
        obj["spec"].update(spec)
        obj["metadata"]["generation"] += 1
        self.kube._stamp(obj)
        self.observe(self.caches.actions, obj)
        return obj

    def delete_action(self, name: str) -> dict[str, Any]:
        obj = self.kube.objects.pop(paths.action_path(NS, name))
        self.observe(self.caches.actions, obj, "DELETED")
        return obj

    def status(self, name: str) -> dict[str, Any]:
        return dict(self.stored(name).get("status") or {})

    def cached(self, name: str) -> dict[str, Any] | None:
        return self.caches.actions.get(f"{NS}/{name}")

    async def reconcile(self, name: str) -> Result:
        return await self.controller.reconcile(f"{NS}/{name}")

    def pod_for(self, job: dict[str, Any], phase: str) -> dict[str, Any]:
        """The Pod the Job controller makes for ``job``, in ``phase``."""
        labels = dict(job["metadata"]["labels"])
        labels["job-name"] = job["metadata"]["name"]
        return self.kube.seed(
            paths.pod_path(NS),
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"{job['metadata']['name']}-x7k2q",
                    "namespace": NS,
                    "labels": labels,
                },
                "status": {"phase": phase},
            },
        )
