"""The synchronous client, on the maintained ``kubernetes`` package (kubeconfig contexts,
exec credential plugins as EKS, GKE and AKS use, OIDC, in-cluster service accounts).

    from asyncaction_client import Client

    client = Client()                      # current kubeconfig context and namespace
    action = client.submit(template_ref="wordcount", request={"text": "a b"},
                           generate_name="wc-")
    result = client.wait(action["metadata"]["name"], timeout=600)  # or raises ActionFailed
"""

from __future__ import annotations

import builtins
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.rest import ApiException
from kubernetes.watch.watch import iter_resp_lines

from asyncaction_client import errors
from asyncaction_client.connection import (
    context_namespace,
    first_path,
    in_cluster_namespace,
    kubeconfig_paths,
)
from asyncaction_client.contract import (
    ACTION_PLURAL,
    GROUP,
    LABEL_ACTION_UID,
    LABEL_ATTEMPT,
    VERSION,
    utcnow,
)
from asyncaction_client.errors import ActionNotFound, ApiError, WaitTimeout, short_reason
from asyncaction_client.model import (
    Action,
    Filters,
    WatchError,
    backoff,
    build_action,
    interpret,
    is_finished,
    name_of,
    namespace_of,
    rerun_of,
    result_or_raise,
    select,
)

log = logging.getLogger("asyncaction_client")
WATCH_SECONDS = 60
# _watch_once yields this first: the server answered.
CONNECTED: dict[str, Any] = {
    "type": "CONNECTED"
}  # one watch request; the server ends it and the client re-watches
RETRYABLE = (urllib3.exceptions.HTTPError, OSError)


def api_error(exc: ApiException) -> ApiError:
    return errors.api_error(exc.status, exc.body, exc.reason)


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, ApiException):
        return exc.status in (0, 429, 500, 502, 503, 504) or exc.status is None
    return isinstance(exc, RETRYABLE)


class Client:
    """AsyncActions of one cluster. ``namespace`` is the default for every call."""

    def __init__(
        self,
        *,
        kubeconfig: str | os.PathLike[str] | None = None,
        context: str | None = None,
        namespace: str | None = None,
        api_client: k8s.ApiClient | None = None,
    ) -> None:
        found_namespace = None
        if api_client is None:
            paths = kubeconfig_paths(kubeconfig)
            if paths is None:
                k8s_config.load_incluster_config()
                api_client = k8s.ApiClient()
                found_namespace = in_cluster_namespace()
            else:
                api_client = k8s_config.new_client_from_config(config_file=paths, context=context)
                contexts, active = k8s_config.list_kube_config_contexts(config_file=paths)
                found_namespace = context_namespace(contexts, active, context)
                self.kubeconfig_file = first_path(paths)
        self.api = api_client
        self.namespace = namespace or found_namespace or "default"
        self.custom = k8s.CustomObjectsApi(api_client)
        self.core = k8s.CoreV1Api(api_client)
        self.batch = k8s.BatchV1Api(api_client)

    def close(self) -> None:
        self.api.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- create and read ------------------------------------------------------------------

    def submit(
        self,
        manifest: Mapping[str, Any] | None = None,
        *,
        namespace: str | None = None,
        name: str | None = None,
        generate_name: str | None = None,
        template_ref: str | None = None,
        request: Mapping[str, Any] | None = None,
        queue: str | None = None,
        priority: int | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> Action:
        """Create an action from ``manifest`` and/or the options; returns it as created."""
        body = build_action(
            base=manifest,
            name=name,
            generate_name=generate_name,
            template_ref=template_ref,
            request=request,
            queue=queue,
            priority=priority,
            labels=labels,
        )
        ns = namespace or (manifest or {}).get("metadata", {}).get("namespace") or self.namespace
        body["metadata"].pop("namespace", None)
        try:
            created: Action = self.custom.create_namespaced_custom_object(
                GROUP, VERSION, ns, ACTION_PLURAL, body
            )
        except ApiException as exc:
            raise api_error(exc) from None
        return created

    def get(self, name: str, namespace: str | None = None) -> Action:
        ns = namespace or self.namespace
        try:
            action: Action = self.custom.get_namespaced_custom_object(
                GROUP, VERSION, ns, ACTION_PLURAL, name
            )
        except ApiException as exc:
            if exc.status == 404:
                raise ActionNotFound(ns, name) from None
            raise api_error(exc) from None
        return action

    def _list_raw(
        self,
        namespace: str | None,
        all_namespaces: bool,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if label_selector:
            kwargs["label_selector"] = label_selector
        if field_selector:
            kwargs["field_selector"] = field_selector
        if all_namespaces:
            listed: dict[str, Any] = self.custom.list_cluster_custom_object(
                GROUP, VERSION, ACTION_PLURAL, **kwargs
            )
        else:
            listed = self.custom.list_namespaced_custom_object(
                GROUP, VERSION, namespace or self.namespace, ACTION_PLURAL, **kwargs
            )
        return listed

    def list(
        self,
        namespace: str | None = None,
        *,
        all_namespaces: bool = False,
        label_selector: str | None = None,
        filters: Filters | None = None,
    ) -> list[Action]:
        """Actions oldest first; the label selector runs on the server, ``filters`` here."""
        try:
            listed = self._list_raw(namespace, all_namespaces, label_selector)
        except ApiException as exc:
            raise api_error(exc) from None
        return select(listed.get("items") or [], filters or Filters(), utcnow())

    # -- watch and wait -------------------------------------------------------------------

    def watch(
        self,
        name: str | None = None,
        namespace: str | None = None,
        *,
        all_namespaces: bool = False,
        label_selector: str | None = None,
        timeout: float | None = None,
    ) -> Iterator[Action]:
        """Every matching action as listed, then each time one changes, until ``timeout``
        (forever when None). Watch timeouts, 410 Gone and API server restarts are handled
        by re-watching or re-listing, with backoff while the server is unreachable. A
        deleted action is yielded once more with ``metadata.deletionTimestamp`` set."""
        deadline = None if timeout is None else time.monotonic() + timeout
        field = f"metadata.name={name}" if name else None
        ns = namespace or self.namespace
        for kind, action in self._events(ns, all_namespaces, field, label_selector, deadline):
            if kind == "DELETED":
                meta = action.setdefault("metadata", {})
                meta.setdefault("deletionTimestamp", utcnow().isoformat())
            yield action

    def _events(
        self,
        namespace: str,
        all_namespaces: bool,
        field_selector: str | None,
        label_selector: str | None,
        deadline: float | None,
    ) -> Iterator[tuple[str, Action]]:
        version: str | None = None
        failures = 0
        listed_once = False
        # The first list runs even when the deadline has passed: a wait with no time left
        # still reports an action that had already finished.
        while not listed_once or deadline is None or time.monotonic() < deadline:
            try:
                if version is None:
                    listed = self._list_raw(
                        namespace, all_namespaces, label_selector, field_selector
                    )
                    listed_once = True
                    version = listed["metadata"]["resourceVersion"]
                    failures = 0
                    log.info(
                        "listed %d action(s) at version %s; watching",
                        len(listed.get("items") or []),
                        version,
                    )
                    for item in listed.get("items") or []:
                        yield "LISTED", item
                    if field_selector and not listed.get("items"):
                        yield "MISSING", {}
                    if deadline is not None and time.monotonic() >= deadline:
                        return
                seconds = WATCH_SECONDS
                if deadline is not None:
                    seconds = max(1, min(WATCH_SECONDS, int(deadline - time.monotonic()) + 1))
                for event in self._watch_once(
                    namespace, all_namespaces, field_selector, label_selector, version, seconds
                ):
                    if event is CONNECTED:
                        if failures:
                            log.info("reconnected; watching from version %s", version)
                        failures = 0
                        continue
                    step = interpret(event, version)
                    if step.relist:
                        version = None
                        break
                    version = step.resource_version
                    if step.action is not None:
                        yield "CHANGED", step.action
                    if step.deleted is not None:
                        yield "DELETED", step.deleted
            except ApiException as exc:
                if exc.status == 410:
                    version = None
                    continue
                if not _retryable(exc):
                    raise api_error(exc) from None
                failures += 1
                self._pause(failures, deadline, exc)
            except (WatchError, *RETRYABLE) as exc:
                failures += 1
                self._pause(failures, deadline, exc)

    @staticmethod
    def _pause(failures: int, deadline: float | None, exc: BaseException) -> None:
        delay = backoff(failures)
        if deadline is not None:
            delay = max(0.0, min(delay, deadline - time.monotonic()))
        log.warning("watch interrupted (%s); reconnecting in %.1fs", short_reason(exc), delay)
        time.sleep(delay)

    def _watch_once(
        self,
        namespace: str,
        all_namespaces: bool,
        field_selector: str | None,
        label_selector: str | None,
        version: str,
        seconds: int,
    ) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "watch": True,
            "resource_version": version,
            "timeout_seconds": seconds,
            "allow_watch_bookmarks": True,
            "_preload_content": False,
            "_request_timeout": (10, seconds + 30),
        }
        if field_selector:
            kwargs["field_selector"] = field_selector
        if label_selector:
            kwargs["label_selector"] = label_selector
        if all_namespaces:
            response = self.custom.list_cluster_custom_object(
                GROUP, VERSION, ACTION_PLURAL, **kwargs
            )
        else:
            response = self.custom.list_namespaced_custom_object(
                GROUP, VERSION, namespace, ACTION_PLURAL, **kwargs
            )
        try:
            yield CONNECTED
            for line in iter_resp_lines(response):
                if line:
                    yield json.loads(line)
        finally:
            response.close()
            response.release_conn()

    def wait_finished(
        self,
        name: str,
        namespace: str | None = None,
        *,
        timeout: float | None = None,
        on_update: Callable[[Action], None] | None = None,
    ) -> Action:
        """The action once in a terminal phase, whatever the outcome. ``on_update`` sees
        every state on the way. Raises WaitTimeout, or ActionNotFound (also if deleted)."""
        ns = namespace or self.namespace
        deadline = None if timeout is None else time.monotonic() + timeout
        last: Action | None = None
        for kind, action in self._events(ns, False, f"metadata.name={name}", None, deadline):
            if kind in ("MISSING", "DELETED"):
                raise ActionNotFound(ns, name)
            last = action
            if on_update is not None:
                on_update(action)
            if is_finished(action):
                return action
        raise WaitTimeout(name, timeout or 0.0, last)

    def wait(
        self,
        name: str,
        namespace: str | None = None,
        *,
        timeout: float | None = None,
        on_update: Callable[[Action], None] | None = None,
    ) -> dict[str, Any]:
        """Block until the action finishes; its ``status.result`` when it SUCCEEDED.
        Raises ActionFailed (FAILED, ABORTED, TIMEOUT), WaitTimeout or ActionNotFound."""
        return result_or_raise(
            self.wait_finished(name, namespace, timeout=timeout, on_update=on_update)
        )

    def run(
        self,
        manifest: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        """``submit`` then ``wait``: the synchronous mode of a service that runs work."""
        created = self.submit(manifest, **options)
        return self.wait(name_of(created), namespace_of(created), timeout=timeout)

    # -- change ---------------------------------------------------------------------------

    def patch_spec(
        self, name: str, spec: Mapping[str, Any], namespace: str | None = None
    ) -> Action:
        ns = namespace or self.namespace
        try:
            patched: Action = self.custom.patch_namespaced_custom_object(
                GROUP, VERSION, ns, ACTION_PLURAL, name, {"spec": dict(spec)}
            )
        except ApiException as exc:
            if exc.status == 404:
                raise ActionNotFound(ns, name) from None
            raise api_error(exc) from None
        return patched

    def pause(self, name: str, namespace: str | None = None) -> Action:
        return self.patch_spec(name, {"suspend": True}, namespace)

    def resume(self, name: str, namespace: str | None = None) -> Action:
        return self.patch_spec(name, {"suspend": False}, namespace)

    def abort(self, name: str, namespace: str | None = None) -> Action:
        return self.patch_spec(name, {"abort": True}, namespace)

    def rerun(
        self, name: str, namespace: str | None = None, *, generate_name: str | None = None
    ) -> Action:
        """A new action with the same spec; the old one stays as the record of its run."""
        old = self.get(name, namespace)
        return self.submit(rerun_of(old, generate_name), namespace=namespace_of(old))

    # -- what happened --------------------------------------------------------------------

    def events(self, action: Mapping[str, Any]) -> builtins.list[Any]:
        """Events about the action, oldest first (V1Event / CoreV1Event objects)."""
        meta = action["metadata"]
        events = self.core.list_namespaced_event(
            meta["namespace"], field_selector=f"involvedObject.uid={meta['uid']}"
        ).items
        return sorted(
            events,
            key=lambda e: str(e.last_timestamp or e.event_time or e.metadata.creation_timestamp),
        )

    def jobs(self, action: Mapping[str, Any]) -> builtins.list[Any]:
        """The action's Jobs, one per attempt, by attempt."""
        meta = action["metadata"]
        jobs = self.batch.list_namespaced_job(
            meta["namespace"], label_selector=f"{LABEL_ACTION_UID}={meta['uid']}"
        ).items
        return sorted(jobs, key=lambda j: int((j.metadata.labels or {}).get(LABEL_ATTEMPT, 0)))

    def pods(self, action: Mapping[str, Any], attempt: int | None = None) -> builtins.list[Any]:
        """Pods of one attempt (the current one when None), newest last."""
        meta = action["metadata"]
        status = action.get("status") or {}
        number = attempt if attempt is not None else int(status.get("attempts") or 0)
        selector = f"{LABEL_ACTION_UID}={meta['uid']},{LABEL_ATTEMPT}={number}"
        pods = self.core.list_namespaced_pod(meta["namespace"], label_selector=selector).items
        return sorted(pods, key=lambda p: str(p.metadata.creation_timestamp))

    def pod_log(self, pod: Any, *, follow: bool = False, tail: int | None = None) -> Iterator[str]:
        """Lines of the pod's first container, from the API server (which asks the node)."""
        kwargs: dict[str, Any] = {"follow": follow, "_preload_content": False}
        if tail is not None:
            kwargs["tail_lines"] = tail
        container = pod.spec.containers[0].name
        try:
            response = self.core.read_namespaced_pod_log(
                pod.metadata.name, pod.metadata.namespace, container=container, **kwargs
            )
        except ApiException as exc:
            raise api_error(exc) from None
        try:
            yield from iter_resp_lines(response)
        finally:
            response.close()
            response.release_conn()


def actions_by_name(client: Client, names: Sequence[str], namespace: str | None) -> list[Action]:
    return [client.get(name, namespace) for name in names]
