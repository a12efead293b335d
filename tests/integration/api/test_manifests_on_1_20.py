"""Every manifest the project produces, on the test bed's Kubernetes 1.20.

Two checks, because a 1.20 API server drops unknown fields silently (strict field
validation came in 1.25): each object is validated in strict mode against the OpenAPI
document the server publishes (``/openapi/v2``), and is applied server-side with
``dryRun=All`` so the server's own validation (names, enums, ranges) runs on it. The
chart is rendered by Helm against this server, so its capability checks (policy/v1beta1
PodDisruptionBudget before 1.21) choose what a 1.20 cluster gets. Versions 1.29 and
later are checked against their published schemas in tests/unit/manifests/test_schemas.py.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from kubernetes import dynamic

from tests.support.chart import CHART, NAMESPACED_VALUES, objects
from tests.support.kube import Kube
from tests.unit.manifests.test_schemas import ALL_TOGGLES, FOREIGN_KINDS, operator_objects

pytestmark = pytest.mark.cluster
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"


def api_get(kube: Kube, path: str) -> dict[str, Any]:
    method, url, headers, *_ = kube.api.param_serialize("GET", path, auth_settings=["BearerToken"])
    response = kube.api.call_api(method, url, header_params=headers)
    response.read()
    document: dict[str, Any] = json.loads(response.data)
    return document


@cache
def openapi(kubeconfig: Path) -> dict[str, Any]:
    return api_get(Kube.from_kubeconfig(kubeconfig), "/openapi/v2")


def strict(definitions: dict[str, Any]) -> dict[str, Any]:
    """Swagger 2 definitions as JSON Schema, with unknown fields refused (as
    openapi2jsonschema's --strict does) and IntOrString taking either."""
    out = copy.deepcopy(definitions)
    for name, schema in out.items():
        if name == INT_OR_STRING:
            out[name] = {"anyOf": [{"type": "integer"}, {"type": "string"}]}
        elif schema.get("type") == "object" and "properties" in schema:
            schema["additionalProperties"] = False
    return out


def validator_for(document: dict[str, Any], api_version: str, kind: str) -> Any:
    group, _, version = api_version.rpartition("/")
    for name, schema in document["definitions"].items():
        for gvk in schema.get("x-kubernetes-group-version-kind") or []:
            if (gvk["group"], gvk["version"], gvk["kind"]) == (group, version, kind):
                root = {
                    "$ref": f"#/definitions/{name}",
                    "definitions": strict(document["definitions"]),
                }
                return jsonschema.Draft4Validator(root)
    raise AssertionError(f"{api_version} {kind} is not served by this API server")


def chart_on_this_server(
    kubeconfig: Path, values: dict[str, Any], namespace: str
) -> list[dict[str, Any]]:
    from helm_python import Chart, Config

    config = Config(kubeconfig_path=kubeconfig, namespace=namespace)
    try:
        with Chart.load(CHART) as chart:
            rendered = config.render(
                chart, copy.deepcopy(values), name="asyncaction", namespace=namespace
            )
    finally:
        config.close()
    return objects(rendered, tests=True)


def on_1_20(obj: dict[str, Any]) -> dict[str, Any]:
    """The PodDisruptionBudget as the chart renders it for 1.20: helm-python-sdk's render
    is offline (Helm's default capabilities, policy/v1), while `helm install` on a 1.20
    cluster takes the template's policy/v1beta1 branch (tests/unit/chart lints it at 1.20)."""
    if obj["kind"] == "PodDisruptionBudget" and obj["apiVersion"] == "policy/v1":
        return {**obj, "apiVersion": "policy/v1beta1"}
    return obj


@pytest.mark.usefixtures("crds")
@pytest.mark.parametrize(
    "values",
    [{}, ALL_TOGGLES, NAMESPACED_VALUES],
    ids=["defaults", "every-toggle-on", "namespaced"],
)
def test_every_manifest_is_valid_on_1_20(
    admin_kubeconfig: Path, kube: Kube, namespace: str, values: dict[str, Any]
) -> None:
    version = api_get(kube, "/version")
    assert (version["major"], version["minor"].rstrip("+")) == ("1", "20")
    document = openapi(admin_kubeconfig)
    produced = [on_1_20(o) for o in chart_on_this_server(admin_kubeconfig, values, namespace)]
    produced += [o for o in operator_objects() if o["kind"] != "Namespace"]
    client = dynamic.DynamicClient(kube.api)
    problems, applied = [], 0
    for obj in produced:
        if (obj["apiVersion"], obj["kind"]) in FOREIGN_KINDS:
            continue
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        errors = sorted(
            validator_for(document, obj["apiVersion"], obj["kind"]).iter_errors(obj), key=str
        )
        problems += [f"{where}: {'.'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]
        body = copy.deepcopy(obj)
        resource = client.resources.get(api_version=body["apiVersion"], kind=body["kind"])
        if resource.namespaced:
            body["metadata"]["namespace"] = namespace
            body["metadata"].pop("ownerReferences", None)  # the sample action does not exist
            if body["kind"] == "Event":
                body["involvedObject"]["namespace"] = namespace
        resource.server_side_apply(
            body=body,
            name=body["metadata"]["name"],
            namespace=body["metadata"].get("namespace"),
            field_manager="schema-test",
            dry_run="All",
            force_conflicts=True,
        )
        applied += 1
    assert problems == []
    assert applied >= 10
