"""status.queue records the effective queue, so `kubectl get aa` shows it (issue 9)."""

from datetime import timedelta

from asyncaction.api.phases import Phase
from asyncaction.lifecycle import JobState, action_view_from, reconcile
from tests.unit.lifecycle.helpers import NOW, SETTINGS, job, running, view


def test_a_new_action_records_the_default_queue() -> None:
    fresh = action_view_from({"metadata": {"name": "a", "uid": "u"}, "spec": {}}, has_handler=True)
    decision = reconcile(fresh, None, now=NOW, admitted=False, settings=SETTINGS)
    assert decision.status["phase"] == "QUEUED"
    assert decision.status["queue"] == "default"


def test_a_named_queue_is_recorded() -> None:
    fresh = action_view_from(
        {"metadata": {"name": "a", "uid": "u"}, "spec": {"queue": "gpu"}}, has_handler=True
    )
    decision = reconcile(fresh, None, now=NOW, admitted=False, settings=SETTINGS)
    assert decision.status["queue"] == "gpu"


def test_a_waiting_action_whose_queue_changed_records_the_new_one() -> None:
    waiting = view(phase=Phase.QUEUED, queue="batch", status_queue="default")
    decision = reconcile(waiting, None, now=NOW, admitted=False, settings=SETTINGS)
    assert decision.status == {"queue": "batch"}
    assert "phase" not in decision.status


def test_nothing_is_written_once_status_records_the_queue() -> None:
    waiting = view(phase=Phase.QUEUED, queue="batch", status_queue="batch")
    assert reconcile(waiting, None, now=NOW, admitted=False, settings=SETTINGS).status == {}


def test_a_finished_action_keeps_the_queue_it_ran_in() -> None:
    done = view(
        phase=Phase.SUCCEEDED,
        queue="other",
        status_queue="batch",
        finished_at=NOW - timedelta(seconds=1),
    )
    decision = reconcile(done, None, now=NOW, admitted=False, settings=SETTINGS)
    assert "queue" not in decision.status


def test_the_transition_to_a_terminal_phase_carries_the_queue() -> None:
    active = running(queue="batch", status_queue=None)
    decision = reconcile(
        active, job(JobState.SUCCEEDED), now=NOW, admitted=False, settings=SETTINGS
    )
    assert decision.status["phase"] == "SUCCEEDED"
    assert decision.status["queue"] == "batch"
