"""Pure parts of `make up`: the hook's Service for pods, examples on the job image."""

from __future__ import annotations

from asyncaction_testbed.demo import with_image
from asyncaction_testbed.stack import hook_service_manifests, hook_service_url


def test_hook_service_points_at_the_hook_on_the_host() -> None:
    namespace, service, endpoints = hook_service_manifests("10.200.0.1", 18080)
    assert namespace["metadata"]["name"] == service["metadata"]["namespace"]
    assert "selector" not in service["spec"]  # hand-written Endpoints, not pods
    assert service["spec"]["ports"][0]["port"] == 18080
    assert endpoints["metadata"] == service["metadata"]
    subset = endpoints["subsets"][0]
    assert subset["addresses"] == [{"ip": "10.200.0.1"}]
    assert subset["ports"][0]["name"] == service["spec"]["ports"][0]["name"]
    name, ns = service["metadata"]["name"], service["metadata"]["namespace"]
    assert hook_service_url(18080) == f"http://{name}.{ns}.svc.cluster.local:18080"


def test_examples_run_unchanged_in_the_job_image() -> None:
    command = ["python3", "-c", "print('hi')"]
    action = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "main", "image": "python:3.12-slim", "command": command}
                    ]
                }
            }
        }
    }
    container = with_image(action, "docker.io/asyncaction/job-python:0.1.0")["spec"]["template"][
        "spec"
    ]["containers"][0]
    assert container == {
        "name": "main",
        "image": "docker.io/asyncaction/job-python:0.1.0",
        "imagePullPolicy": "IfNotPresent",
        "command": command,
    }
