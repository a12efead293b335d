"""Errors the hook answers, each with the contract's status and a machine-readable reason.

Every answer has the shape ``{"error": {"reason": ..., "message": ...}}``; none of them
changes the action.
"""

from __future__ import annotations

from pydantic import ValidationError

from asyncaction_hook.httpmessages import Response, json_response


class HookError(Exception):
    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        extra: dict[str, str] | None = None,
        *,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.extra = extra or {}  # more fields of the error object (421: "hook")
        self.retry_after = retry_after  # seconds, sent as Retry-After (429, 503)

    def response(self) -> Response:
        error = {"reason": self.reason, "message": self.message, **self.extra}
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else None
        return json_response({"error": error}, status=self.status, headers=headers)


def bad_request(message: str) -> HookError:
    return HookError(400, "BAD_REQUEST", message)


def invalid(exc: ValidationError) -> HookError:
    """422 naming the first field that failed validation, or saying that the body is not
    an object (pydantic's own words there name the model class, not the request)."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    if not where:
        return HookError(422, "INVALID", "the body must be a JSON object")
    return HookError(422, "INVALID", f"{where}: {first.get('msg')}")


def unauthorized(message: str) -> HookError:
    return HookError(401, "UNAUTHORIZED", message)


def forbidden(message: str) -> HookError:
    return HookError(403, "FORBIDDEN", message)


def not_found(message: str) -> HookError:
    return HookError(404, "NOT_FOUND", message)


def completed(phase: str) -> HookError:
    return HookError(409, "ACTION_COMPLETED", f"the action is already {phase}")


def too_large(message: str) -> HookError:
    return HookError(413, "TOO_LARGE", message)


def unavailable(reason: str, message: str, retry_after: int = 1) -> HookError:
    """503 with Retry-After: nothing is wrong with the request, ask again shortly."""
    return HookError(503, reason, message, retry_after=retry_after)
