"""The examples of schedules and tasks are valid objects of the models."""

from pathlib import Path

import yaml

from asyncaction.api.models import AsyncAction
from asyncaction.api.schedules import ActionSchedule

EXAMPLES = Path(__file__).parents[3] / "examples"


def test_schedule_and_tasks_examples_validate() -> None:
    schedule = yaml.safe_load((EXAMPLES / "nightly-schedule.yaml").read_text())
    assert ActionSchedule.model_validate(schedule).spec.time_zone == "Europe/Paris"
    tasks = yaml.safe_load((EXAMPLES / "tasks.yaml").read_text())
    action = AsyncAction.model_validate(tasks)
    assert action.spec.tasks is not None
    assert len(action.spec.tasks) == 10
    assert action.spec.parallelism == 3
