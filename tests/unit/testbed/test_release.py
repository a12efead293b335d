"""`make up`'s Helm release on the real node: values, the install/upgrade/keep decision."""

from __future__ import annotations

import base64
import json

from asyncaction_testbed import release
from tests.support.chart import find, one, render

STORES = {
    "stores": {
        "default": {
            "endpoint": "http://10.200.0.1:41533",
            "bucket": "asyncaction",
            "region": "us-east-1",
            "accessKeyId": "AK",
            "secretAccessKey": "SK",
            "prefix": "",
        }
    }
}


def _env(deployment: dict[str, object]) -> dict[str, str]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]  # type: ignore[index]
    return {e["name"]: e.get("value", "") for e in container.get("env", [])}


def test_jobs_get_the_hook_service_name_make_up_announces() -> None:
    objs = render(release.build_values(STORES), name=release.RELEASE, namespace=release.NAMESPACE)
    operator = one(objs, "Deployment", f"{release.RELEASE}-operator")
    assert _env(operator)["ASYNCACTION_HOOK_URL"] == release.hook_service_url()
    assert {d["metadata"]["name"] for d in find(objs, "Deployment")} == set(release.DEPLOYMENTS)


def test_the_release_leaves_crds_to_the_testbed_and_carries_the_stores_pods_reach() -> None:
    objs = render(release.build_values(STORES), name=release.RELEASE, namespace=release.NAMESPACE)
    assert not find(objs, "CustomResourceDefinition")
    secrets = [s for s in find(objs, "Secret") if "stores.json" in s.get("data", {})]
    assert len(secrets) == 1
    assert json.loads(base64.b64decode(secrets[0]["data"]["stores.json"])) == STORES


def test_plan_installs_once_keeps_the_same_release_and_upgrades_a_change() -> None:
    wanted = release.build_values(STORES)
    assert release.plan(None, wanted, same_chart=False) == "install"
    assert release.plan(wanted, wanted, same_chart=True) == "keep"
    assert release.plan(wanted, wanted, same_chart=False) == "upgrade"
    changed = release.build_values(STORES, backoff_base_seconds=5)
    assert release.plan(wanted, changed, same_chart=True) == "upgrade"
