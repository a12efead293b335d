"""The Python client for programs, sync and async, against the test bed."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from asyncaction_client import (
    ActionFailed,
    ActionNotFound,
    ApiError,
    AsyncClient,
    Client,
    WaitTimeout,
)
from tests.support.kube import action_manifest

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def reporting(name: str) -> dict[str, Any]:
    code = (
        "from asyncaction_job import client\n"
        "request = client.action()['request']\n"
        "client.report(progress=50, details={'half': True})\n"
        "client.succeed({'doubled': request['n'] * 2})\n"
    )
    return action_manifest(name, [sys.executable, "-c", code], request={"n": 21})


@pytest.mark.usefixtures("hooked_operator")
def test_sync_submit_and_wait_for_the_result(admin_kubeconfig: Path, namespace: str) -> None:
    with Client(kubeconfig=admin_kubeconfig, namespace=namespace) as client:
        seen: list[int | None] = []
        created = client.submit(reporting("double"))
        assert created["metadata"]["namespace"] == namespace
        result = client.wait(
            "double",
            timeout=120,
            on_update=lambda a: seen.append(a.get("status", {}).get("progress")),
        )
        assert result == {"doubled": 42}
        assert seen[-1] == 100
        assert client.get("double")["status"]["phase"] == "SUCCEEDED"
        assert [a["metadata"]["name"] for a in client.list()] == ["double"]
        states = [a.get("status", {}).get("phase") for a in client.watch("double", timeout=5)]
        assert states[0] == "SUCCEEDED"  # the watch starts with the current state


@pytest.mark.usefixtures("operator")
def test_sync_wait_raises_for_a_failure_and_its_own_timeout(
    admin_kubeconfig: Path, namespace: str
) -> None:
    client = Client(kubeconfig=admin_kubeconfig, namespace=namespace)
    with pytest.raises(ActionFailed) as caught:
        client.run(action_manifest("bad", ["sh", "-c", "exit 4"]), timeout=120)
    assert (caught.value.phase, caught.value.reason) == ("FAILED", "BackoffLimitExceeded")
    assert "exit code 4" in caught.value.message
    client.submit(action_manifest("long", ["sleep", "120"]))
    with pytest.raises(WaitTimeout):
        client.wait("long", timeout=1)
    client.abort("long")
    with pytest.raises(ActionFailed, match="long ABORTED: Aborted"):
        client.wait("long", timeout=120)
    with pytest.raises(ActionNotFound):
        client.wait("nope", timeout=5)
    client.close()


@pytest.mark.asyncio
@pytest.mark.usefixtures("hooked_operator")
async def test_async_submit_and_wait(admin_kubeconfig: Path, namespace: str) -> None:
    async with await AsyncClient.connect(
        kubeconfig=admin_kubeconfig, namespace=namespace
    ) as client:
        result = await client.run(reporting("adouble"), timeout=120)
        assert result == {"doubled": 42}
        assert (await client.get("adouble"))["status"]["progress"] == 100
        first = [a async for a in client.watch("adouble", timeout=2)]
        assert first[0]["status"]["phase"] == "SUCCEEDED"
        await client.submit(action_manifest("abad", ["sh", "-c", "exit 5"]))
        with pytest.raises(ActionFailed, match="abad FAILED"):
            await client.wait("abad", timeout=120)
        with pytest.raises(ActionNotFound):
            await client.get("nope")


@pytest.mark.asyncio
@pytest.mark.usefixtures("hooked_operator")
async def test_async_client_does_what_the_sync_client_does(
    admin_kubeconfig: Path, namespace: str
) -> None:
    """pause, resume, rerun, events, jobs, pods and their errors, through AsyncClient."""
    async with await AsyncClient.connect(
        kubeconfig=admin_kubeconfig, namespace=namespace
    ) as client:
        assert client.kubeconfig_file == str(admin_kubeconfig)
        await client.submit(action_manifest("held", ["true"], suspend=True))
        assert (await client.resume("held"))["spec"]["suspend"] is False
        assert (await client.pause("held"))["spec"]["suspend"] is True
        await client.resume("held")
        done = await client.wait_finished("held", timeout=120)
        assert done["status"]["phase"] == "SUCCEEDED"
        jobs = await client.jobs(done)
        assert [j.metadata.labels["asyncaction.dev/attempt"] for j in jobs] == ["1"]
        pods = await client.pods(done)
        assert len(pods) == 1
        assert pods[0].metadata.labels["asyncaction.dev/attempt"] == "1"
        reasons = [e.reason for e in await client.events(done)]
        assert reasons, "the operator records events about the action"
        again = await client.rerun("held", generate_name="held-again-")
        assert again["metadata"]["name"].startswith("held-again-")
        assert again["spec"]["template"] == done["spec"]["template"]  # the same spec
        assert again["spec"]["suspend"] is False  # the rerun starts at once (CRD default)
        listed = await client.list(all_namespaces=True, label_selector=None)
        assert {"held", again["metadata"]["name"]} <= {
            a["metadata"]["name"] for a in listed if a["metadata"]["namespace"] == namespace
        }
        with pytest.raises(ApiError) as refused:
            await client.patch_spec("held", {"priority": "high"})
        assert refused.value.status == 422
        with pytest.raises(ActionNotFound):
            await client.abort("nope")


@pytest.mark.usefixtures("crds")
def test_the_contexts_namespace_is_the_default(
    admin_kubeconfig: Path, namespace: str, tmp_path: Path
) -> None:
    import yaml

    doc = yaml.safe_load(admin_kubeconfig.read_text())
    doc["contexts"].append(
        {"name": "mine", "context": {**doc["contexts"][0]["context"], "namespace": namespace}}
    )
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    assert Client(kubeconfig=path).namespace == "default"
    client = Client(kubeconfig=path, context="mine")
    assert client.namespace == namespace
    client.submit(action_manifest("here", ["true"]))
    assert client.get("here")["metadata"]["namespace"] == namespace
    import subprocess

    cli = [sys.executable, "-m", "asyncaction_cli", "get", "here", "--kubeconfig", str(path)]
    by_context = subprocess.run(
        [*cli, "--context", "mine", "-o", "name"], capture_output=True, text=True, check=False
    )
    assert by_context.stdout == "asyncaction.asyncaction.dev/here\n", by_context.stderr
    default_context = subprocess.run(cli, capture_output=True, text=True, check=False)
    assert default_context.returncode == 1  # the current context's namespace is "default"
    assert 'not found in namespace "default"' in default_context.stderr


def exec_kubeconfig(admin_kubeconfig: Path, tmp_path: Path) -> Path:
    """The admin identity through an exec credential plugin, as EKS, GKE and AKS
    kubeconfigs do (`aws eks get-token`, `gke-gcloud-auth-plugin`, `kubelogin`)."""
    import json

    import yaml

    doc = yaml.safe_load(admin_kubeconfig.read_text())
    token = doc["users"][0]["user"].pop("token")
    credential = {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "kind": "ExecCredential",
        "status": {"token": token},
    }
    plugin = tmp_path / "token-plugin.py"
    plugin.write_text(f"import json\nprint(json.dumps({credential!r}))\n")
    doc["users"][0]["user"]["exec"] = {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "command": sys.executable,
        "args": [str(plugin)],
        "interactiveMode": "Never",
    }
    path = tmp_path / "exec.kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    assert json.loads(json.dumps(credential))  # plain data
    return path


@pytest.mark.usefixtures("crds")
def test_exec_credential_plugins(admin_kubeconfig: Path, namespace: str, tmp_path: Path) -> None:
    import asyncio
    import os
    import subprocess

    kubeconfig = exec_kubeconfig(admin_kubeconfig, tmp_path)
    client = Client(kubeconfig=kubeconfig, namespace=namespace)
    client.submit(action_manifest("via-exec", ["true"]))

    async def read_async() -> str:
        async with await AsyncClient.connect(kubeconfig=kubeconfig, namespace=namespace) as aio:
            return str((await aio.get("via-exec"))["metadata"]["name"])

    assert asyncio.run(read_async()) == "via-exec"
    got = subprocess.run(
        [sys.executable, "-m", "asyncaction_cli", "get", "via-exec", "-n", namespace, "-o", "name"],
        capture_output=True,
        text=True,
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
        timeout=60,
        check=False,
    )
    assert got.stdout == "asyncaction.asyncaction.dev/via-exec\n", got.stderr
