"""The arithmetic of attempts (pure): their settings, their Jobs' names, the backoff
between them, how long an action has been active, and whether it may ask for a slot."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from asyncaction.api.phases import Phase
from asyncaction.lifecycle.views import ActionView

P = Phase
# What an attempt's job reports about itself (through the hook), cleared when the next
# attempt starts. Earlier outputs (``status.outputs``) stay: see docs/jobs.md.
PREVIOUS_ATTEMPT_REPORTS = ("result", "statusDetails", "progress", "logTail", "lastReportAt")


@dataclass(frozen=True)
class LifecycleSettings:
    backoff_base_seconds: float = 10.0
    backoff_max_seconds: float = 300.0
    poll_seconds: float = 30.0


JOB_NAME_LENGTH = 52  # the Job controller adds 6 characters for its Pods' names


def job_name_for(action_name: str, uid: str, attempt: int) -> str:
    """Deterministic per attempt, a DNS label of at most 52 characters, unique.

    The whole uid (32 hex digits) is in the name, so two actions can never share a Job
    name, however alike their names; what room is left shows the action's name.
    """
    ident = re.sub(r"[^a-z0-9]", "", uid.lower())
    tail = f"-{ident}-{attempt}"
    room = max(0, JOB_NAME_LENGTH - len(tail))
    stem = re.sub(r"[^a-z0-9-]", "-", action_name.lower())[:room].strip("-")
    return f"{stem}{tail}" if stem else tail.lstrip("-")


def retry_delay(failures: int, settings: LifecycleSettings) -> float:
    delay: float = settings.backoff_base_seconds * 2 ** max(0, failures - 1)
    return min(delay, settings.backoff_max_seconds)


def active_seconds(view: ActionView, now: datetime) -> float:
    """Time since the first start, paused time excluded."""
    if view.started_at is None:
        return 0.0
    paused = view.paused_seconds
    if view.paused_at is not None:
        paused += (now - view.paused_at).total_seconds()
    return (now - view.started_at).total_seconds() - paused


def is_eligible(view: ActionView, now: datetime) -> bool:
    """May ask admission for a slot now: new or queued, not held, retry backoff over.

    A new action may take a free slot at once: it goes straight to STARTING in one
    status write instead of writing QUEUED first.
    """
    return (
        view.phase in (None, P.QUEUED)
        and view.has_handler
        and not view.suspend
        and not view.abort
        and (view.next_attempt_at is None or view.next_attempt_at <= now)
        and (view.start_at is None or view.start_at <= now)
    )
