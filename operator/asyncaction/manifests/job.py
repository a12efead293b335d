"""The batch/v1 Job that runs one attempt of an action.

Choices that the rest of the operator relies on:

- One Job per attempt, ``backoffLimit: 0`` and pod ``restartPolicy: Never``: the operator
  owns retries (with its own backoff and attempt count), so every attempt is exactly one
  Job with one Pod and one exit code. ``OnFailure`` would restart containers in place and
  hide failed attempts from the operator, so the user's choice is overridden.
- No ``activeDeadlineSeconds``, ``ttlSecondsAfterFinished`` or ``suspend`` on the Job: the
  operator implements those for the action as a whole (deadlines exclude paused time,
  suspension spans attempts), and Kubernetes 1.20 silently drops ``suspend`` anyway.
- ``JOB_ID``, ``JOB_HOOK``, ``JOB_SECRET_KEY`` and the attempt number go into every
  container and init container, replacing user variables of the same name; the secret
  key only ever as a ``secretKeyRef``.
- When the action uses the data plane (arguments, inputs/outputs, or a stream stored at a
  URI), the first container's command is wrapped by the job entrypoint, which stages
  inputs, appends argument values after the user's args, runs the command, uploads
  outputs and reports the result through the hook.

The user's pod template is deep-copied, never modified.
"""

import copy
import json
from collections.abc import Mapping, Sequence
from typing import Any

from asyncaction.api.names import (
    ANNOTATION_ACTION_GENERATION,
    ANNOTATION_TEMPLATE_DEFAULTS,
    ENV_ATTEMPT,
    ENV_JOB_HOOK,
    ENV_JOB_ID,
    ENV_JOB_SECRET_KEY,
    LABEL_ATTEMPT,
    SECRET_KEY_FIELD,
)
from asyncaction.manifests.errors import ManifestError
from asyncaction.manifests.naming import MAX_LABEL_VALUE_LENGTH
from asyncaction.manifests.ownership import (
    action_labels,
    action_namespace,
    action_uid,
    owner_reference,
)

DEFAULT_ENTRYPOINT: tuple[str, ...] = ("asyncaction-job", "run", "--")

_DATA_PLANE_LISTS = ("arguments", "inputs", "outputs")
_STREAMS = ("stdin", "stdout", "stderr")
_STREAM_TYPE_URI = "uri"


def uses_data_plane(spec: Mapping[str, Any]) -> bool:
    """True when the job entrypoint must stage data or pass arguments for the command."""
    if any(spec.get(field) for field in _DATA_PLANE_LISTS):
        return True
    for stream in _STREAMS:
        value = spec.get(stream)
        if isinstance(value, Mapping) and value.get("type") == _STREAM_TYPE_URI:
            return True
    return False


def job_labels(action: Mapping[str, Any], attempt: int) -> dict[str, str]:
    """Labels of an attempt's Job and of its Pods."""
    return {**action_labels(action), LABEL_ATTEMPT: str(attempt)}


def injected_env(
    action: Mapping[str, Any], *, attempt: int, secret_name: str, hook_url: str
) -> list[dict[str, Any]]:
    """The variables the operator gives every container (the secret by reference only)."""
    return [
        {"name": ENV_JOB_ID, "value": action_uid(action)},
        {
            "name": ENV_JOB_SECRET_KEY,
            "valueFrom": {"secretKeyRef": {"name": secret_name, "key": SECRET_KEY_FIELD}},
        },
        {"name": ENV_JOB_HOOK, "value": hook_url},
        {"name": ENV_ATTEMPT, "value": str(attempt)},
    ]


def _with_env(container: dict[str, Any], env: Sequence[Mapping[str, Any]]) -> None:
    ours = {var["name"] for var in env}
    kept = [var for var in container.get("env") or [] if var.get("name") not in ours]
    container["env"] = [*kept, *(dict(var) for var in env)]


# Names the job hook gives a meaning of its own (the streams, the prefixes, a task's
# inputs): an argument of such a name never reached its own object.
RESERVED_ARGUMENT_NAMES = frozenset({"stdin", "stdout", "stderr", "inputs", "outputs"})


def _check_argument_names(spec: Mapping[str, Any]) -> None:
    """Each input or output argument's name (its ``name``, else ``argN``) is its key in
    the hook's routes: two alike uploaded both to the first's object and the action
    SUCCEEDED with one file lost, and a reserved name failed the action after its
    command had succeeded (found by a review). Refused before anything runs."""
    seen: set[str] = set()
    for index, argument in enumerate(spec.get("arguments") or []):
        if argument.get("type") not in ("input", "output"):
            continue
        name = str(argument.get("name") or f"arg{index}")
        if name in RESERVED_ARGUMENT_NAMES or name.startswith("task-"):
            raise ManifestError(
                f"spec.arguments[{index}]: the name {name!r} is the job hook's own"
                f" ({', '.join(sorted(RESERVED_ARGUMENT_NAMES))}, task-N): choose another"
            )
        if name in seen:
            raise ManifestError(
                f"spec.arguments[{index}]: two input or output arguments named {name!r}"
            )
        seen.add(name)


def _wrap_command(container: dict[str, Any], entrypoint: Sequence[str]) -> None:
    command = container.get("command")
    if not command:
        name = container.get("name") or "the first container"
        raise ManifestError(
            f"container {name!r} has no command: actions with arguments, inputs, outputs "
            "or URI streams need an explicit command (images are not inspected, so the "
            "job entrypoint must be told what to run)"
        )
    container["command"] = [*entrypoint, *command, *(container.get("args") or [])]
    container.pop("args", None)


# Kueue (kueue.x-k8s.io) reads these labels of a Job: the LocalQueue it waits in, and
# the WorkloadPriorityClass that orders it. An action's own labels are passed on, so a
# cluster that governs batch work with Kueue governs actions too.
KUEUE_LABELS = ("kueue.x-k8s.io/queue-name", "kueue.x-k8s.io/priority-class")
# Pod failures a Job of tasks survives (a killed pod is replaced; its task is leased
# again): Kubernetes' own default.
TASKS_JOB_BACKOFF_LIMIT = 6


def kueue_labels(action: Mapping[str, Any]) -> dict[str, str]:
    labels = (action.get("metadata") or {}).get("labels") or {}
    return {key: str(labels[key]) for key in KUEUE_LABELS if labels.get(key)}


def job_shape(spec: Mapping[str, Any]) -> dict[str, Any]:
    """One pod for a plain action; ``parallelism`` pods leasing tasks for an action of
    tasks (no ``completions``: the work-queue pattern, each pod exits when no task is
    left)."""
    if not spec.get("tasks"):
        return {"backoffLimit": 0, "completions": 1, "parallelism": 1}
    return {
        "backoffLimit": TASKS_JOB_BACKOFF_LIMIT,
        "parallelism": int(spec.get("parallelism") or 1),
    }


def _check_job_name(job_name: str) -> None:
    # The Job controller copies the Job's name into its Pods' `job-name` label.
    if not job_name or len(job_name) > MAX_LABEL_VALUE_LENGTH:
        raise ManifestError(
            f"job name {job_name!r} must have 1 to {MAX_LABEL_VALUE_LENGTH} characters"
        )


def build_job(
    action: Mapping[str, Any],
    pod_template: Mapping[str, Any],
    *,
    attempt: int,
    job_name: str,
    secret_name: str,
    hook_url: str,
    entrypoint: Sequence[str] = DEFAULT_ENTRYPOINT,
    template_defaults: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The Job for attempt ``attempt`` of ``action``, running ``pod_template``.

    ``action["spec"]`` is read for the data-plane fields: pass the resolved spec.
    ``template_defaults`` (``templates.attempt_defaults``) is recorded on the Job so
    the attempt keeps the ActionTemplate defaults it started with.
    """
    _check_job_name(job_name)
    if attempt < 0:
        raise ManifestError(f"attempt must not be negative, got {attempt}")
    template: dict[str, Any] = copy.deepcopy(dict(pod_template))
    pod_spec = template.get("spec")
    containers = pod_spec.get("containers") if isinstance(pod_spec, dict) else None
    if not containers:
        raise ManifestError("spec.template.spec.containers is empty")
    assert isinstance(pod_spec, dict)  # narrowed by the check above

    labels = {**kueue_labels(action), **job_labels(action, attempt)}
    pod_metadata = template.setdefault("metadata", {})
    pod_metadata["labels"] = {**(pod_metadata.get("labels") or {}), **labels}

    pod_spec["restartPolicy"] = "Never"
    env = injected_env(action, attempt=attempt, secret_name=secret_name, hook_url=hook_url)
    for container in [*containers, *(pod_spec.get("initContainers") or [])]:
        _with_env(container, env)
    if uses_data_plane(action.get("spec") or {}):
        _check_argument_names(action.get("spec") or {})
        _wrap_command(containers[0], entrypoint)

    generation = (action.get("metadata") or {}).get("generation")
    annotations = {} if generation is None else {ANNOTATION_ACTION_GENERATION: str(generation)}
    if template_defaults is not None:
        annotations[ANNOTATION_TEMPLATE_DEFAULTS] = json.dumps(
            dict(template_defaults), sort_keys=True
        )
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name,
            "namespace": action_namespace(action),
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [owner_reference(action)],
        },
        "spec": {**job_shape(action.get("spec") or {}), "template": template},
    }
