"""What the client raises: an action that did not succeed, a wait that ran out of time, a
request the API server refused. ``Client`` and ``AsyncClient`` raise the same classes, so
one ``except asyncaction_client.ApiError`` serves programs using either."""

from __future__ import annotations

import json
from typing import Any, Protocol

NOT_SERVED = (
    "the API server does not serve asyncactions.asyncaction.dev (404): is the"
    " CustomResourceDefinition installed? (an API server that has just started serves"
    " it a moment later)"
)


class ClientError(Exception):
    """Base class of everything the asyncaction client raises on purpose."""


class ApiError(ClientError):
    """The API server refused a request (status and message as it sent them)."""

    def __init__(self, status: int, message: str):
        self.status = status
        super().__init__(message)


def api_error(status: int | None, body: object, reason: object) -> ApiError:
    """An ApiError from what either Kubernetes library's ApiException carries: the
    Status object's message when the body holds one, else the HTTP reason."""
    try:
        text = body.decode() if isinstance(body, bytes) else body
        message = json.loads(text or "{}").get("message") or reason  # type: ignore[arg-type]
    except (ValueError, AttributeError, TypeError):
        message = reason
    return ApiError(int(status or 0), f"{message} ({status})")


class Refusal(Protocol):
    """What the ``ApiException`` of either Kubernetes library carries (``kubernetes`` for
    ``Client``, ``kubernetes_asyncio`` for ``AsyncClient``): typed by shape, so this module
    imports neither HTTP stack."""

    @property
    def status(self) -> int | None: ...

    @property
    def body(self) -> object: ...

    @property
    def reason(self) -> object: ...


def api_error_of(exc: Refusal) -> ApiError:
    """The ApiError for either library's ApiException: the one conversion both clients and
    all their modules use, so they raise the same class with the same message."""
    if not_served(exc):
        return ApiError(404, NOT_SERVED)
    return api_error(exc.status, exc.body, exc.reason)


class ActionFailed(ClientError):
    """The action ended in FAILED, ABORTED or TIMEOUT; ``action`` is its last state."""

    def __init__(self, name: str, phase: str, reason: str, message: str, action: dict[str, Any]):
        self.name = name
        self.phase = phase
        self.reason = reason
        self.message = message
        self.action = action
        detail = ": ".join(part for part in (reason, message) if part)
        super().__init__(f"{name} {phase}" + (f": {detail}" if detail else ""))


class WaitTimeout(ClientError):
    """The wait's own timeout passed before the action finished (the action goes on)."""

    def __init__(self, name: str, timeout: float, action: dict[str, Any] | None):
        self.name = name
        self.timeout = timeout
        self.action = action
        phase = ((action or {}).get("status") or {}).get("phase") or "no phase yet"
        super().__init__(f"timed out after {timeout:g}s waiting for {name} ({phase})")


class ActionNotFound(ClientError):
    """No such action (or it was deleted while being waited for)."""

    def __init__(self, namespace: str, name: str):
        self.namespace = namespace
        self.name = name
        super().__init__(f'asyncaction "{name}" not found in namespace "{namespace}"')


def names_an_object(exc: Refusal) -> bool:
    """Whether the refusal's ``Status`` names an object (``details.name``), as every 404
    about a missing object does; ``404 page not found`` names none."""
    try:
        text = exc.body.decode() if isinstance(exc.body, bytes) else exc.body
        details = json.loads(text or "{}").get("details")  # type: ignore[arg-type]
    except (ValueError, AttributeError, TypeError):
        return False
    return isinstance(details, dict) and bool(details.get("name"))


def not_served(exc: Refusal) -> bool:
    """A 404 that names no object: the API server does not serve AsyncActions, because
    the CRD is not installed or because the server has just started and has not read
    it yet (it answers so for about a second after a restart)."""
    return exc.status == 404 and not names_an_object(exc)


def refusal_about(exc: Refusal, namespace: str, name: str) -> ClientError:
    """What the API server's refusal of a request for the action ``name`` means:
    ``ActionNotFound`` only when its 404 names the object."""
    if exc.status == 404 and names_an_object(exc):
        return ActionNotFound(namespace, name)
    return api_error_of(exc)


def short_reason(exc: BaseException) -> str:
    """``ConnectionRefusedError`` rather than urllib3's paragraph with the whole URL."""
    inner = getattr(exc, "reason", None)
    if isinstance(inner, BaseException):
        exc = inner
    text = str(exc).split(": ")[-1].strip() if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:120]}" if text else type(exc).__name__
