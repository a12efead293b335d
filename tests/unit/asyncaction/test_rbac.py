from asyncaction.rbac import (
    build_binding,
    build_hook_role,
    build_lease_role,
    build_operator_role,
    lease_rules,
)


def resources(role: dict[str, object]) -> set[str]:
    rules = role["rules"]
    assert isinstance(rules, list)
    return {resource for rule in rules for resource in rule["resources"]}


def test_the_hook_has_no_access_to_secrets() -> None:
    """Keys are derived (asyncaction.keys): a tenant's Secret cannot reach the hook."""
    assert "secrets" not in resources(build_hook_role())


def test_the_operator_caches_secrets_and_can_replace_an_attempts_key() -> None:
    """It watches its Secrets (metadata only, by label) to find them by owner uid, and
    patches a Secret when a new attempt's key replaces the last one; it never updates."""
    rules = build_operator_role()["rules"]
    verbs = {v for r in rules if "secrets" in r["resources"] for v in r["verbs"]}
    assert verbs == {"get", "list", "watch", "create", "patch", "delete"}


def test_the_operator_may_set_block_owner_deletion_on_its_actions() -> None:
    """OwnerReferencesPermissionEnforcement: blockOwnerDeletion needs update on the owner's
    finalizers (actions own Jobs and Secrets, schedules own their runs)."""
    rules = build_operator_role()["rules"]
    finalizers = [r for r in rules if "asyncactions/finalizers" in r["resources"]]
    assert finalizers == [
        {
            "apiGroups": ["asyncaction.dev"],
            "resources": ["asyncactions/finalizers", "actionschedules/finalizers"],
            "verbs": ["update"],
        }
    ]


def test_the_operator_writes_actions_only_for_schedules() -> None:
    """Runs are created, aborted (Replace) and pruned; schedules get only their status."""
    rules = build_operator_role()["rules"]
    actions = {v for r in rules if "asyncactions" in r["resources"] for v in r["verbs"]}
    assert actions == {"get", "list", "watch", "create", "patch", "delete"}
    schedules = {v for r in rules if "actionschedules" in r["resources"] for v in r["verbs"]}
    assert schedules == {"get", "list", "watch"}
    status = {v for r in rules if "actionschedules/status" in r["resources"] for v in r["verbs"]}
    assert status == {"patch"}


def test_the_hook_writes_task_records_and_owns_them_by_the_action() -> None:
    rules = build_hook_role()["rules"]
    configmaps = {v for r in rules if "configmaps" in r["resources"] for v in r["verbs"]}
    assert configmaps == {"get", "create", "update"}
    assert "asyncactions/finalizers" in resources(build_hook_role())


def test_leases_are_granted_by_a_role_in_one_namespace_only() -> None:
    """In a ClusterRole, update on Leases would reach kube-system's leader elections and
    the node heartbeats of kube-node-lease."""
    assert "leases" not in resources(build_operator_role())
    assert "leases" not in resources(build_hook_role())
    role = build_lease_role("aa-lease", "team-a")
    assert role["kind"] == "Role"
    assert role["metadata"]["namespace"] == "team-a"
    assert (
        role["rules"]
        == lease_rules()
        == [
            {
                "apiGroups": ["coordination.k8s.io"],
                "resources": ["leases"],
                "verbs": ["get", "create", "update", "patch"],
            }
        ]
    )
    subject = {"kind": "User", "name": "someone", "apiGroup": "rbac.authorization.k8s.io"}
    binding = build_binding("aa-lease", subject, "team-a")
    assert binding == {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "aa-lease-someone", "namespace": "team-a"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "aa-lease"},
        "subjects": [subject],
    }
