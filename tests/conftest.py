"""Session-wide test bed: a real control plane, S3 server, node agent and job hook.

Unit tests under tests/unit need none of it: these fixtures start only when a test asks
for them. Set ASYNCACTION_TEST_KUBECONFIG to run against an existing cluster instead
(then no local control plane or node agent is started).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.support.kube import Kube, wait_for
from tests.support.procs import ensure_master_keys, start_hook, start_process, stop_process

EXISTING = os.environ.get("ASYNCACTION_TEST_KUBECONFIG")


@pytest.fixture(scope="session")
def testbed_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("testbed")


@pytest.fixture(scope="session", autouse=True)
def master_keys_file(testbed_dir: Path) -> Path:
    """The master keys every operator and hook of the session derive job keys from."""
    return ensure_master_keys(testbed_dir)


@pytest.fixture(scope="session")
def control_plane(testbed_dir: Path) -> Iterator[Any]:
    from asyncaction_testbed.controlplane import ControlPlane, ExistingCluster

    plane: Any = ExistingCluster(Path(EXISTING)) if EXISTING else ControlPlane(testbed_dir / "cp")
    plane.start()
    yield plane
    plane.stop()


@pytest.fixture(scope="session")
def admin_kubeconfig(control_plane: Any) -> Path:
    path: Path = control_plane.admin_kubeconfig
    return path


@pytest.fixture(scope="session")
def kube(admin_kubeconfig: Path) -> Kube:
    return Kube.from_kubeconfig(admin_kubeconfig)


@pytest.fixture(scope="session")
def crds(admin_kubeconfig: Path) -> list[dict[str, Any]]:
    """The project's CRDs, installed (replaced when present) and established."""
    from asyncaction_testbed.crds import install_crds

    return install_crds(admin_kubeconfig)


@pytest.fixture(scope="session")
def node_agent(admin_kubeconfig: Path, testbed_dir: Path) -> Iterator[Path | None]:
    """Plays the kubelet: runs Pods' commands as local processes. Yields the log dir."""
    if EXISTING:
        yield None
        return
    log_dir = testbed_dir / "pod-logs"
    log_dir.mkdir(exist_ok=True)
    proc = start_process(
        [
            sys.executable,
            "-m",
            "asyncaction_testbed.nodeagent",
            "--kubeconfig",
            str(admin_kubeconfig),
            "--log-dir",
            str(log_dir),
        ],
        testbed_dir / "nodeagent.log",
    )
    yield log_dir
    stop_process(proc)


@pytest.fixture(scope="session")
def s3(testbed_dir: Path) -> Iterator[Any]:
    from asyncaction_testbed.s3server import S3Server

    server = S3Server(testbed_dir / "s3")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def stores_config(s3: Any, testbed_dir: Path) -> Path:
    path = testbed_dir / "stores.json"
    path.write_text(json.dumps(s3.stores_document()))
    return path


@pytest.fixture(scope="session")
def hook_url(
    admin_kubeconfig: Path, crds: list[dict[str, Any]], stores_config: Path, testbed_dir: Path
) -> Iterator[str]:
    """The job hook as a real process on loopback, watching all namespaces."""
    proc, url = start_hook(
        admin_kubeconfig,
        stores_config,
        testbed_dir / "hook.log",
        "--coalesce-window",
        "0.5",
        "--sweep-interval",
        "1",
    )
    yield url
    stop_process(proc)


@pytest.fixture
def namespace(kube: Kube) -> Iterator[str]:
    from kubernetes import client

    name = f"t-{uuid.uuid4().hex[:10]}"
    kube.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    wait_for(lambda: _has_default_sa(kube, name), 30, f"default ServiceAccount in {name}")
    yield name
    kube.core.delete_namespace(name)


def _has_default_sa(kube: Kube, namespace: str) -> bool:
    from kubernetes.client.rest import ApiException

    try:
        kube.core.read_namespaced_service_account("default", namespace)
    except ApiException:
        return False
    return True


OPERATOR_ENV = {
    "ASYNCACTION_BACKOFF_BASE_SECONDS": "0.5",
    "ASYNCACTION_BACKOFF_MAX_SECONDS": "2",
    "ASYNCACTION_POLL_SECONDS": "5",
}


@contextmanager
def run_operator(admin_kubeconfig: Path, namespace: str, hook: str, **env: str) -> Iterator[Any]:
    """The real operator, in-process, through kopf's own test runner."""
    from kopf.testing import KopfRunner

    settings = {
        **OPERATOR_ENV,
        **env,
        "ASYNCACTION_KUBECONFIG": str(admin_kubeconfig),
        "ASYNCACTION_HOOK_URL": hook,
        "ASYNCACTION_NAMESPACES": namespace,
    }
    saved = {key: os.environ.get(key) for key in settings}
    os.environ.update(settings)
    try:
        args = ["run", "--standalone", "--namespace", namespace, "-m", "asyncaction.handlers"]
        with KopfRunner(args, timeout=60) as runner:
            yield runner
        assert runner.exception is None, runner.output
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# Tests of the lifecycle alone never call the hook: jobs get this unreachable address.
NO_HOOK = "http://127.0.0.1:9/no-hook-in-this-test"


@pytest.fixture
def operator(
    admin_kubeconfig: Path, namespace: str, crds: list[dict[str, Any]], node_agent: Path | None
) -> Iterator[Any]:
    """The operator in-process, watching only the test's namespace; jobs get no hook."""
    with run_operator(admin_kubeconfig, namespace, NO_HOOK) as runner:
        yield runner


@pytest.fixture
def hooked_operator(
    admin_kubeconfig: Path,
    namespace: str,
    crds: list[dict[str, Any]],
    node_agent: Path | None,
    hook_url: str,
    stores_config: Path,
) -> Iterator[Any]:
    """The operator with the real job hook running beside it (and the hook's stores)."""
    with run_operator(
        admin_kubeconfig, namespace, hook_url, ASYNCACTION_STORES_CONFIG=str(stores_config)
    ) as runner:
        yield runner


def kubectl(kubeconfig: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        check=check,
        timeout=60,
    )
