"""The local control plane: real API server semantics, two identities, clean stop."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.rest import ApiException

from asyncaction_testbed import procs
from asyncaction_testbed.controlplane import ControlPlane
from tests.support.kube import Kube

pytestmark = pytest.mark.cluster


@pytest.mark.skipif(bool(os.environ.get("ASYNCACTION_TEST_KUBECONFIG")), reason="local only")
def test_restricted_identity_has_no_rights(control_plane: Any) -> None:
    restricted = Kube.from_kubeconfig(control_plane.restricted_kubeconfig)
    with pytest.raises(ApiException) as caught:
        restricted.core.list_namespaced_secret("default")
    assert caught.value.status == 403


@pytest.mark.skipif(bool(os.environ.get("ASYNCACTION_TEST_KUBECONFIG")), reason="local only")
def test_second_plane_starts_idempotently_and_stops_without_leftovers(tmp_path: Path) -> None:
    plane = ControlPlane(tmp_path / "cp")
    plane.start()
    pids = {name: procs.read_pid(plane.state, name) for name in plane.names}
    started = {name: procs.start_time(pid) for name, pid in pids.items() if pid}
    plane.start()  # already running: nothing restarts
    assert {name: procs.read_pid(plane.state, name) for name in plane.names} == pids
    kube = Kube.from_kubeconfig(plane.admin_kubeconfig)
    assert "default" in {ns.metadata.name for ns in kube.core.list_namespace().items}
    plane.stop()
    assert not plane.running()
    for name, pid in pids.items():
        assert pid is not None
        # gone, or its pid already reused by another process (pid_max is 32768 here)
        assert procs.start_time(pid) != started[name], (name, _state(pid))


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return "gone"
