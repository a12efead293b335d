"""Every manifest the project produces is valid for the Kubernetes versions users run.

The chart (default values, every toggle on in cluster scope, and the namespaced variant)
and the Job, Secret, Event and Lease the operator writes (built by the same pure
functions) are validated against the published OpenAPI schemas of every minor version
from 1.29 to the newest that ``kubernetes-validate`` ships, in its strict mode (an
unknown field is an error, as the API server's strict field validation makes it). The
test bed's own version, 1.20, is checked against the test bed's API server in
tests/integration/api/test_manifests_on_1_20.py. The chart's pods also meet the Pod
Security ``restricted`` profile.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import kubernetes_validate
import pytest
from kubernetes_validate.utils import all_versions, major_minor

from asyncaction.manifests import build_event, build_job, build_secret
from asyncaction.runtime.leader import build_lease, lease_spec
from asyncaction_testbed.release import namespace_manifest
from tests.support.chart import NAMESPACED_VALUES, render
from tests.support.podsecurity import pod_specs, restricted_violations
from tests.unit.manifests.samples import make_action, make_pod_template

OLDEST_SUPPORTED = (1, 29)


def as_tuple(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


VERSIONS = sorted({major_minor(v) for v in all_versions()}, key=as_tuple)
USER_VERSIONS = [v for v in VERSIONS if as_tuple(v) >= OLDEST_SUPPORTED]
# Kinds of other projects' APIs that no Kubernetes schema holds (prometheus-operator).
FOREIGN_KINDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PodMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
}

ALL_TOGGLES: dict[str, Any] = {
    "operator": {"archive": {"enabled": True, "store": "archive"}, "verbose": True, "replicas": 2},
    "stores": {
        "config": {"stores": {"archive": {"bucket": "archive-bucket", "region": "eu-west-1"}}}
    },
    "hook": {"extraArgs": ["--rate", "50"]},
    "podDisruptionBudget": {"enabled": True},
    "networkPolicy": {"enabled": True, "hookFrom": [{"namespaceSelector": {}}]},
    "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
    "image": {"digest": "sha256:" + "a" * 64},
    "imagePullSecrets": [{"name": "regcred"}],
}
RENDERINGS = {
    "defaults": {},
    "every-toggle-on": ALL_TOGGLES,
    "namespaced": NAMESPACED_VALUES,
}


def operator_objects() -> list[dict[str, Any]]:
    """One of each object the operator writes, from its pure builders."""
    action = make_action(spec={"request": {"n": 1}})
    now = datetime(2026, 11, 30, 1, 2, 3, 456789, tzinfo=UTC)
    return [
        build_job(
            action,
            make_pod_template(),
            attempt=2,
            job_name="resize-2",
            secret_name="resize-job-secret",
            hook_url="http://asyncaction-hook.asyncaction-system.svc:8080",
            template_defaults={"backoffLimit": 1},
        ),
        build_secret(action, "k" * 43, attempt=2),
        build_event(action, type="Normal", reason="Started", message="attempt 2", now=now),
        build_event(action, type="Warning", reason="Failed", message="exit 3", now=now),
        build_lease(
            "asyncaction-system",
            "asyncaction-operator",
            lease_spec("pod-a-1234", 15, now, transitions=3),
        ),
    ]


def produced() -> list[tuple[str, dict[str, Any]]]:
    objects = [("operator", o) for o in operator_objects()]
    objects.append(("release namespace", namespace_manifest()))
    for label, values in RENDERINGS.items():
        objects += [(label, o) for o in render(copy.deepcopy(values), tests=True)]
    return objects


PRODUCED = produced()


def test_the_versions_cover_1_29_to_the_newest_shipped() -> None:
    assert USER_VERSIONS[0] == "1.29"
    assert as_tuple(USER_VERSIONS[-1]) == as_tuple(kubernetes_validate.latest_version())
    assert len(USER_VERSIONS) == as_tuple(USER_VERSIONS[-1])[1] - 29 + 1  # none skipped
    kinds = {o["kind"] for _, o in PRODUCED}
    assert {"Job", "Secret", "Event", "Lease", "Deployment", "CustomResourceDefinition"} <= kinds


@pytest.mark.parametrize("version", USER_VERSIONS)
def test_every_manifest_is_valid_for(version: str) -> None:
    problems = []
    checked = 0
    for label, obj in PRODUCED:
        if (obj["apiVersion"], obj["kind"]) in FOREIGN_KINDS:
            continue
        name = f"{label}: {obj['kind']}/{obj['metadata'].get('name')}"
        try:
            kubernetes_validate.validate(obj, version, strict=True)
            checked += 1
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{name}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(f"{name}: {obj['apiVersion']} is not served by {version}")
    assert problems == []
    assert checked == len(
        [o for _, o in PRODUCED if (o["apiVersion"], o["kind"]) not in FOREIGN_KINDS]
    )


def test_strict_validation_refuses_an_unknown_field_and_a_wrong_type() -> None:
    """The check above can fail: a misspelt field and a string for an integer are errors."""
    job = operator_objects()[0]
    misspelt = copy.deepcopy(job)
    misspelt["spec"]["backofLimit"] = 1
    wrong_type = copy.deepcopy(job)
    wrong_type["spec"]["completions"] = "one"
    for bad in (misspelt, wrong_type):
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(bad, USER_VERSIONS[-1], strict=True)


@pytest.mark.parametrize("label", sorted(RENDERINGS))
def test_chart_pods_meet_pod_security_restricted(label: str) -> None:
    pods = [
        (where, spec)
        for obj in render(copy.deepcopy(RENDERINGS[label]), tests=True)
        for where, spec in pod_specs(obj)
    ]
    assert len(pods) >= 2  # the operator and hook Deployments, and the helm test Job
    assert {where: restricted_violations(spec) for where, spec in pods} == {
        where: [] for where, _ in pods
    }


def test_the_release_namespace_enforces_restricted() -> None:
    labels = namespace_manifest()["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
        assert labels[f"pod-security.kubernetes.io/{mode}-version"] == "latest"


def test_the_restricted_check_finds_each_kind_of_breach() -> None:
    pod = {
        "hostNetwork": True,
        "volumes": [{"name": "h", "hostPath": {"path": "/"}}],
        "containers": [
            {
                "name": "c",
                "securityContext": {"privileged": True, "capabilities": {"add": ["SYS_ADMIN"]}},
                "ports": [{"containerPort": 80, "hostPort": 80}],
            }
        ],
    }
    assert restricted_violations(pod) == [
        "spec.hostNetwork: host namespaces are not allowed",
        "volume h: type ['hostPath'] is not allowed",
        "containers[c]: privileged is not allowed",
        "containers[c]: hostPort 80 is not allowed",
        "containers[c]: allowPrivilegeEscalation must be false",
        "containers[c]: runAsNonRoot must be true (pod or container)",
        "containers[c]: seccompProfile.type must be RuntimeDefault or Localhost",
        "containers[c]: capabilities.drop must include ALL",
        "containers[c]: only NET_BIND_SERVICE may be added",
    ]
