"""The pure lifecycle of an AsyncAction: no I/O, no clock (``now`` is an argument).

``reconcile`` decides; ``asyncaction.reconciler`` executes its decisions.
"""

from asyncaction.lifecycle.admission import (
    AdmissionOrder,
    Candidate,
    admission_order,
    select_admissions,
)
from asyncaction.lifecycle.attempts import (
    LifecycleSettings,
    active_seconds,
    is_eligible,
    job_name_for,
    retry_delay,
)
from asyncaction.lifecycle.conditions import conditions_for
from asyncaction.lifecycle.effects import (
    CreateJob,
    Decision,
    DeleteAction,
    DeleteJob,
    Effect,
    Emit,
    EnsureSecret,
    RemoveChildren,
)
from asyncaction.lifecycle.failures import failure_decision
from asyncaction.lifecycle.reconcile import reconcile, refused_attempt
from asyncaction.lifecycle.transitions import ALLOWED, can_transition
from asyncaction.lifecycle.views import (
    ActionView,
    JobState,
    JobView,
    action_view_from,
    admission_view_from,
    job_view_from,
)

__all__ = [
    "ALLOWED",
    "ActionView",
    "AdmissionOrder",
    "Candidate",
    "CreateJob",
    "Decision",
    "DeleteAction",
    "DeleteJob",
    "Effect",
    "Emit",
    "EnsureSecret",
    "JobState",
    "JobView",
    "LifecycleSettings",
    "RemoveChildren",
    "action_view_from",
    "active_seconds",
    "admission_order",
    "admission_view_from",
    "can_transition",
    "conditions_for",
    "failure_decision",
    "is_eligible",
    "job_name_for",
    "job_view_from",
    "reconcile",
    "refused_attempt",
    "retry_delay",
    "select_admissions",
]
