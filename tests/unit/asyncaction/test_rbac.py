from asyncaction.rbac import build_hook_role, build_operator_role


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
    finalizers; nothing else of the action is writable beyond its status."""
    rules = build_operator_role()["rules"]
    finalizers = [r for r in rules if "asyncactions/finalizers" in r["resources"]]
    assert finalizers == [
        {
            "apiGroups": ["asyncaction.dev"],
            "resources": ["asyncactions/finalizers"],
            "verbs": ["update"],
        }
    ]
