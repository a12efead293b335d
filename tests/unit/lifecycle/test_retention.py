"""Retention (issue 13, deliverable 12): a finished action asked to be deleted goes only
after its TTL work (Job and Secret removed, record archived) is marked done."""

from datetime import timedelta

from asyncaction.api.phases import Phase
from asyncaction.lifecycle import (
    ActionView,
    DeleteAction,
    RemoveChildren,
    action_view_from,
    reconcile,
)
from tests.unit.lifecycle.helpers import NOW, SETTINGS, view


def finished(**changes: object) -> ActionView:
    fields: dict[str, object] = {
        "phase": Phase.SUCCEEDED,
        "finished_at": NOW - timedelta(seconds=60),
        "observed_generation": 1,
        "conditions": (
            {"type": "Ready", "status": "True", "reason": "Succeeded"},
            {"type": "Succeeded", "status": "True", "reason": "Succeeded"},
        ),
        "ttl_seconds_after_finished": 30,
    }
    return view(**{**fields, **changes})


def test_the_ttl_work_comes_first_and_the_deletion_only_once_it_is_marked_done() -> None:
    due = finished(delete_when_done=True)
    first = reconcile(due, None, now=NOW, admitted=False, settings=SETTINGS)
    assert first.effects == (RemoveChildren(),)
    assert set(first.after) == {"childrenRemovedAt"}
    done = finished(delete_when_done=True, children_removed_at=NOW)
    second = reconcile(done, None, now=NOW, admitted=False, settings=SETTINGS)
    assert second.effects == (DeleteAction(),)
    assert second.after == {}


def test_keep_is_the_default_and_no_ttl_means_no_deletion() -> None:
    kept = finished(children_removed_at=NOW)
    assert reconcile(kept, None, now=NOW, admitted=False, settings=SETTINGS).effects == ()
    no_ttl = finished(delete_when_done=True, ttl_seconds_after_finished=None)
    assert reconcile(no_ttl, None, now=NOW, admitted=False, settings=SETTINGS).effects == ()


def test_the_view_reads_retention_from_the_resolved_spec() -> None:
    obj = {"metadata": {"name": "a", "uid": "u"}, "spec": {"retention": "Delete"}}
    assert action_view_from(obj, has_handler=True).delete_when_done
    obj["spec"] = {"retention": "Keep"}
    assert not action_view_from(obj, has_handler=True).delete_when_done
