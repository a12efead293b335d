"""Install the project's CRDs into a cluster and wait until they are served.

Used by ``make up`` and by the test fixtures, so both install exactly what
``asyncaction.api.crds.build_crds`` generates from the models.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.client.rest import ApiException

from asyncaction.api.crds import build_crds


def install_crds(kubeconfig: Path, timeout: float = 30) -> list[dict[str, Any]]:
    api = client.ApiextensionsV1Api(config.new_client_from_config(config_file=str(kubeconfig)))
    crds = build_crds()
    for crd in crds:
        name = crd["metadata"]["name"]
        try:
            current = api.read_custom_resource_definition(name)
        except ApiException as exc:
            if exc.status != 404:
                raise
            api.create_custom_resource_definition(crd)
            continue
        meta = {**crd["metadata"], "resourceVersion": current.metadata.resource_version}
        api.replace_custom_resource_definition(name, {**crd, "metadata": meta})
    deadline = time.monotonic() + timeout
    for crd in crds:
        while True:
            got = api.read_custom_resource_definition(crd["metadata"]["name"])
            if any(
                c.type == "Established" and c.status == "True"
                for c in (got.status.conditions or [])
            ):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"CRD {crd['metadata']['name']} not established")
            time.sleep(0.2)
    return crds
