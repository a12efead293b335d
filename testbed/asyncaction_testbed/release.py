"""The Helm chart as ``make up`` installs it on the real node: operator and hook as Pods.

On the real node the operator and the hook run from the project's image under the
chart's ServiceAccounts and RBAC, in namespace ``asyncaction-system``, through Helm's own
engine (helm-python-sdk, as the chart tests use it). The CRDs stay with
``asyncaction_testbed.crds`` (they exist before the release, in both node modes), so the
release leaves them alone. A second ``make up`` with the same chart and values changes
nothing; a changed chart or value set upgrades the release in place.

The test bed's controller manager runs only the controllers the node agent needs; a
Deployment needs the deployment and replicaset controllers, which ``workload_controllers``
runs as a second kube-controller-manager only while the real node runs.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from asyncaction_testbed import procs

RELEASE = "asyncaction"
NAMESPACE = "asyncaction-system"
CHART = Path(__file__).resolve().parents[2] / "charts" / "asyncaction"
WORKLOAD_CONTROLLERS = "deployment,replicaset"
WORKLOAD_PROCESS = "kube-controller-manager-workloads"
DEPLOYMENTS = (f"{RELEASE}-operator", f"{RELEASE}-hook")


def build_values(stores: dict[str, Any], *, backoff_base_seconds: int = 2) -> dict[str, Any]:
    """The release's values: CRDs left to the test bed, the stores pods can reach."""
    return {
        "crds": {"enabled": False},
        "stores": {"config": stores},
        "operator": {"settings": {"backoffBaseSeconds": backoff_base_seconds}},
    }


# Pod Security admission (Kubernetes 1.23+): the release's namespace admits only pods
# that meet the restricted profile, which the chart's pods do (tests/unit/manifests).
POD_SECURITY_LABELS = {
    f"pod-security.kubernetes.io/{mode}{suffix}": value
    for mode in ("enforce", "audit", "warn")
    for suffix, value in (("", "restricted"), ("-version", "latest"))
}


def namespace_manifest(name: str = NAMESPACE) -> dict[str, Any]:
    """The release's namespace, labelled for Pod Security ``restricted``."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": dict(POD_SECURITY_LABELS)},
    }


def ensure_namespace(kubeconfig: Path) -> None:
    """Create the namespace with its Pod Security labels, or set them on it."""
    from kubernetes import client, config
    from kubernetes.client.rest import ApiException

    api = client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig)))
    body = namespace_manifest()
    try:
        api.create_namespace(body)
    except ApiException as exc:
        if exc.status != 409:
            raise
        api.patch_namespace(NAMESPACE, {"metadata": {"labels": body["metadata"]["labels"]}})
    finally:
        api.api_client.close()


def hook_service_url(port: int = 8080) -> str:
    """JOB_HOOK as the chart sets it: the hook Service's cluster DNS name."""
    return f"http://{RELEASE}-hook.{NAMESPACE}.svc.cluster.local:{port}"


def plan(deployed: dict[str, Any] | None, wanted: dict[str, Any], same_chart: bool) -> str:
    """``install``, ``upgrade`` or ``keep``: what brings the release to ``wanted``."""
    if deployed is None:
        return "install"
    if deployed == wanted and same_chart:
        return "keep"
    return "upgrade"


def install(kubeconfig: Path, values: dict[str, Any], timeout: int = 120) -> str:
    """Install or upgrade the release (or keep it); returns what it did."""
    from helm_python import Chart, Config, HelmNotFoundError

    ensure_namespace(kubeconfig)
    config = Config(kubeconfig_path=kubeconfig, namespace=NAMESPACE)
    try:
        with Chart.load(CHART) as chart:
            try:
                status = config.status(RELEASE)
            except HelmNotFoundError:
                status = None
            deployed = None
            same_chart = False
            if status is not None and status["status"] == "deployed":
                deployed = config.get_values(RELEASE) or {}
                same_chart = _chart_version(status) == _chart_yaml_version()
            elif status is not None:  # failed or pending: upgrade it into a good state
                deployed = {"__broken__": True}
            action = plan(deployed, values, same_chart)
            if action == "install":
                config.install(
                    chart,
                    RELEASE,
                    values,
                    namespace=NAMESPACE,
                    timeout=timeout,
                    create_namespace=True,
                )
            elif action == "upgrade":
                config.upgrade(
                    chart, RELEASE, values, namespace=NAMESPACE, timeout=timeout, reset_values=True
                )
            return action
    finally:
        config.close()


def uninstall(kubeconfig: Path, timeout: int = 120) -> None:
    """Remove the release (its Pods cannot run without the real node)."""
    from helm_python import Config

    config = Config(kubeconfig_path=kubeconfig, namespace=NAMESPACE)
    try:
        config.uninstall(RELEASE, ignore_not_found=True, timeout=timeout)
    finally:
        config.close()


def _chart_version(release: Any) -> str:
    return str(release["chart_version"])


def _chart_yaml_version() -> str:
    import yaml

    return str(yaml.safe_load((CHART / "Chart.yaml").read_text())["version"])


def wait_rollout(
    kubeconfig: Path,
    timeout: int = 300,
    namespace: str = NAMESPACE,
    deployments: Iterable[str] = DEPLOYMENTS,
) -> None:
    """Until the operator's and the hook's Deployments (``deployments``: with
    ``hook.shards``, one per shard) have their Pods ready."""
    for name in deployments:
        subprocess.run(
            [
                "kubectl",
                "--kubeconfig",
                str(kubeconfig),
                "-n",
                namespace,
                "rollout",
                "status",
                f"deployment/{name}",
                f"--timeout={timeout}s",
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=timeout + 30,
        )


def start_workload_controllers(state: Path, controller_manager: Path, kubeconfig: Path) -> None:
    """A second controller manager running what Deployments need (idempotent)."""
    if procs.is_running(state, WORKLOAD_PROCESS):
        return
    procs.start(
        state,
        WORKLOAD_PROCESS,
        [
            str(controller_manager),
            f"--kubeconfig={kubeconfig}",
            f"--controllers={WORKLOAD_CONTROLLERS}",
            "--leader-elect=false",
            "--port=0",
            "--secure-port=0",
            "--v=0",
        ],
    )


def stop_workload_controllers(state: Path) -> bool:
    return procs.stop(state, WORKLOAD_PROCESS)
