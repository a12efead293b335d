import copy
from typing import Any

import pytest

from asyncaction.manifests import pod_template_for, resolve_spec

ACTION_POD = {"spec": {"containers": [{"name": "mine", "image": "a", "command": ["a"]}]}}
TEMPLATE_POD = {
    "metadata": {"labels": {"from": "template"}},
    "spec": {"containers": [{"name": "theirs", "image": "b", "command": ["b"]}]},
}


def template_spec() -> dict[str, Any]:
    return {
        "template": copy.deepcopy(TEMPLATE_POD),
        "request": {"size": 10, "format": "png"},
        "queue": "gpu",
        "priority": 5,
        "backoffLimit": 2,
    }


def test_without_a_template_the_action_spec_is_returned_as_a_copy() -> None:
    spec = {"template": ACTION_POD, "request": {"a": 1}}
    resolved = resolve_spec(spec, None)
    assert resolved == spec
    resolved["request"]["a"] = 2
    assert spec["request"] == {"a": 1}


def test_template_defaults_fill_fields_the_action_does_not_set() -> None:
    resolved = resolve_spec({"templateRef": "resizer", "request": {"size": 1}}, template_spec())
    assert resolved["queue"] == "gpu"
    assert resolved["priority"] == 5
    assert resolved["backoffLimit"] == 2
    assert resolved["template"] == TEMPLATE_POD
    assert pod_template_for(resolved) == TEMPLATE_POD


def test_action_fields_win_over_template_defaults() -> None:
    resolved = resolve_spec({"queue": "cpu", "priority": 0, "backoffLimit": 0}, template_spec())
    assert (resolved["queue"], resolved["priority"], resolved["backoffLimit"]) == ("cpu", 0, 0)


def test_request_is_replaced_not_merged() -> None:
    resolved = resolve_spec({"request": {"size": 1}}, template_spec())
    assert resolved["request"] == {"size": 1}


def test_action_template_replaces_the_template_pod_including_labels() -> None:
    resolved = resolve_spec({"template": ACTION_POD, "templateRef": "resizer"}, template_spec())
    assert pod_template_for(resolved) == ACTION_POD


def test_null_fields_of_the_action_count_as_unset() -> None:
    resolved = resolve_spec({"queue": None, "request": None}, template_spec())
    assert resolved["queue"] == "gpu"
    assert resolved["request"] == {"size": 10, "format": "png"}


def test_templates_do_not_chain() -> None:
    resolved = resolve_spec({}, {**template_spec(), "templateRef": "another"})
    assert "templateRef" not in resolved


def test_inputs_are_never_modified_and_results_share_nothing() -> None:
    action_spec = {"templateRef": "resizer", "arguments": [{"type": "parameter", "value": "x"}]}
    tmpl = template_spec()
    action_before, template_before = copy.deepcopy(action_spec), copy.deepcopy(tmpl)
    resolved = resolve_spec(action_spec, tmpl)
    resolved["template"]["spec"]["containers"].clear()
    resolved["arguments"].clear()
    assert action_spec == action_before
    assert tmpl == template_before


def test_no_pod_template_means_no_handler() -> None:
    assert pod_template_for({"templateRef": "unknown"}) is None
    assert pod_template_for({"template": {}}) is None
    assert pod_template_for(resolve_spec({"templateRef": "gone"}, None)) is None


def test_an_attempt_records_the_template_defaults_it_ran_with() -> None:
    from asyncaction.manifests import attempt_defaults, recorded_defaults

    recorded = attempt_defaults(template_spec())
    assert recorded == {"queue": "gpu", "priority": 5, "backoffLimit": 2}  # no pod, no request
    job = {"metadata": {"annotations": {"x": "y"}}}
    assert recorded_defaults(job) is None
    from asyncaction.manifests import ANNOTATION_TEMPLATE_DEFAULTS

    job["metadata"]["annotations"][ANNOTATION_TEMPLATE_DEFAULTS] = '{"backoffLimit": 2}'
    assert recorded_defaults(job) == {"backoffLimit": 2}
    job["metadata"]["annotations"][ANNOTATION_TEMPLATE_DEFAULTS] = "not json"
    assert recorded_defaults(job) is None


def test_the_job_carries_the_recorded_defaults() -> None:
    from asyncaction.manifests import ANNOTATION_TEMPLATE_DEFAULTS, build_job, recorded_defaults
    from tests.unit.manifests.samples import make_action, make_pod_template

    job = build_job(
        make_action(),
        make_pod_template(),
        attempt=1,
        job_name="j-1",
        secret_name="s",
        hook_url="http://h",
        template_defaults={"activeDeadlineSeconds": 60},
    )
    assert ANNOTATION_TEMPLATE_DEFAULTS in job["metadata"]["annotations"]
    assert recorded_defaults(job) == {"activeDeadlineSeconds": 60}


def test_the_resolved_spec_shares_nothing_nested_with_either_input() -> None:
    from asyncaction.manifests import resolve_spec

    template = {"arguments": [{"name": "a", "type": "parameter", "value": "1"}]}
    action = {"template": {"spec": {"containers": [{"name": "main"}]}}}
    resolved = resolve_spec(action, template)
    resolved["arguments"][0]["value"] = "changed"
    resolved["template"]["spec"]["containers"][0]["name"] = "changed"
    assert template["arguments"][0]["value"] == "1"
    assert action["template"]["spec"]["containers"][0]["name"] == "main"


@pytest.mark.parametrize("raw", ["[1, 2]", '"text"', "3", "null"])
def test_recorded_defaults_that_are_not_an_object_are_ignored(raw: str) -> None:
    from asyncaction.manifests import ANNOTATION_TEMPLATE_DEFAULTS, recorded_defaults

    assert (
        recorded_defaults({"metadata": {"annotations": {ANNOTATION_TEMPLATE_DEFAULTS: raw}}})
        is None
    )
