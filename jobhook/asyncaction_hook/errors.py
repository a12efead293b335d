"""Errors the hook answers, each with the contract's status and a machine-readable reason.

Every answer has the shape ``{"error": {"reason": ..., "message": ...}}``; none of them
changes the action.
"""

from __future__ import annotations

from aiohttp import web


class HookError(Exception):
    def __init__(
        self, status: int, reason: str, message: str, extra: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.extra = extra or {}  # more fields of the error object (421: "hook")

    def response(self) -> web.Response:
        error = {"reason": self.reason, "message": self.message, **self.extra}
        return web.json_response({"error": error}, status=self.status)


def bad_request(message: str) -> HookError:
    return HookError(400, "BAD_REQUEST", message)


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


def rate_limited() -> HookError:
    return HookError(429, "RATE_LIMITED", "too many requests for this action; slow down")
