"""After its TTL, a finished action's record is archived to S3, then its children go."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from asyncaction.api.names import LABEL_ACTION_UID
from tests.conftest import NO_HOOK, run_operator
from tests.support.kube import Kube, action_manifest, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.s3, pytest.mark.slow]


@pytest.mark.usefixtures("crds", "node_agent")
def test_ttl_archives_the_record(
    kube: Kube, namespace: str, admin_kubeconfig: Path, stores_config: Path, s3: Any
) -> None:
    with run_operator(
        admin_kubeconfig, namespace, NO_HOOK, ASYNCACTION_ARCHIVE_CONFIG=str(stores_config)
    ):
        created = kube.create_action(
            namespace,
            action_manifest(
                "archived",
                ["sh", "-c", "echo done"],
                ttlSecondsAfterFinished=1,
                request={"keep": "me"},
            ),
        )
        uid = created["metadata"]["uid"]
        wait_for(
            lambda: (
                kube.get_action(namespace, "archived").get("status", {}).get("childrenRemovedAt")
            ),
            60,
            "the TTL to expire",
        )
        day = kube.get_action(namespace, "archived")["status"]["finishedAt"][:10]
        key = f"archive/{namespace}/{day}/archived-{uid}.json"  # written before the marker
        record = json.loads(s3.client().get_object(Bucket=s3.bucket, Key=key)["Body"].read())
        assert record["spec"]["request"] == {"keep": "me"}
        assert record["status"]["phase"] == "SUCCEEDED"
        assert "managedFields" not in record["metadata"]
        wait_for(lambda: not kube.jobs_of(namespace, uid), 30, "the job to be removed")
        assert not kube.core.list_namespaced_secret(
            namespace, label_selector=f"{LABEL_ACTION_UID}={uid}"
        ).items
        wait_for(
            lambda: "Archived" in kube.event_reasons(namespace, "archived"),
            30,
            "the Archived Event",
            lambda: kube.event_reasons(namespace, "archived"),
        )
