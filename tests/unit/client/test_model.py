from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from asyncaction_client import ActionFailed
from asyncaction_client.model import (
    Filters,
    WatchError,
    backoff,
    build_action,
    effective_queue,
    interpret,
    parse_duration,
    rerun_of,
    result_or_raise,
    select,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TEMPLATE = {"spec": {"containers": [{"name": "main", "image": "x"}]}}


def action(name: str, phase: str | None = None, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ns", "creationTimestamp": "2026-11-23T11:00:00Z"},
        "spec": {},
        "status": {"phase": phase, **status} if phase else {},
    }


def test_result_of_a_succeeded_action() -> None:
    assert result_or_raise(action("a", "SUCCEEDED", result={"x": 1})) == {"x": 1}
    assert result_or_raise(action("a", "SUCCEEDED")) == {}


@pytest.mark.parametrize("phase", ["FAILED", "ABORTED", "TIMEOUT"])
def test_other_outcomes_raise_with_the_error(phase: str) -> None:
    failed = action("a", phase, error={"reason": "Why", "message": "because"})
    with pytest.raises(ActionFailed) as caught:
        result_or_raise(failed)
    assert (caught.value.phase, caught.value.reason, caught.value.message) == (
        phase,
        "Why",
        "because",
    )
    assert str(caught.value) == f"a {phase}: Why: because"


def test_an_unfinished_action_has_no_result_yet() -> None:
    with pytest.raises(ValueError, match="has not finished"):
        result_or_raise(action("a", "RUNNING"))


def test_build_from_options() -> None:
    built = build_action(
        generate_name="wc-",
        template_ref="wordcount",
        request={"text": "a"},
        queue="batch",
        priority=3,
        labels={"team": "a"},
    )
    assert built == {
        "apiVersion": "asyncaction.dev/v1alpha1",
        "kind": "AsyncAction",
        "metadata": {"generateName": "wc-", "labels": {"team": "a"}},
        "spec": {
            "templateRef": "wordcount",
            "request": {"text": "a"},
            "queue": "batch",
            "priority": 3,
        },
    }


def test_options_override_the_file_without_changing_it() -> None:
    base = {"metadata": {"name": "from-file"}, "spec": {"template": TEMPLATE, "queue": "a"}}
    built = build_action(base=base, generate_name="x-", queue="b")
    assert built["metadata"] == {"generateName": "x-"}
    assert built["spec"]["queue"] == "b"
    assert base["metadata"] == {"name": "from-file"}  # the caller's dict is untouched


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"template_ref": "t"}, "needs a name"),
        ({"name": "a"}, "needs spec.template"),
        ({"base": {"kind": "Job"}, "name": "a", "template_ref": "t"}, "expected kind AsyncAction"),
    ],
)
def test_incomplete_manifests_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_action(**options)


def test_rerun_keeps_spec_and_labels_but_not_the_holds() -> None:
    old = {
        "metadata": {"name": "job-x7k2p", "labels": {"a": "b"}, "uid": "u", "resourceVersion": "9"},
        "spec": {"template": TEMPLATE, "suspend": True, "abort": True, "request": {"n": 1}},
        "status": {"phase": "ABORTED"},
    }
    new = rerun_of(old)
    assert new["metadata"] == {"generateName": "job-", "labels": {"a": "b"}}
    assert new["spec"] == {"template": TEMPLATE, "request": {"n": 1}}
    assert "status" not in new
    assert rerun_of({"metadata": {"name": "hello"}, "spec": {}})["metadata"]["generateName"] == (
        "hello-"
    )


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("1h30m", 5400), ("2d", 172800), ("1w", 604800), ("500ms", 0.5)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "5", "m", "5x", "1h 30m", "-5s", "99999999999d"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_filters() -> None:
    actions = [
        {**action("old", "FAILED", queue="batch")},
        {**action("new", "QUEUED"), "metadata": {"name": "new", "namespace": "ns",
                                                 "creationTimestamp": "2026-11-23T11:59:00Z"}},
    ]  # fmt: skip

    def names(f: Filters) -> list[str]:
        return [a["metadata"]["name"] for a in select(actions, f, NOW)]

    assert names(Filters()) == ["old", "new"]
    assert names(Filters(phases=frozenset({"FAILED"}))) == ["old"]
    assert names(Filters(queues=frozenset({"default"}))) == ["new"]
    assert names(Filters(since=timedelta(minutes=5))) == ["new"]
    assert names(Filters(older_than=timedelta(minutes=5))) == ["old"]
    assert names(Filters(since=timedelta(hours=2), older_than=timedelta(minutes=5))) == ["old"]


def test_effective_queue_prefers_what_status_recorded() -> None:
    assert effective_queue({"spec": {}}) == "default"
    assert effective_queue({"spec": {"queue": "a"}}) == "a"
    assert effective_queue({"spec": {"queue": "a"}, "status": {"queue": "b"}}) == "b"


def test_watch_events() -> None:
    changed = interpret({"type": "MODIFIED", "object": {"metadata": {"resourceVersion": "7"}}}, "5")
    assert (changed.resource_version, changed.action) == (
        "7",
        {"metadata": {"resourceVersion": "7"}},
    )
    bookmark = interpret(
        {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "9"}}}, "7"
    )
    assert (bookmark.resource_version, bookmark.action) == ("9", None)
    gone = interpret({"type": "ERROR", "object": {"code": 410, "message": "too old"}}, "9")
    assert gone.relist
    deleted = interpret({"type": "DELETED", "object": {"metadata": {"resourceVersion": "10"}}}, "9")
    assert deleted.deleted is not None
    with pytest.raises(WatchError):
        interpret({"type": "ERROR", "object": {"code": 500, "message": "boom"}}, "9")


def test_backoff_grows_and_is_capped() -> None:
    assert [backoff(n) for n in (1, 2, 3, 4, 5, 6, 10)] == [0.5, 1, 2, 4, 8, 8, 8]
