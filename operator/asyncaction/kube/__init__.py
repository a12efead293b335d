"""A narrow async client for the Kubernetes API, on aiohttp.

The operator's handlers and the job hook need a handful of verbs on a few resources.
Keeping them behind this small interface (instead of a generated client) means
dict-in/dict-out calls that are easy to swap in tests, one place for retries and error
mapping, and no synchronous call ever blocking the event loop.
"""

from asyncaction.kube.client import KubeClient, WatchEvent
from asyncaction.kube.config import ConnectionInfo, load_connection
from asyncaction.kube.errors import (
    AlreadyExists,
    ApiError,
    Conflict,
    Gone,
    NotFound,
    NotServed,
    WriteOutcomeUnknown,
)

__all__ = [
    "AlreadyExists",
    "ApiError",
    "Conflict",
    "ConnectionInfo",
    "Gone",
    "KubeClient",
    "NotFound",
    "NotServed",
    "WatchEvent",
    "WriteOutcomeUnknown",
    "load_connection",
]
