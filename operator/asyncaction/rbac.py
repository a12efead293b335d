"""The least privileges of the operator and of the job hook, as ClusterRole manifests,
and the Role each needs in the one namespace where its Leases live.

Pure builders: a chart renders them, and a test runs both processes under nothing but
these roles. Secrets are the sensitive part: the operator creates, reads, updates (a new
attempt's key) and deletes the per-action Secrets, and lists/watches them by the
managed-by label into its cache. The hook has no access to Secrets at all: it derives
each job's key from the master key it shares with the operator (``asyncaction.keys``), so
nothing a tenant writes to a Secret can change what it accepts. The operator writes
nothing to an action but its status (no finalizer, no annotations), except the actions
an ActionSchedule creates, aborts (Replace) and prunes, and elects a leader on a Lease.
It holds ``update`` on ``asyncactions/finalizers`` only because the owner
references of its Jobs and Secrets set ``blockOwnerDeletion``, which the
OwnerReferencesPermissionEnforcement admission plugin allows only to who may update the
owner's finalizers (the same for the runs an ActionSchedule owns, and for the task
ConfigMaps the hook writes for an action); neither ever writes one.

Leases are granted apart (``build_lease_role``): a Role in the namespace of the
operator's leader Lease, and one in the namespace of the hook's shard Leases. Granted
with the rest of a ClusterRole, ``update`` on Leases would reach every Lease of the
cluster: the controller manager's and scheduler's leader elections in kube-system and
the node heartbeats in kube-node-lease, from a process every pod can talk to.
"""

from __future__ import annotations

from typing import Any

from asyncaction.api.names import (
    ACTION_PLURAL,
    GROUP,
    QUEUE_PLURAL,
    SCHEDULE_PLURAL,
    TEMPLATE_PLURAL,
)

READ = ["get", "list", "watch"]


def _rule(group: str, resources: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"apiGroups": [group], "resources": resources, "verbs": verbs}


def _role(name: str, rules: list[dict[str, Any]], namespace: str | None = None) -> dict[str, Any]:
    """A ClusterRole, or with ``namespace`` a Role there."""
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    metadata["labels"] = {"app.kubernetes.io/part-of": "asyncaction"}
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole" if namespace is None else "Role",
        "metadata": metadata,
        "rules": rules,
    }


def build_operator_role(name: str = "asyncaction-operator") -> dict[str, Any]:
    return _role(
        name,
        [
            _rule(GROUP, [ACTION_PLURAL, QUEUE_PLURAL, TEMPLATE_PLURAL, SCHEDULE_PLURAL], READ),
            _rule(
                GROUP,
                [f"{ACTION_PLURAL}/status", f"{QUEUE_PLURAL}/status", f"{SCHEDULE_PLURAL}/status"],
                ["patch"],
            ),
            # An ActionSchedule's runs: created, aborted (spec.abort) on Replace, and
            # deleted beyond the history limits (and, with retention Delete, a finished
            # action whose TTL work is done); patch also sets the hook-shard label when
            # the hook runs as shards.
            _rule(GROUP, [ACTION_PLURAL], ["create", "patch", "delete"]),
            # Jobs and Secrets name their action as owner with blockOwnerDeletion, runs
            # their schedule: under the OwnerReferencesPermissionEnforcement admission
            # plugin (OpenShift, hardened clusters) that needs update on the owner's
            # finalizers.
            _rule(
                GROUP, [f"{ACTION_PLURAL}/finalizers", f"{SCHEDULE_PLURAL}/finalizers"], ["update"]
            ),
            _rule("batch", ["jobs"], [*READ, "create", "delete"]),
            _rule("", ["pods"], READ),
            _rule("", ["secrets"], [*READ, "create", "patch", "delete"]),
            _rule("", ["events"], ["create"]),
        ],
    )


def build_hook_role(name: str = "asyncaction-hook") -> dict[str, Any]:
    return _role(
        name,
        [
            _rule(GROUP, [ACTION_PLURAL, TEMPLATE_PLURAL], READ),
            _rule(GROUP, [f"{ACTION_PLURAL}/status"], ["get", "patch"]),
            # The per-task records of actions with spec.tasks (asyncaction_client.taskbook),
            # owned by their action with blockOwnerDeletion (hence the finalizers rule).
            _rule("", ["configmaps"], ["get", "create", "update"]),
            _rule(GROUP, [f"{ACTION_PLURAL}/finalizers"], ["update"]),
            # The Event of a terminal phase it wrote (asyncaction_hook.events).
            _rule("", ["events"], ["create"]),
        ],
    )


def lease_rules() -> list[dict[str, Any]]:
    """The operator's leader Lease; the hook's one Lease per shard (one process serves a
    shard at a time: replay safety). ``create`` cannot be narrowed by name, so the Role's
    namespace is the bound."""
    return [_rule("coordination.k8s.io", ["leases"], ["get", "create", "update", "patch"])]


def build_lease_role(name: str, namespace: str) -> dict[str, Any]:
    """The Role of one component in the namespace of its Leases."""
    return _role(name, lease_rules(), namespace)


def build_binding(
    role: str, subject: dict[str, str], namespace: str | None = None
) -> dict[str, Any]:
    """A ClusterRoleBinding of the ClusterRole ``role``, or with ``namespace`` a
    RoleBinding there of the Role ``role``."""
    kind = "ClusterRole" if namespace is None else "Role"
    metadata: dict[str, Any] = {"name": f"{role}-{subject['name']}"}
    if namespace is not None:
        metadata["namespace"] = namespace
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": f"{kind}Binding",
        "metadata": metadata,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
        "subjects": [subject],
    }
