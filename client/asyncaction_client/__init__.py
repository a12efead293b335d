"""Python client for AsyncActions: submit work, read it, wait for its result.

``Client`` is synchronous (the ``kubernetes`` package), ``AsyncClient`` its asyncio twin
(``kubernetes_asyncio``); both read kubeconfig contexts, exec credential plugins and OIDC
as kubectl does. ``wait`` returns the action's ``status.result`` or raises
``ActionFailed`` (FAILED, ABORTED, TIMEOUT) or ``WaitTimeout`` (the wait's own limit).
Both clients raise the same classes, all ``ClientError``: ``ApiError`` when the API server
refuses a request, ``ActionNotFound`` for a missing action.

The two clients are imported on first use: a program (or the CLI) that needs one of
them does not pay for importing the other's HTTP stack.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from asyncaction_client.errors import (
    ActionFailed,
    ActionNotFound,
    ApiError,
    ClientError,
    WaitTimeout,
)
from asyncaction_client.model import Action, Filters, build_action, parse_duration

if TYPE_CHECKING:
    from asyncaction_client.aio import AsyncClient
    from asyncaction_client.sync import Client

LAZY = {"AsyncClient": "asyncaction_client.aio", "Client": "asyncaction_client.sync"}

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


def __getattr__(name: str) -> Any:
    if name in LAZY:
        return getattr(importlib.import_module(LAZY[name]), name)
    raise AttributeError(f"module 'asyncaction_client' has no attribute {name!r}")
