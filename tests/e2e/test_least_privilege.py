"""The operator and the hook need nothing beyond the roles asyncaction.rbac builds.

Both run as the test bed's `restricted` user, who has no rights but these bindings.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.rest import ApiException

from asyncaction.rbac import (
    build_binding,
    build_hook_role,
    build_lease_role,
    build_operator_role,
)
from tests.conftest import run_operator
from tests.support.kube import Kube, action_manifest, wait_for
from tests.support.procs import start_hook, stop_process

pytestmark = [pytest.mark.cluster, pytest.mark.s3, pytest.mark.slow]
USER = {"kind": "User", "name": "restricted", "apiGroup": "rbac.authorization.k8s.io"}


@pytest.mark.usefixtures("crds", "node_agent")
def test_operator_and_hook_under_their_roles_only(
    kube: Kube, namespace: str, control_plane: Any, stores_config: Path, tmp_path: Path
) -> None:
    restricted: Path | None = getattr(control_plane, "restricted_kubeconfig", None)
    if restricted is None:
        pytest.skip("needs the local control plane's restricted identity")
    roles = [build_operator_role("aa-test-operator"), build_hook_role("aa-test-hook")]
    bindings = [build_binding(role["metadata"]["name"], USER) for role in roles]
    # Leases only in the test's namespace: the operator's leader Lease and the hook's shard
    # Lease both live there (the chart: the release's namespace).
    lease_role = build_lease_role("aa-test-leases", namespace)
    kube.rbac.create_namespaced_role(namespace, lease_role)
    kube.rbac.create_namespaced_role_binding(
        namespace, build_binding("aa-test-leases", USER, namespace)
    )
    for role, binding in zip(roles, bindings, strict=True):
        kube.rbac.create_cluster_role(role)
        kube.rbac.create_cluster_role_binding(binding)
    try:
        run_as_restricted(kube, namespace, restricted, stores_config, tmp_path)
    finally:  # the session's cluster is shared: leave the identity without rights again
        for role, binding in zip(roles, bindings, strict=True):
            kube.rbac.delete_cluster_role_binding(binding["metadata"]["name"])
            kube.rbac.delete_cluster_role(role["metadata"]["name"])
        # the namespace's Role and RoleBinding go with the namespace


def run_as_restricted(
    kube: Kube, namespace: str, restricted: Path, stores_config: Path, tmp_path: Path
) -> None:
    hook, url = start_hook(
        restricted,
        stores_config,
        tmp_path / "hook.log",
        f"--shard-lease-namespace={namespace}",
        "--shard-lease-name=aa-test-hook",
    )
    try:
        with run_operator(restricted, namespace, url) as operator:
            code = (
                "from asyncaction_job import client\n"
                "client.report(progress=50)\n"
                "client.succeed({'ok': True})\n"
            )
            kube.create_action(
                namespace,
                action_manifest("least", [sys.executable, "-c", code], ttlSecondsAfterFinished=1),
            )
            done = kube.wait_phase(namespace, "least", {"SUCCEEDED", "FAILED"}, timeout=60)
            assert done["status"]["phase"] == "SUCCEEDED", done["status"]
            assert done["status"]["result"] == {"ok": True}
            wait_for(
                lambda: kube.get_action(namespace, "least")["status"].get("childrenRemovedAt"),
                30,
                "TTL cleanup under the operator's role",
            )
    finally:
        stop_process(hook)
    # Nothing the operator does at run time is refused either (kopf's own cluster scans
    # included: a 403 there is retried and logged as an error on every start).
    assert "forbidden" not in operator.output.lower(), operator.output[-2000:]
    # Both elected on their Leases in the test's namespace (the hook's before its ready).
    found = kube.coordination.list_namespaced_lease(namespace).items
    leases = {item.metadata.name for item in found}
    assert {"asyncaction-operator", "aa-test-hook-shard-0"} <= leases, leases
    forbidden = Kube.from_kubeconfig(restricted)
    with pytest.raises(ApiException) as caught:
        forbidden.core.list_namespaced_config_map(namespace)
    assert caught.value.status == 403  # nothing beyond the roles
    with pytest.raises(ApiException) as caught:  # Leases of no other namespace
        forbidden.coordination.read_namespaced_lease("kube-controller-manager", "kube-system")
    assert caught.value.status == 403
