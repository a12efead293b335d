"""A misconfigured operator stops within seconds, non-zero, naming what to fix.

Before, the manager started as a bare task: an error in it vanished, the process ran on
and its liveness answered 200. Each case runs the real ``asyncaction-operator`` process
against the test bed's API server.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from asyncaction.rbac import (
    build_binding,
    build_lease_role,
    build_operator_role,
)
from tests.conftest import NO_HOOK, OPERATOR_ENV
from tests.support.kube import Kube
from tests.support.procs import start_process, stop_process

pytestmark = [pytest.mark.cluster]
USER = {"kind": "User", "name": "restricted", "apiGroup": "rbac.authorization.k8s.io"}


def run_operator(kubeconfig: Path, namespace: str, log: Path, **env: str) -> tuple[int, str]:
    """Run the operator to its end (60 s at most: it must not run on)."""
    settings = {
        **OPERATOR_ENV,
        "ASYNCACTION_KUBECONFIG": str(kubeconfig),
        "ASYNCACTION_HOOK_URL": NO_HOOK,
        **env,
    }
    argv = [sys.executable, "-m", "asyncaction.main", "-n", namespace, "--liveness", ""]
    proc = start_process(argv, log, env=settings)
    try:
        code = proc.wait(60)
    except subprocess.TimeoutExpired:
        stop_process(proc)
        pytest.fail(f"the operator kept running:\n{log.read_text()[-3000:]}")
    return code, log.read_text()


@pytest.mark.usefixtures("crds")
@pytest.mark.parametrize("keys", ["", "/nonexistent/master-keys"], ids=["unset", "missing"])
def test_an_operator_without_its_master_keys_exits_naming_the_setting(
    namespace: str, admin_kubeconfig: Path, tmp_path: Path, keys: str
) -> None:
    code, log = run_operator(
        admin_kubeconfig, namespace, tmp_path / "op.log", ASYNCACTION_MASTER_KEYS_FILE=keys
    )
    assert code == 1, log
    assert "ASYNCACTION_MASTER_KEYS_FILE" in log
    assert "leading as" not in log  # it stopped before it could act


@pytest.mark.usefixtures("crds")
def test_invalid_settings_exit_2_naming_the_variable(
    namespace: str, admin_kubeconfig: Path, tmp_path: Path
) -> None:
    code, log = run_operator(
        admin_kubeconfig, namespace, tmp_path / "op.log", ASYNCACTION_POLL_SECONDS="30s"
    )
    assert code == 2, log
    assert "ASYNCACTION_POLL_SECONDS='30s': expected a number of seconds" in log


@pytest.mark.usefixtures("crds")
def test_rbac_refusing_a_watch_stops_the_operator_naming_the_resource(
    kube: Kube, namespace: str, control_plane: Any, tmp_path: Path
) -> None:
    restricted: Path | None = getattr(control_plane, "restricted_kubeconfig", None)
    if restricted is None:
        pytest.skip("needs the local control plane's restricted identity")
    role = build_operator_role("aa-test-no-pods")
    role["rules"] = [r for r in role["rules"] if r["resources"] != ["pods"]]
    binding = build_binding("aa-test-no-pods", USER)
    kube.rbac.create_namespaced_role(namespace, build_lease_role("aa-test-leases", namespace))
    kube.rbac.create_namespaced_role_binding(
        namespace, build_binding("aa-test-leases", USER, namespace)
    )
    kube.rbac.create_cluster_role(role)
    kube.rbac.create_cluster_role_binding(binding)
    try:
        code, log = run_operator(restricted, namespace, tmp_path / "op.log")
    finally:  # the session's cluster is shared: leave the identity without rights again
        kube.rbac.delete_cluster_role_binding(binding["metadata"]["name"])
        kube.rbac.delete_cluster_role("aa-test-no-pods")
    assert code == 1, log
    assert f"cache pods@{namespace} cannot list/watch /api/v1/namespaces/{namespace}/pods" in log
    assert "403" in log


def test_an_operator_without_any_rights_stops_naming_the_lease(
    namespace: str, control_plane: Any, crds: Any, tmp_path: Path
) -> None:
    restricted: Path | None = getattr(control_plane, "restricted_kubeconfig", None)
    if restricted is None:
        pytest.skip("needs the local control plane's restricted identity")
    code, log = run_operator(restricted, namespace, tmp_path / "op.log")
    assert code == 1, log
    assert f"lease {namespace}/asyncaction-operator: 403 Forbidden" in log
