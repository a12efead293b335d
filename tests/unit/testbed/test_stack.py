"""Pure parts of `make up`: the hook's Service for pods, examples on the job images."""

from __future__ import annotations

from pathlib import Path

import yaml

from asyncaction_testbed.images.job_node import JOB_NODE_IMAGE
from asyncaction_testbed.images.recipes import JOB_IMAGE
from asyncaction_testbed.stack import hook_service_manifests, hook_service_url

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


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


def test_every_example_names_an_image_the_project_builds() -> None:
    """No rewrite in `make demo`: each example names the job image `make up` imports (the
    Node one for Node jobs), at the project's version, so it runs as written."""
    built = {JOB_IMAGE, JOB_NODE_IMAGE}
    found = {}
    for path in sorted(EXAMPLES.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        # An ActionSchedule holds the spec of the actions it creates.
        action = doc["spec"]["actionTemplate"] if doc["kind"] == "ActionSchedule" else doc
        containers = action["spec"]["template"]["spec"]["containers"]
        found[path.name] = {c["image"] for c in containers}
        assert found[path.name] <= built, (path.name, found[path.name])
    assert found["hello-node.yaml"] == {JOB_NODE_IMAGE}
    assert set(found) >= {
        "hello.yaml",
        "progress.yaml",
        "wordcount.yaml",
        "failing.yaml",
        "tasks.yaml",
        "nightly-schedule.yaml",
    }
