"""The asynchronous client, on the maintained ``kubernetes_asyncio`` package: the same
calls as ``asyncaction_client.Client`` for programs running an event loop (no blocking
call inside the loop).

    from asyncaction_client import AsyncClient

    async with await AsyncClient.connect() as client:
        action = await client.submit(template_ref="wordcount", request={"text": "a b"},
                                     generate_name="wc-")
        result = await client.wait(action["metadata"]["name"], timeout=600)

Watching and waiting live in ``asyncaction_client.aio_watch``, the calls about the Jobs,
Pods and Events behind an action in ``asyncaction_client.aio_inspect``; ``AsyncClient``
inherits both, so every call stays a method of ``AsyncClient``.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import Mapping
from typing import Any

from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config
from kubernetes_asyncio.client.rest import ApiException

from asyncaction_client.aio_inspect import AsyncInspection
from asyncaction_client.aio_watch import AsyncWatching
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


class AsyncClient(AsyncWatching, AsyncInspection):
    """AsyncActions of one cluster, for asyncio programs. Build it with ``connect``."""

    def __init__(
        self, api_client: k8s.ApiClient, namespace: str, kubeconfig_file: str | None = None
    ) -> None:
        self.api = api_client
        self.namespace = namespace
        self.kubeconfig_file = kubeconfig_file
        self.custom = k8s.CustomObjectsApi(api_client)
        self.core = k8s.CoreV1Api(api_client)
        self.batch = k8s.BatchV1Api(api_client)

    @classmethod
    async def connect(
        cls,
        *,
        kubeconfig: str | os.PathLike[str] | None = None,
        context: str | None = None,
        namespace: str | None = None,
    ) -> AsyncClient:
        """Load a kubeconfig (contexts, exec plugins, OIDC) or the in-cluster account."""
        paths = kubeconfig_paths(kubeconfig)
        if paths is None:
            k8s_config.load_incluster_config()
            return cls(k8s.ApiClient(), namespace or in_cluster_namespace() or "default")
        configuration = k8s.Configuration()
        loader = await k8s_config.load_kube_config(
            config_file=paths,
            context=context,
            client_configuration=configuration,
            persist_config=False,
        )
        if loader._user is not None and "exec" in loader._user:
            # kubernetes_asyncio runs an exec plugin once (the sync library again when its
            # token expires): an EKS token expired after 15 minutes, and every watch of a
            # longer wait was refused (found by a review). Asked before each request, the
            # loader runs the plugin again only once the token has expired.
            async def refresh(config: k8s.Configuration) -> None:
                if await loader.load_from_exec_plugin() and getattr(loader, "token", None):
                    config.api_key["BearerToken"] = loader.token

            configuration.refresh_api_key_hook = refresh
        api = k8s.ApiClient(configuration)
        contexts, active = k8s_config.list_kube_config_contexts(config_file=paths)
        found = context_namespace(contexts, active, context)
        return cls(api, namespace or found or "default", first_path(paths))

    async def close(self) -> None:
        await self.api.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def submit(
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
            created: Action = await self.custom.create_namespaced_custom_object(
                GROUP, VERSION, ns, ACTION_PLURAL, body
            )
        except ApiException as exc:
            raise api_error_of(exc) from None
        return created

    async def get(self, name: str, namespace: str | None = None) -> Action:
        ns = namespace or self.namespace
        try:
            action: Action = await self.custom.get_namespaced_custom_object(
                GROUP, VERSION, ns, ACTION_PLURAL, name
            )
        except ApiException as exc:
            raise refusal_about(exc, ns, name) from None
        return action

    async def list(
        self,
        namespace: str | None = None,
        *,
        all_namespaces: bool = False,
        label_selector: str | None = None,
        filters: Filters | None = None,
    ) -> builtins.list[Action]:
        """Actions oldest first; the label selector runs on the server, ``filters`` here."""
        try:
            listed = await self._list_raw(namespace, all_namespaces, label_selector)
        except ApiException as exc:
            raise api_error_of(exc) from None
        return select(listed.get("items") or [], filters or Filters(), utcnow())

    async def run(
        self,
        manifest: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - the same call as the sync client
        **options: Any,
    ) -> dict[str, Any]:
        """``submit`` then ``wait``."""
        created = await self.submit(manifest, **options)
        return await self.wait(name_of(created), namespace_of(created), timeout=timeout)

    async def patch_spec(
        self, name: str, spec: Mapping[str, Any], namespace: str | None = None
    ) -> Action:
        ns = namespace or self.namespace
        try:
            # A merge patch: kubernetes_asyncio otherwise sends a JSON patch content type,
            # which the API server refuses for this body (400).
            patched: Action = await self.custom.patch_namespaced_custom_object(
                GROUP,
                VERSION,
                ns,
                ACTION_PLURAL,
                name,
                {"spec": dict(spec)},
                _content_type="application/merge-patch+json",
            )
        except ApiException as exc:
            raise refusal_about(exc, ns, name) from None
        return patched

    async def pause(self, name: str, namespace: str | None = None) -> Action:
        return await self.patch_spec(name, {"suspend": True}, namespace)

    async def resume(self, name: str, namespace: str | None = None) -> Action:
        return await self.patch_spec(name, {"suspend": False}, namespace)

    async def abort(self, name: str, namespace: str | None = None) -> Action:
        return await self.patch_spec(name, {"abort": True}, namespace)

    async def rerun(
        self, name: str, namespace: str | None = None, *, generate_name: str | None = None
    ) -> Action:
        """A new action with the same spec; the old one stays as the record of its run."""
        old = await self.get(name, namespace)
        return await self.submit(rerun_of(old, generate_name), namespace=namespace_of(old))
