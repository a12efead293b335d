"""Job reports and how they become status patches (pure).

The seed's spellings are accepted: ``status: SUCCESS|ERROR`` and ``results``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from asyncaction.api.phases import Phase
from asyncaction.lifecycle import can_transition, conditions_for
from asyncaction.timeutil import format_time
from asyncaction_hook.errors import HookError, completed, too_large
from asyncaction_hook.limits import json_size

ALIASES = {"SUCCESS": "SUCCEEDED", "ERROR": "FAILED"}
REPORTABLE = {Phase.RUNNING, Phase.SUCCEEDED, Phase.FAILED}


def _seed_phase(value: Any) -> Any:
    """The seed's spellings of a status (``SUCCESS``, ``ERROR``), in any case."""
    if isinstance(value, str):
        upper = value.upper()
        return ALIASES.get(upper, upper)
    return value


def _lines(value: Any) -> Any:
    """Log lines sent as one string, as the seed's client sends them."""
    return value.splitlines() if isinstance(value, str) else value


class Report(BaseModel):
    """One report of a job. The seed's spellings are read field by field (a validator
    runs only for a field the report has: a model-wide one copied every progress
    report's dict first, a sixth of its validation), ``results`` where ``result`` is
    absent."""

    model_config = ConfigDict(extra="ignore")

    status: Annotated[Phase | None, BeforeValidator(_seed_phase)] = None
    progress: Annotated[int | None, Field(ge=0, le=100)] = None
    status_details: dict[str, Any] | None = Field(default=None, alias="statusDetails")
    result: dict[str, Any] | None = Field(
        default=None, validation_alias=AliasChoices("result", "results")
    )
    error_message: str | None = Field(default=None, alias="errorMessage", max_length=4096)
    logs: Annotated[list[str] | None, BeforeValidator(_lines)] = None

    @field_validator("status")
    @classmethod
    def _reportable(cls, value: Phase | None) -> Phase | None:
        if value is not None and value not in REPORTABLE:
            raise ValueError("status must be RUNNING, SUCCEEDED or FAILED")
        return value

    @property
    def terminal(self) -> bool:
        return self.status in (Phase.SUCCEEDED, Phase.FAILED)

    def merged_with(self, later: Report) -> Report:
        """Coalescing: the later report wins field by field; log lines accumulate."""
        merged = self.model_copy()
        merged.absorb(later)
        return merged

    def absorb(self, later: Report) -> None:
        """``merged_with`` in place, for a report nothing else holds: the coalescer's
        pending one takes every progress report of its action, and a copy each time cost
        as much as validating the report. (Both are valid reports: nothing is validated
        again. Only fields the later report set can be non-None: every default is None.)"""
        for name in later.model_fields_set:
            value = getattr(later, name)
            if value is None:
                continue
            if name == "logs" and self.logs:
                value = [*self.logs, *value]
            setattr(self, name, value)


def check_result_size(report: Report, max_bytes: int) -> None:
    """``result`` measured as every bound of the status is (``limits.json_size``:
    compact UTF-8, what etcd keeps), not as the escaped ASCII of a request."""
    if report.result is not None and json_size(report.result) > max_bytes:
        raise too_large(
            f"result is larger than {max_bytes} bytes: upload it as an output "
            "(PUT /upload/...) and report a reference to it instead"
        )


def status_patch(
    current: Mapping[str, Any], report: Report, *, now: datetime, log_tail_lines: int
) -> dict[str, Any]:
    """The merge patch of ``.status`` for ``report`` given the current status."""
    phase_value = current.get("phase")
    phase = (
        Phase(phase_value)
        if isinstance(phase_value, str) and phase_value in Phase.__members__
        else None
    )
    if phase is not None and phase.is_terminal:
        raise completed(phase.value)
    if phase not in (Phase.STARTING, Phase.RUNNING):
        # No attempt runs now (waiting, paused, backing off): the report comes from a
        # stopped or stale attempt.
        raise HookError(409, "NOT_RUNNING", f"no attempt of this action is running ({phase})")
    patch: dict[str, Any] = {"lastReportAt": format_time(now)}
    if report.progress is not None:
        patch["progress"] = report.progress
    if report.status_details is not None:
        patch["statusDetails"] = report.status_details
    if report.result is not None:
        patch["result"] = report.result
    if report.logs:
        tail = [*(current.get("logTail") or []), *report.logs]
        patch["logTail"] = tail[-log_tail_lines:]
    target = report.status or Phase.RUNNING
    if target is Phase.FAILED:
        # A failed attempt, not yet the action's end: the operator counts it against
        # backoffLimit and retries or fails the action (it alone knows the spec).
        message = report.error_message or "the job reported a failure"
        patch["message"] = message
        patch["error"] = {"reason": "JobReportedFailure", "message": message}
        return patch
    if phase is Phase.STARTING or target is not Phase.RUNNING:
        if not can_transition(phase, target):
            raise HookError(409, "INVALID_TRANSITION", f"cannot go from {phase} to {target.value}")
        patch["phase"] = target.value
        message = {
            Phase.RUNNING: "the job reported it is running",
            Phase.SUCCEEDED: "the job reported success",
        }[target]
        patch["message"] = message
        patch["conditions"] = conditions_for(
            target, message=message, now=now, previous=current.get("conditions") or ()
        )
        if target.is_terminal:
            patch["finishedAt"] = format_time(now)
            patch["error"] = None
        if target is Phase.SUCCEEDED:
            patch["progress"] = 100
    return patch


def public_view(action: Mapping[str, Any]) -> dict[str, Any]:
    """What a job may see of its action (never the secret)."""
    meta = action.get("metadata", {})
    status = action.get("status") or {}
    return {
        "id": meta.get("uid"),
        "name": meta.get("name"),
        "namespace": meta.get("namespace"),
        "phase": status.get("phase"),
        "progress": status.get("progress"),
        "attempts": status.get("attempts"),
    }
