"""What a finished action still needs (pure): conditions that match its terminal phase,
an aborted or timed-out attempt's Job stopped, and its TTL and retention work."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from asyncaction.api.phases import Phase
from asyncaction.lifecycle.conditions import conditions_for, matches
from asyncaction.lifecycle.effects import Decision, DeleteAction, DeleteJob, Effect, RemoveChildren
from asyncaction.lifecycle.views import ActionView, JobState, JobView
from asyncaction.timeutil import format_time

P = Phase


def finished(view: ActionView, job: JobView | None, now: datetime) -> Decision:
    """A terminal action: its conditions kept true to the phase, a job that must not run
    on stopped, and its TTL work (children removed, then the action itself when its
    retention says Delete) done once due."""
    assert view.phase is not None
    status: dict[str, Any] = {}
    after: dict[str, Any] = {}
    effects: list[Effect] = []
    if view.finished_at is None:
        status["finishedAt"] = format_time(now)
    stale = view.observed_generation != view.generation
    if stale or not matches(view.phase, view.conditions):
        reason = (view.error or {}).get("reason")
        status["conditions"] = conditions_for(
            view.phase,
            reason=reason,
            now=now,
            observed_generation=view.generation,
            # never empty: the API server 1.20 refuses an empty condition message as null
            message=(view.error or {}).get("message") or view.message or view.phase.value,
            previous=view.conditions,
        )
        status["observedGeneration"] = view.generation
    # A job that reported its own end may still be uploading or exiting: let it finish.
    # Aborted and timed-out actions must not keep running.
    stop = view.phase in (P.ABORTED, P.TIMEOUT)
    live = job is not None and job.state in (JobState.PENDING, JobState.RUNNING)
    if stop and live and job is not None and not job.deleting:
        effects.append(DeleteJob(job.name))
    requeue = None
    if view.ttl_seconds_after_finished is not None and view.children_removed_at is not None:
        if view.delete_when_done:
            effects.append(DeleteAction())  # TTL work done (marked): the action goes
    elif view.ttl_seconds_after_finished is not None:
        finished = view.finished_at or now
        expiry = finished + timedelta(seconds=view.ttl_seconds_after_finished)
        if expiry <= now:
            effects.append(RemoveChildren())
            after["childrenRemovedAt"] = format_time(now)
        else:
            requeue = max(0.0, (expiry - now).total_seconds())
    return Decision(status, tuple(effects), requeue, after)
