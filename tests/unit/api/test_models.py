from typing import Any

import pytest
from pydantic import ValidationError

from asyncaction.api.models import AsyncAction, AsyncActionSpec, AsyncActionStatus

TEMPLATE = {"spec": {"containers": [{"name": "a", "image": "b", "command": ["x"]}]}}


def test_defaults_and_camel_case() -> None:
    spec = AsyncActionSpec.model_validate(
        {"template": TEMPLATE, "backoffLimit": 2, "activeDeadlineSeconds": 30}
    )
    assert spec.queue is None  # defaulted by the operator, so templates can default it
    assert spec.priority is None
    assert spec.suspend is False
    assert spec.backoff_limit == 2
    assert spec.model_dump(by_alias=True, exclude_none=True)["activeDeadlineSeconds"] == 30


def test_a_full_action_from_the_contract_parses() -> None:
    action = AsyncAction.model_validate(
        {
            "apiVersion": "asyncaction.dev/v1alpha1",
            "kind": "AsyncAction",
            "metadata": {"name": "a"},
            "spec": {
                "templateRef": "wordcount",
                "request": {"any": {"nested": [1]}},
                "arguments": [
                    {"type": "input", "name": "in", "value": "s3://bucket/in.txt"},
                    {"type": "parameter", "value": "--fast"},
                    {"type": "output", "value": "s3://bucket/out/"},
                ],
                "inputs": ["s3://bucket/prefix/"],
                "stdout": {"type": "uri", "value": "s3://bk1/o"},
                "stdin": {"type": "pipe"},
                "startAt": "2026-11-23T05:00:00Z",
            },
            "status": {"phase": "RUNNING", "progress": 40, "futureField": "ignored"},
        }
    )
    assert action.spec.template_ref == "wordcount"
    assert action.status is not None
    assert action.status.progress == 40


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ({"activeDeadlineSeconds": -1}, "greater than or equal to 1"),
        ({"backoffLimit": -1}, "greater than or equal to 0"),
        ({"priority": "high"}, "valid integer"),
        ({"arguments": [{"type": "input", "value": "http://x/y"}]}, "s3://bucket/key"),
        ({"arguments": [{"type": "bogus", "value": "x"}]}, "'input', 'parameter' or 'output'"),
        ({"inputs": ["s3://UPPER/x"]}, "should match pattern"),
        ({"stdout": {"type": "uri"}}, "uri stream needs"),
        ({"queue": "Not_A_Label"}, "should match pattern"),
    ],
)
def test_bad_specs_are_refused(spec: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        AsyncActionSpec.model_validate({"template": TEMPLATE, **spec})


@pytest.mark.parametrize(
    "status", [{"progress": 101}, {"progress": -1}, {"phase": "DONE"}, {"logTail": ["x"] * 201}]
)
def test_bad_statuses_are_refused(status: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        AsyncActionStatus.model_validate(status)
