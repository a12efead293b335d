"""The Helm chart on the test bed's real API server, through Helm's own SDK.

Installs, upgrades (two value sets and back), runs `helm test`, uninstalls; then runs the
operator and the hook in-process under nothing but the ServiceAccounts and RBAC the
chart installed: one action succeeds, one fails, and the Argo CD check and the kstatus
rules read both live objects as intended. Pods of the chart's Deployments never start
here (no node runs containers: that is the real node's integration); the test Job of
`helm test` runs on the node agent.
"""

from __future__ import annotations

import base64
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from asyncaction.api.crds import build_crds
from asyncaction.chart import build_rbac_rules
from tests.conftest import kubectl, run_operator
from tests.support.chart import CHART, NAMESPACED_VALUES
from tests.support.gitops import kstatus, run_health
from tests.support.kube import Kube, action_manifest, wait_for
from tests.support.procs import start_hook, stop_process

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
CHART_NAME = "asyncaction"


def stand_in_crd(kind: str) -> dict[str, Any]:
    """A stand-in for one of prometheus-operator's CRDs (any body accepted), so that the
    chart's PodMonitors (`serviceMonitor.enabled`: the operator has no Service) and its
    PrometheusRule (`prometheusRule.enabled`) can be applied."""
    plural = kind.lower() + "s"
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.monitoring.coreos.com"},
        "spec": {
            "group": "monitoring.coreos.com",
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "plural": plural,
                "singular": kind.lower(),
                "listKind": f"{kind}List",
            },
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }


MONITORING_CRDS = [stand_in_crd("PodMonitor"), stand_in_crd("PrometheusRule")]


def grants(rules: list[Any]) -> set[tuple[str, str, str]]:
    found = set()
    for rule in rules:
        rule = rule if isinstance(rule, dict) else rule.to_dict()
        groups = rule.get("apiGroups") or rule.get("api_groups") or []
        for group in groups:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    found.add((group, resource, verb))
    return found


@pytest.fixture
def helm(admin_kubeconfig: Path, namespace: str) -> Iterator[Any]:
    from helm_python import Config

    config = Config(kubeconfig_path=admin_kubeconfig, namespace=namespace)
    yield config
    config.close()


@contextmanager
def extra_namespace(kube: Kube) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:10]}"
    kube.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    try:
        yield name
    finally:
        kube.core.delete_namespace(name)


@contextmanager
def monitoring_crds(kube: Kube) -> Iterator[None]:
    created = []
    try:
        for crd in MONITORING_CRDS:
            name = crd["metadata"]["name"]
            try:
                kube.extensions.read_custom_resource_definition(name)
            except ApiException as exc:
                if exc.status != 404:
                    raise
                kube.extensions.create_custom_resource_definition(crd)
                created.append(name)
                wait_for(partial(_established, kube, name), 30, f"CRD {name} established")
        yield
    finally:
        for name in created:
            kube.extensions.delete_custom_resource_definition(name)


def _established(kube: Kube, name: str) -> bool:
    crd = kube.extensions.read_custom_resource_definition(name)
    return any(c.type == "Established" and c.status == "True" for c in crd.status.conditions or [])


def adopt_crds(kube: Kube, release: str, namespace: str) -> None:
    """Let the release take over CRDs installed without Helm (docs/helm.md shows kubectl)."""
    for crd in build_crds():
        kube.extensions.patch_custom_resource_definition(
            crd["metadata"]["name"],
            {
                "metadata": {
                    "labels": {"app.kubernetes.io/managed-by": "Helm"},
                    "annotations": {
                        "meta.helm.sh/release-name": release,
                        "meta.helm.sh/release-namespace": namespace,
                    },
                }
            },
        )


def master_keys(kube: Kube, namespace: str, release: str) -> str:
    secret = kube.core.read_namespaced_secret(f"{release}-{CHART_NAME}-master-keys", namespace)
    return base64.b64decode(secret.data["keys"]).decode()


def role_namespaces(kube: Kube, name: str, namespaces: list[str]) -> list[str]:
    found = []
    for ns in namespaces:
        with suppress(ApiException):
            kube.rbac.read_namespaced_role(name, ns)
            found.append(ns)
    return found


def manifest_kinds(release: dict[str, Any]) -> set[str]:
    return {doc["kind"] for doc in yaml.safe_load_all(release["manifest"]) if doc}


@pytest.mark.usefixtures("crds")
def test_install_upgrade_twice_and_uninstall(kube: Kube, helm: Any, namespace: str) -> None:
    from helm_python import Chart

    release = f"r{uuid.uuid4().hex[:6]}"
    prefix = f"{release}-{CHART_NAME}"
    cluster_role = f"{prefix}-operator-{namespace}"  # cluster-wide names carry the namespace
    rules = build_rbac_rules()
    adopt_crds(kube, release, namespace)
    with Chart.load(CHART) as chart, extra_namespace(kube) as other, monitoring_crds(kube):
        try:
            first = helm.install(chart, release, {}, namespace=namespace, timeout=120)
            assert first["status"] == "deployed"
            assert first["app_version"] == "0.1.0"
            operator_role = kube.rbac.read_cluster_role(cluster_role)
            own = rules["operator"]
            assert grants(operator_role.rules) == grants(
                own["clusterRules"] + own["namespacedRules"]
            )
            for component in ("operator", "hook"):  # Leases: a Role in this namespace only
                lease_name = f"{prefix}-{component}-lease"
                lease_role = kube.rbac.read_namespaced_role(lease_name, namespace)
                assert grants(lease_role.rules) == grants(rules[component]["leaseRules"])
            deployment = client.AppsV1Api(kube.api).read_namespaced_deployment(
                f"{prefix}-operator", namespace
            )
            container = deployment.spec.template.spec.containers[0]
            assert container.image == "docker.io/asyncaction/asyncaction:0.1.0"
            assert container.security_context.read_only_root_filesystem is True
            for crd in build_crds():
                served = kube.extensions.read_custom_resource_definition(crd["metadata"]["name"])
                assert served.metadata.labels["helm.sh/chart"] == "asyncaction-0.1.0"
                assert served.metadata.annotations["helm.sh/resource-policy"] == "keep"
                stored = kube.api.sanitize_for_serialization(served)
                assert stored["spec"]["versions"] == crd["spec"]["versions"]
            key = master_keys(kube, namespace, release)
            assert len(key.strip()) == 64

            # v2: namespaced RBAC in two namespaces, every toggle on, existing Secrets.
            second = {
                **NAMESPACED_VALUES,
                "rbac": {"scope": "namespaced", "namespaces": [namespace, other]},
            }
            upgraded = helm.upgrade(chart, release, second, namespace=namespace, timeout=120)
            assert upgraded["revision"] == 2
            assert {
                "PodDisruptionBudget",
                "NetworkPolicy",
                "PodMonitor",
                "PrometheusRule",
            } <= (manifest_kinds(upgraded))
            assert role_namespaces(kube, f"{prefix}-operator", [namespace, other]) == [
                namespace,
                other,
            ]
            # Namespaced scope grants cluster-wide only what needs it (today: nothing).
            narrowed = kube.rbac.list_cluster_role(
                field_selector=f"metadata.name={cluster_role}"
            ).items
            assert [grants(r.rules) for r in narrowed] == (
                [grants(own["clusterRules"])] if own["clusterRules"] else []
            )
            # The PodDisruptionBudget's API version follows the server's (v1beta1 before 1.21).
            kubectl(kube.kubeconfig, "-n", namespace, "get", "pdb", f"{prefix}-hook")
            deployment = client.AppsV1Api(kube.api).read_namespaced_deployment(
                f"{prefix}-operator", namespace
            )
            volumes = {
                v.name: v.secret.secret_name
                for v in deployment.spec.template.spec.volumes
                if v.secret
            }
            assert volumes == {"master-keys": "my-master-keys", "stores": "my-stores"}
            # The chart's own key Secret is kept (resource-policy keep) though unused now.
            assert master_keys(kube, namespace, release) == key

            # v3: back to the defaults (an upgrade without values reuses the last ones,
            # hence reset); the key Helm looks up is the same key.
            third = helm.upgrade(
                chart, release, {}, namespace=namespace, timeout=120, reset_values=True
            )
            assert third["revision"] == 3
            assert master_keys(kube, namespace, release) == key
            assert role_namespaces(kube, f"{prefix}-operator", [namespace, other]) == []
            assert "PodDisruptionBudget" not in manifest_kinds(third)
            history = helm.history(release)
            assert [r["revision"] for r in history] == [1, 2, 3]

            helm.uninstall(release, timeout=120)
            with pytest.raises(ApiException) as gone:
                kube.rbac.read_cluster_role(cluster_role)
            assert gone.value.status == 404
            for crd in build_crds():  # crds.keep: the CRDs, and every action, stay
                kube.extensions.read_custom_resource_definition(crd["metadata"]["name"])
            assert master_keys(kube, namespace, release) == key
        finally:
            helm.uninstall(release, ignore_not_found=True, timeout=120)


@pytest.mark.usefixtures("crds", "node_agent")
def test_helm_test_reaches_the_hook(helm: Any, namespace: str, hook_url: str) -> None:
    from helm_python import Chart, HelmReleaseError

    release = f"t{uuid.uuid4().hex[:6]}"
    # The test Job runs on the node agent, where the hook is this loopback process.
    values = {"crds": {"enabled": False}, "tests": {"url": hook_url}}
    with Chart.load(CHART) as chart:
        try:
            helm.install(chart, release, values, namespace=namespace, timeout=120)
            result = helm.test(release, timeout=180)
            assert result["release"]["name"] == release
            unreachable = {**values, "tests": {"url": "http://127.0.0.1:9"}}
            helm.upgrade(chart, release, unreachable, namespace=namespace, timeout=120)
            with pytest.raises(HelmReleaseError):
                helm.test(release, timeout=180)
        finally:
            helm.uninstall(release, ignore_not_found=True, timeout=120)


def service_account_kubeconfig(
    kube: Kube, admin_kubeconfig: Path, namespace: str, account: str, path: Path
) -> Path:
    """A kubeconfig with the token the controller manager issued to a ServiceAccount."""

    def token() -> str | None:
        sa = kube.core.read_namespaced_service_account(account, namespace)
        for ref in sa.secrets or []:
            secret = kube.core.read_namespaced_secret(ref.name, namespace)
            if secret.data and secret.data.get("token"):
                return base64.b64decode(secret.data["token"]).decode()
        return None

    bearer = wait_for(token, 60, f"a token for ServiceAccount {account}")
    admin = yaml.safe_load(admin_kubeconfig.read_text())
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": admin["clusters"],
                "users": [{"name": account, "user": {"token": bearer}}],
                "contexts": [
                    {
                        "name": account,
                        "context": {"cluster": admin["clusters"][0]["name"], "user": account},
                    }
                ],
                "current-context": account,
            }
        )
    )
    return path


@pytest.mark.s3
@pytest.mark.usefixtures("crds", "node_agent")
@pytest.mark.parametrize("scope", ["namespaced", "cluster"])
def test_operator_and_hook_run_under_the_charts_rbac(
    kube: Kube,
    helm: Any,
    namespace: str,
    admin_kubeconfig: Path,
    stores_config: Path,
    tmp_path: Path,
    scope: str,
) -> None:
    from helm_python import Chart

    release = f"p{uuid.uuid4().hex[:6]}"
    prefix = f"{release}-{CHART_NAME}"
    values = {"crds": {"enabled": False}, "rbac": {"scope": scope}}
    with Chart.load(CHART) as chart:
        try:
            helm.install(chart, release, values, namespace=namespace, timeout=120)
            operator = service_account_kubeconfig(
                kube, admin_kubeconfig, namespace, f"{prefix}-operator", tmp_path / "op.kubeconfig"
            )
            hook_config = service_account_kubeconfig(
                kube, admin_kubeconfig, namespace, f"{prefix}-hook", tmp_path / "hook.kubeconfig"
            )
            run_action(kube, namespace, operator, hook_config, stores_config, tmp_path)
            forbidden = Kube.from_kubeconfig(operator)
            with pytest.raises(ApiException) as caught:
                forbidden.core.list_namespaced_config_map(namespace)
            assert caught.value.status == 403  # nothing beyond the chart's roles
        finally:
            helm.uninstall(release, ignore_not_found=True, timeout=120)


def run_action(
    kube: Kube,
    namespace: str,
    operator: Path,
    hook_config: Path,
    stores_config: Path,
    tmp_path: Path,
) -> None:
    hook, url = start_hook(hook_config, stores_config, tmp_path / "hook.log")
    try:
        with run_operator(operator, namespace, url):
            code = (
                "from asyncaction_job import client\n"
                "client.report(progress=50)\n"
                "client.succeed({'chart': True})\n"
            )
            kube.create_action(
                namespace,
                action_manifest("charted", [sys.executable, "-c", code], ttlSecondsAfterFinished=1),
            )
            kube.create_action(
                namespace, action_manifest("broken", [sys.executable, "-c", "exit(3)"])
            )
            done = kube.wait_phase(namespace, "charted", {"SUCCEEDED", "FAILED"}, timeout=90)
            assert done["status"]["phase"] == "SUCCEEDED", done["status"]
            assert done["status"]["result"] == {"chart": True}
            failed = kube.wait_phase(namespace, "broken", {"SUCCEEDED", "FAILED"}, timeout=90)
            assert failed["status"]["phase"] == "FAILED", failed["status"]
            # GitOps tools read the live objects the real operator wrote as intended.
            assert run_health(done)["status"] == "Healthy"
            assert kstatus(done) == "Current"
            assert run_health(failed)["status"] == "Degraded"
            assert kstatus(failed) == "Failed"
            wait_for(
                lambda: kube.get_action(namespace, "charted")["status"].get("childrenRemovedAt"),
                60,
                "TTL cleanup under the chart's operator role",
            )
    finally:
        stop_process(hook)
