"""The synchronous client, on the maintained ``kubernetes`` package (kubeconfig contexts,
exec credential plugins as EKS, GKE and AKS use, OIDC, in-cluster service accounts).

    from asyncaction_client import Client

    client = Client()                      # current kubeconfig context and namespace
    action = client.submit(template_ref="wordcount", request={"text": "a b"},
                           generate_name="wc-")
    result = client.wait(action["metadata"]["name"], timeout=600)  # or raises ActionFailed

Watching and waiting live in ``asyncaction_client.sync_watch``, the calls about the Jobs,
Pods and Events behind an action in ``asyncaction_client.sync_inspect``; ``Client``
inherits both, so every call stays a method of ``Client``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.rest import ApiException

from asyncaction_client.connection import (
    context_namespace,
    first_path,
    in_cluster_namespace,
    kubeconfig_paths,
)
from asyncaction_client.contract import ACTION_PLURAL, GROUP, VERSION, utcnow
from asyncaction_client.errors import api_error_of, refusal_about
from asyncaction_client.model import (
    Action,
    Filters,
    build_action,
    name_of,
    namespace_of,
    rerun_of,
    select,
)
from asyncaction_client.sync_inspect import Inspection
from asyncaction_client.sync_watch import Watching


class Client(Watching, Inspection):
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
        # the kubeconfig file the client was made from (None: in-cluster or given a client)
        self.kubeconfig_file: str | None = None
        if api_client is None:
            paths = kubeconfig_paths(kubeconfig)
            # no retries inside urllib3 (three by default, each a whole read timeout): a
            # watch accepted and never answered held a 2 s wait for two minutes; the
            # watch loop is the one retry layer, and it keeps to the deadline
            configuration = k8s.Configuration()
            if paths is None:
                k8s_config.load_incluster_config(client_configuration=configuration)
                found_namespace = in_cluster_namespace()
            else:
                k8s_config.load_kube_config(
                    config_file=paths,
                    context=context,
                    client_configuration=configuration,
                    persist_config=False,
                )
            configuration.retries = False
            api_client = k8s.ApiClient(configuration)
            if paths is not None:
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
            raise api_error_of(exc) from None
        return created

    def get(self, name: str, namespace: str | None = None) -> Action:
        ns = namespace or self.namespace
        try:
            action: Action = self.custom.get_namespaced_custom_object(
                GROUP, VERSION, ns, ACTION_PLURAL, name
            )
        except ApiException as exc:
            raise refusal_about(exc, ns, name) from None
        return action

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
            raise api_error_of(exc) from None
        return select(listed.get("items") or [], filters or Filters(), utcnow())

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
            raise refusal_about(exc, ns, name) from None
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
