"""Python client for AsyncActions: submit work, read it, wait for its result.

``Client`` is synchronous (the ``kubernetes`` package), ``AsyncClient`` its asyncio twin
(``kubernetes_asyncio``); both read kubeconfig contexts, exec credential plugins and OIDC
as kubectl does. ``wait`` returns the action's ``status.result`` or raises
``ActionFailed`` (FAILED, ABORTED, TIMEOUT) or ``WaitTimeout`` (the wait's own limit).
"""

from asyncaction_client.aio import AsyncClient
from asyncaction_client.errors import ActionFailed, ActionNotFound, ClientError, WaitTimeout
from asyncaction_client.model import Action, Filters, build_action, parse_duration
from asyncaction_client.sync import ApiError, Client

__all__ = [
    "Action",
    "ActionFailed",
    "ActionNotFound",
    "ApiError",
    "AsyncClient",
    "Client",
    "ClientError",
    "Filters",
    "WaitTimeout",
    "build_action",
    "parse_duration",
]
