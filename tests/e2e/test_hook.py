"""Jobs report and move data through the real job hook and SeaweedFS."""

from __future__ import annotations

import hashlib
import json
import sys
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from asyncaction.api.names import LABEL_ACTION_UID, SECRET_KEY_FIELD
from asyncaction_job.signing import headers_v1, headers_v2, signing_clock
from tests.support.kube import Kube, action_manifest, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.s3, pytest.mark.slow]
JOBS = Path(__file__).parent / "jobs"


def python_action(name: str, code: str, **spec: Any) -> dict[str, Any]:
    return action_manifest(name, [sys.executable, "-c", code], **spec)


def secret_of(kube: Kube, namespace: str, uid: str) -> str:
    import base64

    secrets = kube.core.list_namespaced_secret(
        namespace, label_selector=f"{LABEL_ACTION_UID}={uid}"
    ).items
    return base64.b64decode(secrets[0].data[SECRET_KEY_FIELD]).decode()


@pytest.mark.usefixtures("hooked_operator")
def test_project_client_reports_progress_and_result(kube: Kube, namespace: str) -> None:
    code = (
        "from asyncaction_job import client\n"
        "assert client.action()['request'] == {'n': 3}\n"
        "for p in (20, 40, 60):\n"
        "    client.report(progress=p, details={'at': p}, logs=[f'line {p}'])\n"
        "client.succeed({'answer': 42})\n"
    )
    kube.create_action(namespace, python_action("reporter", code, request={"n": 3}))
    done = kube.wait_phase(namespace, "reporter", {"SUCCEEDED", "FAILED"}, timeout=90)
    status = done["status"]
    assert status["phase"] == "SUCCEEDED", status
    assert status["result"] == {"answer": 42}
    assert status["progress"] == 100
    assert status["statusDetails"] == {"at": 60}
    assert status["logTail"][-1] == "line 60"
    assert status["lastReportAt"]


@pytest.mark.usefixtures("hooked_operator")
def test_seed_client_works_unchanged(kube: Kube, namespace: str, s3: Any, node_agent: Path) -> None:
    key = f"actions/{namespace}/in.txt"  # the namespace's own area (asyncaction.tenancy)
    s3.client().put_object(Bucket=s3.bucket, Key=key, Body=b"one two three")
    created = kube.create_action(
        namespace,
        {
            "metadata": {"name": "seed"},
            "spec": {
                "arguments": [
                    {
                        "type": "input",
                        "name": "text",
                        "value": f"s3://{s3.bucket}/{key}",
                    }
                ],
                # typed arguments: the entrypoint wraps the command; the seed job reports itself
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "main",
                                "image": "python",
                                "command": [sys.executable, str(JOBS / "seed_job.py")],
                            }
                        ]
                    }
                },
            },
        },
    )
    done = kube.wait_phase(namespace, "seed", {"SUCCEEDED", "FAILED"}, timeout=90)
    status = done["status"]
    assert status["phase"] == "SUCCEEDED", status
    assert status["result"] == {"words": 3}
    outputs = {o["name"]: o for o in status.get("outputs", [])}
    assert outputs["report"]["md5"] == hashlib.md5(b"3 words\n").hexdigest()
    # The job's stdout is a file, block-buffered: what it printed reaches the log when it
    # exits, which can be after its last report made the action SUCCEEDED.
    log = next(node_agent.glob(f"{namespace}_seed-*_main.log"))
    wait_for(
        lambda: "Already uploaded" in log.read_text(),
        30,
        "the job's output in its log",
        describe=log.read_text,
    )
    assert created["metadata"]["uid"] in outputs["report"]["uri"]


@pytest.mark.usefixtures("hooked_operator")
def test_upload_without_a_final_report_is_recorded_by_the_sweep(
    kube: Kube, namespace: str, s3: Any
) -> None:
    code = (
        "import pathlib\n"
        "from asyncaction_job import client\n"
        "pathlib.Path('out.txt').write_text('swept')\n"
        "client.upload('notes', 'out.txt')\n"
    )  # exits 0 without reporting: the Job's completion ends the action
    kube.create_action(namespace, python_action("quiet-upload", code))
    kube.wait_phase(namespace, "quiet-upload", "SUCCEEDED", timeout=60)
    recorded = wait_for(
        lambda: kube.get_action(namespace, "quiet-upload")["status"].get("outputs"),
        30,
        "the sweep to record the upload",
    )
    assert recorded[0]["name"] == "notes"
    assert recorded[0]["md5"] == hashlib.md5(b"swept").hexdigest()


class Signed:
    """Sign requests to the hook as a job of ``uid`` would."""

    def __init__(self, hook: str, uid: str, key: str) -> None:
        self.hook, self.uid, self.key = hook, uid, key

    def v2(self, method: str, route: str, body: bytes = b"", **over: Any) -> requests.Response:
        url = self.hook + route
        path = urllib.parse.urlparse(url).path
        headers = headers_v2(
            over.get("uid", self.uid),
            over.get("key", self.key),
            method,
            path,
            over.get("signed_body", body),
            over.get("now") or signing_clock(),
        )
        headers["Content-Type"] = "application/json"
        return requests.request(method, url, data=body, headers=headers, timeout=10)


@pytest.fixture
def sleeping_action(
    kube: Kube, namespace: str, hooked_operator: Any, hook_url: str
) -> tuple[dict[str, Any], Signed]:
    created = kube.create_action(namespace, python_action("sleeper", "import time; time.sleep(60)"))
    kube.wait_phase(namespace, "sleeper", "RUNNING")
    uid = created["metadata"]["uid"]
    return kube.get_action(namespace, "sleeper"), Signed(
        hook_url, uid, secret_of(kube, namespace, uid)
    )


def test_refusals_leave_the_action_untouched(
    kube: Kube, namespace: str, sleeping_action: tuple[dict[str, Any], Signed]
) -> None:
    _action, hook = sleeping_action
    before = kube.get_action(namespace, "sleeper")["metadata"]["resourceVersion"]
    body = json.dumps({"progress": 50}).encode()
    stale = int(time.time() * 1000) - 10 * 60 * 1000
    other = kube.create_action(namespace, python_action("other", "import time; time.sleep(60)"))
    wait_for(lambda: kube.jobs_of(namespace, other["metadata"]["uid"]), 30, "other's job")

    assert hook.v2("POST", "/status", body, key="wrong").status_code == 401
    assert hook.v2("POST", "/status", body, uid=other["metadata"]["uid"]).status_code == 401
    assert hook.v2("POST", "/status", body, now=stale).status_code == 401
    assert hook.v2("POST", "/status", body, signed_body=b'{"progress": 1}').status_code == 401
    assert hook.v2("POST", "/status", b"{not json").status_code in (400, 422)
    assert hook.v2("POST", "/status", b'{"progress": 500}').status_code in (400, 422)
    assert hook.v2("POST", "/status", b"x" * (2 * 1024 * 1024)).status_code == 413
    assert hook.v2("POST", "/status", body, uid=str(uuid.uuid4())).status_code == 404
    assert hook.v2("POST", "/status", body, uid="no-such-id").status_code == 401  # not a uid
    time.sleep(1.0)  # past the coalescing window: a wrongly accepted report would be patched
    assert kube.get_action(namespace, "sleeper")["metadata"]["resourceVersion"] == before

    # a replay of a request that was accepted once
    url = hook.hook + "/status"
    headers = headers_v1(hook.uid, hook.key, signing_clock())
    first = requests.post(url, json={"statusDetails": {"probe": 1}}, headers=headers, timeout=10)
    assert first.status_code == 200
    replay = requests.post(url, json={"progress": 99}, headers=headers, timeout=10)
    assert replay.status_code == 401
    assert replay.json()["error"]["reason"] == "REPLAYED"
    time.sleep(1.0)
    after = kube.get_action(namespace, "sleeper")["status"]
    assert after["statusDetails"] == {"probe": 1}
    assert "progress" not in after


def test_report_after_terminal_phase_is_refused(
    kube: Kube, namespace: str, sleeping_action: tuple[dict[str, Any], Signed]
) -> None:
    _, hook = sleeping_action
    done = hook.v2(
        "POST", "/status", json.dumps({"status": "FAILED", "errorMessage": "gave up"}).encode()
    )
    assert done.status_code == 200
    # backoffLimit 0: the operator ends the action on the reported failure
    failed = kube.wait_phase(namespace, "sleeper", "FAILED")
    assert failed["status"]["error"]["reason"] == "JobReportedFailure"
    late = hook.v2("POST", "/status", b'{"progress": 70}')
    assert late.status_code == 409
    assert late.json()["error"]["reason"] == "ACTION_COMPLETED"
    again = kube.get_action(namespace, "sleeper")
    assert again["metadata"]["resourceVersion"] == failed["metadata"]["resourceVersion"]


def test_presigned_url_cannot_reach_another_actions_key(
    s3: Any, sleeping_action: tuple[dict[str, Any], Signed]
) -> None:
    _, hook = sleeping_action
    content = b"mine"
    answer = hook.v2(
        "PUT",
        "/upload/default/" + hook.uid + "/notes",
        json.dumps(
            {
                "hash": hashlib.md5(content).hexdigest(),
                "challenge": hashlib.md5(b"WEBDA" + content).hexdigest(),
                "metadata": {},
            }
        ).encode(),
    )
    assert answer.status_code == 200, answer.text
    upload = answer.json()
    assert upload["done"] is False
    assert hook.uid in upload["url"]
    moved = upload["url"].replace(hook.uid, "00000000-another-action")
    refused = requests.request(
        upload["method"], moved, data=content, headers=upload.get("headers") or {}, timeout=10
    )
    assert refused.status_code == 403
    ok = requests.request(
        upload["method"],
        upload["url"],
        data=content,
        headers=upload.get("headers") or {},
        timeout=10,
    )
    assert ok.status_code == 200


def test_progress_reports_are_coalesced(
    kube: Kube, namespace: str, sleeping_action: tuple[dict[str, Any], Signed]
) -> None:
    from kubernetes import watch

    _action, hook = sleeping_action
    version = kube.get_action(namespace, "sleeper")["metadata"]["resourceVersion"]
    started = time.monotonic()
    for progress in range(1, 201):
        assert (
            hook.v2("POST", "/status", json.dumps({"progress": progress // 2}).encode()).status_code
            == 200
        )
    elapsed = time.monotonic() - started
    time.sleep(1.5)  # let the last window flush
    final = kube.get_action(namespace, "sleeper")
    assert final["status"]["progress"] == 100
    stream = watch.Watch().stream(
        kube.custom.list_namespaced_custom_object,
        "asyncaction.dev",
        "v1alpha1",
        namespace,
        "asyncactions",
        field_selector="metadata.name=sleeper",
        resource_version=version,
        timeout_seconds=2,
    )
    patches = sum(1 for event in stream if event["type"] == "MODIFIED")
    window = 0.5  # the hook fixture's --coalesce-window
    assert patches <= elapsed / window + 2, (patches, elapsed)


def test_replays_are_refused_across_replicas_and_restarts(
    kube: Kube,
    namespace: str,
    sleeping_action: tuple[dict[str, Any], Signed],
    admin_kubeconfig: Path,
    stores_config: Path,
    tmp_path: Path,
) -> None:
    from asyncaction.api.names import LABEL_HOOK_SHARD
    from asyncaction.sharding import shard_of
    from tests.support.procs import start_hook, stop_process

    _, hook = sleeping_action
    owner = shard_of(hook.uid, 2)
    # what the operator writes when it runs with ASYNCACTION_HOOK_SHARDS=2: each replica
    # watches only the actions labelled with its shard
    kube.patch_action(
        namespace, "sleeper", {"metadata": {"labels": {LABEL_HOOK_SHARD: str(owner)}}}
    )

    def replica(shard: int) -> tuple[Any, str]:
        return start_hook(
            admin_kubeconfig,
            stores_config,
            tmp_path / f"hook-{shard}.log",
            "--shard",
            str(shard),
            "--shards",
            "2",
        )

    replicas = {shard: replica(shard) for shard in (0, 1)}
    try:
        headers = headers_v1(hook.uid, hook.key, signing_clock())
        body = {"statusDetails": {"via": "replica"}}

        def send(shard: int) -> requests.Response:
            return requests.post(
                replicas[shard][1] + "/status", json=body, headers=headers, timeout=10
            )

        assert send(1 - owner).status_code == 421  # not its action, whatever the signature
        assert send(owner).status_code == 200
        assert send(owner).status_code == 401  # replay on the owner
        assert send(1 - owner).status_code == 421  # replay on the other replica
        stop_process(replicas[owner][0])
        replicas[owner] = replica(owner)
        restarted = send(owner)  # replay after a restart: memory is empty, time is not
        assert restarted.status_code == 503
        assert restarted.json()["error"]["reason"] == "RESTARTED"
    finally:
        for proc, _ in replicas.values():
            stop_process(proc)
