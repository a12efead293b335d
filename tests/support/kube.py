"""Synchronous Kubernetes helpers for tests (test code is sync; the operator is not)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from kubernetes import client, config

from asyncaction.api.names import ACTION_PLURAL, GROUP, VERSION

T = TypeVar("T")


@dataclass
class Kube:
    """The typed APIs of one identity, built from a kubeconfig."""

    kubeconfig: Path
    api: client.ApiClient

    @classmethod
    def from_kubeconfig(cls, path: Path) -> Kube:
        return cls(path, config.new_client_from_config(config_file=str(path)))

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @property
    def batch(self) -> client.BatchV1Api:
        return client.BatchV1Api(self.api)

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    @property
    def rbac(self) -> client.RbacAuthorizationV1Api:
        return client.RbacAuthorizationV1Api(self.api)

    @property
    def coordination(self) -> client.CoordinationV1Api:
        return client.CoordinationV1Api(self.api)

    @property
    def extensions(self) -> client.ApiextensionsV1Api:
        return client.ApiextensionsV1Api(self.api)

    def create_action(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AsyncAction", **body}
        result: dict[str, Any] = self.custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, ACTION_PLURAL, body
        )
        return result

    def create_object(
        self, namespace: str, plural: str, kind: str, name: str, spec: dict[str, Any]
    ) -> dict[str, Any]:
        """Create an ActionQueue, ActionTemplate (or AsyncAction) from its spec."""
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": kind,
            "metadata": {"name": name},
            "spec": spec,
        }
        result: dict[str, Any] = self.custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, plural, body
        )
        return result

    def get_action(self, namespace: str, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, namespace, ACTION_PLURAL, name
        )
        return result

    def patch_action(self, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, ACTION_PLURAL, name, patch
        )
        return result

    def list_actions(self, namespace: str) -> list[dict[str, Any]]:
        result = self.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, ACTION_PLURAL)
        items: list[dict[str, Any]] = result["items"]
        return items

    def event_reasons(self, namespace: str, name: str) -> Counter[str]:
        """The reasons of the Events about ``name``, each as often as it happened."""
        events = self.core.list_namespaced_event(
            namespace, field_selector=f"involvedObject.name={name}"
        ).items
        return Counter(e.reason for e in events for _ in range(e.count or 1))

    def jobs_of(self, namespace: str, action_uid: str) -> list[Any]:
        from asyncaction.api.names import LABEL_ACTION_UID

        jobs = self.batch.list_namespaced_job(
            namespace, label_selector=f"{LABEL_ACTION_UID}={action_uid}"
        )
        return list(jobs.items)

    def wait_phase(
        self, namespace: str, name: str, phases: set[str] | str, timeout: float = 60
    ) -> dict[str, Any]:
        wanted = {phases} if isinstance(phases, str) else phases

        def check() -> dict[str, Any] | None:
            action = self.get_action(namespace, name)
            return action if action.get("status", {}).get("phase") in wanted else None

        return wait_for(
            check,
            timeout,
            f"{namespace}/{name} to reach {sorted(wanted)}",
            lambda: self.get_action(namespace, name).get("status"),
        )


def action_manifest(name: str, command: list[str], **spec: Any) -> dict[str, Any]:
    """An AsyncAction whose one container runs ``command`` (the node agent runs it locally)."""
    container = {"name": "main", "image": "unused-by-the-node-agent", "command": command}
    return {
        "metadata": {"name": name},
        "spec": {"template": {"spec": {"containers": [container]}}, **spec},
    }


def wait_for(
    check: Callable[[], T | None],
    timeout: float,
    what: str,
    describe: Callable[[], object] | None = None,
    interval: float = 0.2,
) -> T:
    """Poll ``check`` until it returns something truthy; fail with what was last seen."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            seen = describe() if describe else None
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what}; last seen: {seen}"
            )
        time.sleep(interval)
