import copy
import json
from typing import Any

import pytest

from asyncaction.api.names import (
    ANNOTATION_ACTION_GENERATION,
    ANNOTATION_TEMPLATE_DEFAULTS,
    LABEL_ACTION_NAME,
    LABEL_ACTION_UID,
    LABEL_ATTEMPT,
    LABEL_MANAGED_BY,
    SECRET_KEY_FIELD,
)
from asyncaction.manifests import (
    DEFAULT_ENTRYPOINT,
    ManifestError,
    build_job,
    uses_data_plane,
)
from tests.unit.manifests.samples import ACTION_UID, make_action

HOOK = "http://asyncaction-hook.system:8080"
SECRET_NAME = "resize-job-secret"
SECRET_VALUE = "user-inline-secret"

Manifest = dict[str, Any]


def job_for(action: Manifest, template: Manifest, **overrides: Any) -> Manifest:
    arguments: dict[str, Any] = {
        "attempt": 2,
        "job_name": "resize-2",
        "secret_name": SECRET_NAME,
        "hook_url": HOOK,
        **overrides,
    }
    return build_job(action, template, **arguments)


def env_of(container: Manifest) -> dict[str, Any]:
    """Variables by name; fails when a name appears twice."""
    names = [var["name"] for var in container["env"]]
    assert len(names) == len(set(names)), f"duplicate env vars in {names}"
    return {var["name"]: var for var in container["env"]}


def all_containers(job: Manifest) -> list[Manifest]:
    pod_spec = job["spec"]["template"]["spec"]
    return [*pod_spec["containers"], *pod_spec.get("initContainers", [])]


def test_job_identity_and_ownership(action: Manifest, pod_template: Manifest) -> None:
    job = job_for(action, pod_template)
    assert job["apiVersion"] == "batch/v1"
    assert job["kind"] == "Job"
    assert job["metadata"]["name"] == "resize-2"
    assert job["metadata"]["namespace"] == "team-a"
    (owner,) = job["metadata"]["ownerReferences"]
    assert owner["kind"] == "AsyncAction"
    assert owner["uid"] == ACTION_UID
    assert owner["controller"] is True
    assert owner["blockOwnerDeletion"] is True


def test_job_records_the_action_generation(action: Manifest, pod_template: Manifest) -> None:
    job = job_for(action, pod_template)
    assert job["metadata"]["annotations"] == {ANNOTATION_ACTION_GENERATION: "3"}


def test_job_and_pod_are_labelled_and_ours_win(action: Manifest, pod_template: Manifest) -> None:
    job = job_for(action, pod_template)
    expected = {
        LABEL_ACTION_NAME: "resize",
        LABEL_ACTION_UID: ACTION_UID,
        LABEL_ATTEMPT: "2",
        LABEL_MANAGED_BY: "asyncaction-operator",
    }
    assert job["metadata"]["labels"] == expected
    # The template's own label is kept; its attempt label ("99") is overridden.
    assert job["spec"]["template"]["metadata"]["labels"] == {"app": "resizer", **expected}


def test_one_pod_per_attempt(action: Manifest, pod_template: Manifest) -> None:
    job = job_for(action, pod_template)
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_job_leaves_lifecycle_fields_to_the_operator(
    action: Manifest, pod_template: Manifest
) -> None:
    action["spec"] = {"activeDeadlineSeconds": 60, "ttlSecondsAfterFinished": 10, "suspend": True}
    spec = job_for(action, pod_template)["spec"]
    for field in ("activeDeadlineSeconds", "ttlSecondsAfterFinished", "suspend"):
        assert field not in spec


def test_env_is_injected_into_every_container_and_init_container(
    action: Manifest, pod_template: Manifest
) -> None:
    containers = all_containers(job_for(action, pod_template))
    assert [c["name"] for c in containers] == ["main", "sidecar", "warmup"]
    for container in containers:
        env = env_of(container)
        assert env["JOB_ID"] == {"name": "JOB_ID", "value": ACTION_UID}
        assert env["JOB_HOOK"] == {"name": "JOB_HOOK", "value": HOOK}
        assert env["ASYNCACTION_ATTEMPT"] == {"name": "ASYNCACTION_ATTEMPT", "value": "2"}
        assert env["JOB_SECRET_KEY"] == {
            "name": "JOB_SECRET_KEY",
            "valueFrom": {"secretKeyRef": {"name": SECRET_NAME, "key": SECRET_KEY_FIELD}},
        }


def test_user_variables_are_kept_unless_they_clash(
    action: Manifest, pod_template: Manifest
) -> None:
    main, _sidecar, warmup = all_containers(job_for(action, pod_template))
    assert env_of(main)["LOG_LEVEL"] == {"name": "LOG_LEVEL", "value": "debug"}
    assert env_of(main)["JOB_ID"]["value"] == ACTION_UID  # "spoofed" replaced
    assert env_of(warmup)["JOB_HOOK"]["value"] == HOOK  # "http://user-chosen" replaced


def test_secret_key_is_never_inline(action: Manifest, pod_template: Manifest) -> None:
    job = job_for(action, pod_template)
    for container in all_containers(job):
        assert "value" not in env_of(container)["JOB_SECRET_KEY"]
    # Even the value a user put inline in the template is gone.
    assert SECRET_VALUE not in json.dumps(job)


def test_user_template_is_not_mutated(action: Manifest, pod_template: Manifest) -> None:
    action["spec"] = {"arguments": [{"type": "parameter", "value": "x"}]}
    before_template, before_action = copy.deepcopy(pod_template), copy.deepcopy(action)
    job = job_for(action, pod_template)
    assert pod_template == before_template
    assert action == before_action
    job["spec"]["template"]["spec"]["containers"][0]["env"].clear()
    assert pod_template == before_template


def test_job_built_twice_is_identical(action: Manifest, pod_template: Manifest) -> None:
    assert job_for(action, pod_template) == job_for(action, pod_template)


def test_without_data_plane_commands_are_untouched(
    action: Manifest, pod_template: Manifest
) -> None:
    main = job_for(action, pod_template)["spec"]["template"]["spec"]["containers"][0]
    assert main["command"] == ["python", "-m", "resize"]
    assert main["args"] == ["--quality", "80"]


def test_data_plane_wraps_the_first_container_only(pod_template: Manifest) -> None:
    action = make_action(spec={"inputs": ["s3://bucket/in/"]})
    containers = job_for(action, pod_template)["spec"]["template"]["spec"]["containers"]
    assert containers[0]["command"] == [
        *DEFAULT_ENTRYPOINT,
        "python",
        "-m",
        "resize",
        "--quality",
        "80",
    ]
    assert "args" not in containers[0]
    assert containers[1]["command"] == ["sleep", "inf"]


def test_custom_entrypoint(pod_template: Manifest) -> None:
    action = make_action(spec={"outputs": ["s3://bucket/out/"]})
    job = job_for(action, pod_template, entrypoint=["/bin/wrap"])
    main = job["spec"]["template"]["spec"]["containers"][0]
    assert main["command"] == ["/bin/wrap", "python", "-m", "resize", "--quality", "80"]


def test_data_plane_needs_an_explicit_command(pod_template: Manifest) -> None:
    del pod_template["spec"]["containers"][0]["command"]
    action = make_action(spec={"stdout": {"type": "uri", "value": "s3://bucket/out.txt"}})
    with pytest.raises(ManifestError, match="'main' has no command"):
        job_for(action, pod_template)


@pytest.mark.parametrize(
    ("arguments", "refused"),
    [
        (
            [{"type": "output", "name": "report", "value": "s3://b/a"},
             {"type": "output", "name": "report", "value": "s3://b/b"}],
            r"^spec\.arguments\[1\]: two input or output arguments named 'report'$",
        ),
        (
            [{"type": "input", "value": "s3://b/a"}, {"type": "input", "name": "arg0", "value": "s3://b/b"}],
            r"^spec\.arguments\[1\]: two input or output arguments named 'arg0'$",
        ),
        (
            [{"type": "output", "name": "outputs", "value": "s3://b/a"}],
            r"^spec\.arguments\[0\]: the name 'outputs' is the job hook's own",
        ),
        (
            [{"type": "input", "name": "task-3", "value": "s3://b/a"}],
            r"^spec\.arguments\[0\]: the name 'task-3' is the job hook's own",
        ),
    ],
)  # fmt: skip
def test_argument_names_the_hook_cannot_tell_apart_are_refused(
    pod_template: Manifest, arguments: list[Manifest], refused: str
) -> None:
    """Found by a review: two outputs named alike both went to the first's object (the
    action SUCCEEDED with a file lost); a reserved name failed it after the command."""
    with pytest.raises(ManifestError, match=refused):
        job_for(make_action(spec={"arguments": arguments}), pod_template)
    # parameters are no objects: alike is fine; one output of its own name too
    parameters = [{"type": "parameter", "value": "--x"}, {"type": "parameter", "value": "--x"}]
    output = {"type": "output", "name": "report", "value": "s3://b/a"}
    job_for(make_action(spec={"arguments": [*parameters, output]}), pod_template)


def test_command_is_not_needed_without_data_plane(action: Manifest, pod_template: Manifest) -> None:
    del pod_template["spec"]["containers"][0]["command"]
    main = job_for(action, pod_template)["spec"]["template"]["spec"]["containers"][0]
    assert "command" not in main


@pytest.mark.parametrize(
    "template",
    [{}, {"spec": {}}, {"spec": {"containers": []}}, {"metadata": {"labels": {"a": "b"}}}],
)
def test_template_without_containers_is_rejected(action: Manifest, template: Manifest) -> None:
    with pytest.raises(ManifestError, match=r"^spec\.template\.spec\.containers is empty$"):
        job_for(action, template)


def test_job_name_too_long_for_the_job_name_label_is_rejected(
    action: Manifest, pod_template: Manifest
) -> None:
    with pytest.raises(ManifestError, match="job name"):
        job_for(action, pod_template, job_name="j" * 64)


def test_long_action_name_gives_valid_labels(pod_template: Manifest) -> None:
    job = job_for(make_action(name="r" * 253), pod_template)
    assert all(len(value) <= 63 for value in job["metadata"]["labels"].values())


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({}, False),
        ({"request": {"a": 1}, "template": {}}, False),
        ({"arguments": []}, False),
        ({"arguments": [{"type": "parameter", "value": "1"}]}, True),
        ({"inputs": ["s3://b/in/"]}, True),
        ({"outputs": ["s3://b/out/"]}, True),
        ({"stdin": {"type": "pipe"}, "stdout": {"type": "pipe"}}, False),
        ({"stdin": {"type": "uri", "value": "s3://b/in.txt"}}, True),
        ({"stderr": {"type": "uri", "value": "s3://b/err.txt"}}, True),
    ],
)
def test_uses_data_plane(spec: Manifest, expected: bool) -> None:
    assert uses_data_plane(spec) is expected


def test_the_job_spec_is_exactly_one_pod_once(action: Manifest, pod_template: Manifest) -> None:
    """completions or parallelism 2 would run two pods of one attempt, each signing."""
    spec = job_for(action, pod_template)["spec"]
    assert set(spec) == {"backoffLimit", "completions", "parallelism", "template"}
    assert (spec["backoffLimit"], spec["completions"], spec["parallelism"]) == (0, 1, 1)


def test_job_name_length_bounds(action: Manifest, pod_template: Manifest) -> None:
    assert job_for(action, pod_template, job_name="j" * 63)["metadata"]["name"] == "j" * 63
    with pytest.raises(ManifestError, match="must have 1 to 63 characters"):
        job_for(action, pod_template, job_name="")


def test_attempt_zero_is_built_and_a_negative_one_refused(
    action: Manifest, pod_template: Manifest
) -> None:
    job = job_for(action, pod_template, attempt=0)
    assert job["metadata"]["labels"][LABEL_ATTEMPT] == "0"
    with pytest.raises(ManifestError, match="must not be negative, got -1"):
        job_for(action, pod_template, attempt=-1)


def test_a_template_without_metadata_gets_the_labels(
    action: Manifest, pod_template: Manifest
) -> None:
    del pod_template["metadata"]
    job = job_for(action, pod_template)
    assert job["spec"]["template"]["metadata"] == {"labels": job["metadata"]["labels"]}


def test_the_template_defaults_are_recorded_as_sorted_json(
    action: Manifest, pod_template: Manifest
) -> None:
    defaults = {"queue": "batch", "backoffLimit": 2}
    annotations = job_for(action, pod_template, template_defaults=defaults)["metadata"][
        "annotations"
    ]
    assert annotations == {
        ANNOTATION_ACTION_GENERATION: "3",
        ANNOTATION_TEMPLATE_DEFAULTS: '{"backoffLimit": 2, "queue": "batch"}',
    }
    assert json.loads(annotations[ANNOTATION_TEMPLATE_DEFAULTS]) == defaults
    del action["metadata"]["generation"]
    assert job_for(action, pod_template)["metadata"]["annotations"] == {}


def test_a_command_without_args_is_wrapped(pod_template: Manifest) -> None:
    del pod_template["spec"]["containers"][0]["args"]
    action = make_action(spec={"outputs": ["s3://bucket/out/"]})
    main = job_for(action, pod_template, entrypoint=["/bin/wrap"])["spec"]["template"]["spec"][
        "containers"
    ][0]
    assert main["command"] == ["/bin/wrap", "python", "-m", "resize"]
    assert "args" not in main


def test_an_unnamed_container_without_command_is_named_in_the_error(
    pod_template: Manifest,
) -> None:
    main = pod_template["spec"]["containers"][0]
    del main["command"], main["name"]
    action = make_action(spec={"inputs": ["s3://bucket/in/"]})
    with pytest.raises(ManifestError, match=r"^container 'the first container' has no command"):
        job_for(action, pod_template)


def test_tasks_run_parallel_pods_and_kueue_labels_reach_job_and_pods(
    pod_template: Manifest,
) -> None:
    action = make_action(spec={"tasks": [{"name": "a"}, {"name": "b"}], "parallelism": 4})
    action["metadata"]["labels"] = {
        "kueue.x-k8s.io/queue-name": "team-a-queue",
        "kueue.x-k8s.io/priority-class": "batch-high",
        "unrelated": "x",
    }
    job = job_for(action, pod_template)
    assert {k: v for k, v in job["spec"].items() if k != "template"} == {
        "backoffLimit": 6,
        "parallelism": 4,
    }
    for labels in (job["metadata"]["labels"], job["spec"]["template"]["metadata"]["labels"]):
        assert labels["kueue.x-k8s.io/queue-name"] == "team-a-queue"
        assert labels["kueue.x-k8s.io/priority-class"] == "batch-high"
        assert "unrelated" not in labels
