"""The least privileges of the operator and of the job hook, as ClusterRole manifests.

Pure builders: a chart renders them, and a test runs both processes under nothing but
these roles. Secrets are the sensitive part: the operator creates, reads, updates (a new
attempt's key) and deletes the per-action Secrets, and lists/watches them by the
managed-by label into its cache. The hook has no access to Secrets at all: it derives
each job's key from the master key it shares with the operator (``asyncaction.keys``), so
nothing a tenant writes to a Secret can change what it accepts. The operator writes
nothing to an action but its status (no finalizer, no annotations), and elects a leader
on a Lease. It holds ``update`` on ``asyncactions/finalizers`` only because the owner
references of its Jobs and Secrets set ``blockOwnerDeletion``, which the
OwnerReferencesPermissionEnforcement admission plugin allows only to who may update the
owner's finalizers; the operator never writes one.
"""

from __future__ import annotations

from typing import Any

from asyncaction.api.names import ACTION_PLURAL, GROUP, QUEUE_PLURAL, TEMPLATE_PLURAL

READ = ["get", "list", "watch"]


def _rule(group: str, resources: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"apiGroups": [group], "resources": resources, "verbs": verbs}


def _role(name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": "asyncaction"}},
        "rules": rules,
    }


def build_operator_role(name: str = "asyncaction-operator") -> dict[str, Any]:
    return _role(
        name,
        [
            _rule(GROUP, [ACTION_PLURAL, QUEUE_PLURAL, TEMPLATE_PLURAL], READ),
            _rule(GROUP, [f"{ACTION_PLURAL}/status", f"{QUEUE_PLURAL}/status"], ["patch"]),
            # Jobs and Secrets name their action as owner with blockOwnerDeletion: under
            # the OwnerReferencesPermissionEnforcement admission plugin (OpenShift,
            # hardened clusters) setting it needs update on the owner's finalizers.
            _rule(GROUP, [f"{ACTION_PLURAL}/finalizers"], ["update"]),
            _rule("batch", ["jobs"], [*READ, "create", "delete"]),
            _rule("", ["pods"], READ),
            _rule("", ["secrets"], [*READ, "create", "patch", "delete"]),
            _rule("", ["events"], ["create"]),
            _rule("coordination.k8s.io", ["leases"], ["get", "create", "update", "patch"]),
        ],
    )


def build_hook_role(name: str = "asyncaction-hook") -> dict[str, Any]:
    return _role(
        name,
        [
            _rule(GROUP, [ACTION_PLURAL], READ),
            _rule(GROUP, [f"{ACTION_PLURAL}/status"], ["get", "patch"]),
            _rule(GROUP, [TEMPLATE_PLURAL], ["get"]),
            # The Event of a terminal phase it wrote (asyncaction_hook.events).
            _rule("", ["events"], ["create"]),
        ],
    )


def build_binding(role: str, subject: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": f"{role}-{subject['name']}"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [subject],
    }
