"""Errors of the Kubernetes API, mapped from HTTP status and the Status object's reason."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answer of the API server (a `Status` object)."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message

    @property
    def transient(self) -> bool:
        """Worth retrying: throttling, server-side timeouts and unavailability."""
        return self.status in (429, 500, 502, 503, 504)


class NotFound(ApiError):
    pass


class NotServed(ApiError):
    """A 404 that names no object: the API server does not serve the resource type.

    An API server that has just started answers ``404 page not found`` for a custom
    resource until it has read the CustomResourceDefinitions (measured: for about a
    second after it serves again, the object being there all along). Taken for
    "the object is gone", that answer failed a running job; so it is an unavailable
    server (503, transient: retried like one) until it lasts, when the message says
    what to check. A 404 about an object is a ``Status`` whose ``details`` name it."""

    def __init__(self, body: str) -> None:
        super().__init__(
            503,
            "NotServed",
            f"the API server answered 404 ({body.strip()[:200] or 'no body'}) for a resource"
            " type it does not serve: one that has just started serves custom resources"
            " once it has read their definitions; if this lasts, is the"
            " CustomResourceDefinition installed?",
        )


class Conflict(ApiError):
    """409 on a write whose resourceVersion precondition no longer holds."""


class AlreadyExists(ApiError):
    """409 with reason AlreadyExists on create."""


class Gone(ApiError):
    """410: a watch's resourceVersion is too old; list again."""


class WriteOutcomeUnknown(ApiError):
    """A write that may or may not have landed (a timeout or a broken connection after it
    was sent, a 500/504): sending it again could do it twice, so it was not retried."""

    def __init__(self, method: str, path: str, cause: Exception | None) -> None:
        super().__init__(504, "WriteOutcomeUnknown", f"{method} {path}: {cause}")


def error_from_status(status: int, body: Any) -> ApiError:
    reason = ""
    message = ""
    if isinstance(body, dict):
        reason = str(body.get("reason") or "")
        message = str(body.get("message") or "")
    elif body:
        message = str(body)[:500]
    if status == 404:
        details = body.get("details") if isinstance(body, dict) else None
        if not (isinstance(details, dict) and details.get("name")):
            return NotServed(message or str(body or ""))
        return NotFound(status, reason or "NotFound", message)
    if status == 409 and reason == "AlreadyExists":
        return AlreadyExists(status, reason, message)
    if status == 409:
        return Conflict(status, reason or "Conflict", message)
    if status == 410:
        return Gone(status, reason or "Expired", message)
    return ApiError(status, reason or "Error", message)
