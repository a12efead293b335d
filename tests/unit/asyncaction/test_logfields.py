"""Log lines about an action carry it as fields, alike on the operator and the hook."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import kopf
import pytest

from asyncaction.kube import paths
from asyncaction.logfields import about
from asyncaction.runtime.result import Result, TerminalError
from asyncaction.runtime.workqueue import WorkQueue
from asyncaction_hook.logs import JsonFormatter
from tests.unit.controllers.fakekube import status_error
from tests.unit.controllers.world import NS, World, action_object

ACTION = {
    "metadata": {"name": "a", "namespace": "ns", "uid": "u-1", "resourceVersion": "7"},
    "spec": {"request": {"secret": "never logged"}},
    "status": {"phase": "RUNNING", "attempts": 2},
}
FIELDS = {"namespace": "ns", "name": "a", "uid": "u-1", "attempt": 2}


def record_of(logger: str, message: str) -> logging.LogRecord:
    return logging.getLogger(logger).makeRecord(
        logger, logging.WARNING, "f", 1, message, (), None, extra=about(ACTION)
    )


def test_about_names_the_action_and_its_attempt_only() -> None:
    assert about(ACTION) == {"action": FIELDS}
    fresh = {"metadata": {"name": "b", "namespace": "ns", "uid": "u-2"}}
    assert about(fresh) == {"action": {"namespace": "ns", "name": "b", "uid": "u-2", "attempt": 0}}


def test_both_services_json_lines_carry_the_same_action_object() -> None:
    """The operator's ``--log-format json`` is kopf's formatter, the hook's its own."""
    root = logging.getLogger()
    kept = root.handlers[:], root.level
    try:
        kopf.configure(log_format=kopf.LogFormat.JSON)
        operator_formatter = root.handlers[-1].formatter
        assert operator_formatter is not None
        operator_line = json.loads(operator_formatter.format(record_of("asyncaction.x", "m")))
    finally:
        root.handlers[:], level = kept
        root.setLevel(level)
    hook_line = json.loads(JsonFormatter().format(record_of("asyncaction_hook.x", "m")))
    assert operator_line["action"] == hook_line["action"] == FIELDS
    assert operator_line["message"] == hook_line["message"] == "m"


@pytest.mark.asyncio
async def test_a_work_queue_failure_line_names_the_action(caplog: pytest.LogCaptureFixture) -> None:
    queue = WorkQueue("actions", log_fields=lambda key: about(ACTION) if key == "ns/a" else {})

    async def process(key: str) -> Result:
        raise TerminalError("InvalidSpec", "never buildable")

    queue.add("ns/a")
    with caplog.at_level(logging.ERROR, logger="asyncaction.runtime.workqueue"):
        runner = asyncio.create_task(queue.run(process, workers=1))
        for _ in range(50):
            await asyncio.sleep(0)
        runner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await runner
    [line] = [r for r in caplog.records if "failed for good" in r.getMessage()]
    assert line.action == FIELDS  # type: ignore[attr-defined]


@pytest.mark.asyncio
async def test_a_refused_attempt_is_logged_with_the_actions_fields(
    master_keys_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    world = World(master_keys_file)
    created = world.create_action(action_object("denied"))
    world.kube.fail("POST", "/jobs", status_error(422, "Invalid", 'Job.batch "x" is invalid'))
    with caplog.at_level(logging.DEBUG, logger="asyncaction.controllers"):
        await world.reconcile("denied")
    about_it = [r for r in caplog.records if hasattr(r, "action")]
    assert any(r.levelno == logging.WARNING for r in about_it), caplog.records
    for line in about_it:
        fields = line.action
        assert (fields["namespace"], fields["name"], fields["uid"]) == (
            NS,
            "denied",
            created["metadata"]["uid"],
        )
    assert world.kube.created(paths.job_path(NS)) == []


def test_a_hook_line_about_a_uid_names_what_the_cache_knows() -> None:
    from asyncaction_hook.logs import about_uid

    cached = {"u-1": ACTION}
    assert about_uid(cached.get, "u-1") == {"action": FIELDS}
    unknown = about_uid(cached.get, "u-9")["action"]
    assert (unknown["uid"], unknown["attempt"]) == ("u-9", 0)
    line = json.loads(JsonFormatter().format(record_of("asyncaction_hook.x", "m")))
    assert line["action"]["uid"] == "u-1"
