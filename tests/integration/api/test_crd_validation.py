"""The generated schemas reject malformed objects at the real API server."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes.client.rest import ApiException

from tests.support.kube import Kube

pytestmark = pytest.mark.cluster
TEMPLATE = {"spec": {"containers": [{"name": "a", "image": "b", "command": ["x"]}]}}


def refusal(kube: Kube, namespace: str, spec: dict[str, Any]) -> str:
    with pytest.raises(ApiException) as caught:
        kube.create_action(
            namespace, {"metadata": {"name": "bad"}, "spec": {"template": TEMPLATE, **spec}}
        )
    assert caught.value.status == 422
    return str(caught.value.body)


@pytest.mark.usefixtures("crds")
@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"activeDeadlineSeconds": -3}, "should be greater than or equal to 1"),
        ({"priority": "high"}, "must be of type integer"),
        ({"arguments": [{"type": "input", "value": "http://x"}]}, "should match '^s3://"),
        ({"arguments": [{"type": "bogus", "value": "x"}]}, 'Unsupported value: \\"bogus\\"'),
        ({"stdout": {"type": "uri", "value": "nope"}}, "spec.stdout.value"),
        ({"outputs": ["s3://x"]}, "spec.outputs"),
    ],
)
def test_malformed_specs_are_refused(
    kube: Kube, namespace: str, spec: dict[str, Any], message: str
) -> None:
    assert message in refusal(kube, namespace, spec)


@pytest.mark.usefixtures("crds")
def test_good_action_gets_defaults_and_status_is_validated(kube: Kube, namespace: str) -> None:
    created = kube.create_action(
        namespace,
        {
            "metadata": {"name": "good"},
            "spec": {
                "template": TEMPLATE,
                "request": {"deep": {"x": [1, 2]}},
                "arguments": [
                    {"type": "input", "value": "s3://bucket/in"},
                    {"type": "parameter", "value": "5"},
                ],
            },
        },
    )
    assert created["spec"]["suspend"] is False
    assert created["spec"]["abort"] is False
    assert "backoffLimit" not in created["spec"]  # left for an ActionTemplate to default
    assert created["spec"]["request"] == {"deep": {"x": [1, 2]}}
    for status in ({"progress": 101}, {"phase": "DONE"}):
        with pytest.raises(ApiException) as caught:
            kube.custom.patch_namespaced_custom_object_status(
                "asyncaction.dev", "v1alpha1", namespace, "asyncactions", "good", {"status": status}
            )
        assert caught.value.status == 422
