"""Abuse of the job hook by tenants and by stale jobs (issue 8), on the real test bed."""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import socket
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
from kubernetes import client

from asyncaction.api.names import LABEL_ACTION_UID, SECRET_KEY_FIELD
from asyncaction.keys import MASTER_KEYS_ENV, load_master_keys
from tests.e2e.test_hook import Signed, python_action, secret_of, sleeping_action
from tests.support.kube import Kube, wait_for
from tests.support.procs import start_hook, stop_process

pytestmark = [pytest.mark.cluster, pytest.mark.s3, pytest.mark.slow]
__all__ = ["sleeping_action"]  # a fixture shared with test_hook


def issued_key(namespace: str, uid: str, attempt: int) -> str:
    return load_master_keys(os.environ[MASTER_KEYS_ENV]).issue(namespace, uid, attempt)


@pytest.fixture
def other_namespace(kube: Kube) -> Any:
    name = f"t-other-{os.urandom(4).hex()}"
    kube.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    kube.core.delete_namespace(name)


@pytest.mark.usefixtures("hooked_operator")
def test_a_key_planted_in_another_namespace_is_refused(
    kube: Kube, namespace: str, other_namespace: str, hook_url: str
) -> None:
    created = kube.create_action(namespace, python_action("victim", "import time; time.sleep(60)"))
    kube.wait_phase(namespace, "victim", "RUNNING")
    uid = created["metadata"]["uid"]
    planted = "planted-" + "p" * 40
    for ns in (other_namespace, namespace):  # a tenant's namespace, and the victim's own
        kube.core.create_namespaced_secret(
            ns,
            {
                "metadata": {"name": "planted", "labels": {LABEL_ACTION_UID: uid}},
                "data": {SECRET_KEY_FIELD: base64.b64encode(planted.encode()).decode()},
            },
        )
    time.sleep(1.0)  # what a watch of Secrets would need to pick the plant up
    before = kube.get_action(namespace, "victim")["metadata"]["resourceVersion"]
    forged = Signed(hook_url, uid, planted)
    body = json.dumps({"status": "FAILED", "errorMessage": "forged"}).encode()
    answer = forged.v2("POST", "/status", body)
    assert answer.status_code == 401, answer.text
    assert forged.v2("GET", "/action").status_code == 401
    assert kube.get_action(namespace, "victim")["metadata"]["resourceVersion"] == before
    # the operator's key, from the victim's own Secret, still works
    real = Signed(hook_url, uid, issued_key(namespace, uid, 1))
    assert real.v2("GET", "/action").status_code == 200


@pytest.mark.usefixtures("hooked_operator")
def test_a_job_of_an_earlier_attempt_cannot_report_into_the_next(
    kube: Kube, namespace: str, hook_url: str
) -> None:
    code = (
        "import os, sys, time\n"
        "if os.environ['ASYNCACTION_ATTEMPT'] == '1':\n"
        "    sys.exit(3)\n"
        "time.sleep(60)\n"
    )
    created = kube.create_action(namespace, python_action("twice", code, backoffLimit=1))
    uid = created["metadata"]["uid"]
    wait_for(
        lambda: (kube.get_action(namespace, "twice").get("status") or {}).get("attempts") == 2,
        90,
        "the second attempt",
    )
    kube.wait_phase(namespace, "twice", "RUNNING")
    # the Secret now holds the second attempt's key, derived by the operator
    assert secret_of(kube, namespace, uid) == issued_key(namespace, uid, 2)
    before = kube.get_action(namespace, "twice")["metadata"]["resourceVersion"]
    stale = Signed(hook_url, uid, issued_key(namespace, uid, 1))
    body = json.dumps({"status": "SUCCEEDED", "result": {"from": "attempt 1"}}).encode()
    refused = stale.v2("POST", "/status", body)
    assert refused.status_code == 401, refused.text
    assert kube.get_action(namespace, "twice")["metadata"]["resourceVersion"] == before
    current = Signed(hook_url, uid, issued_key(namespace, uid, 2))
    assert current.v2("POST", "/status", body).status_code == 200
    done = kube.get_action(namespace, "twice")["status"]
    assert done["phase"] == "SUCCEEDED"
    assert done["result"] == {"from": "attempt 1"}


def apiserver_lists(kube: Kube) -> dict[str, float]:
    """LIST requests the API server has served, by resource (its own /metrics)."""
    method, url, headers, *_ = kube.api.param_serialize(
        "GET", "/metrics", auth_settings=["BearerToken"]
    )
    response = kube.api.call_api(method, url, header_params=headers)
    response.read()
    counts: dict[str, float] = {}
    for line in response.data.decode().splitlines():
        if line.startswith("apiserver_request_total{") and 'verb="LIST"' in line:
            resource = line.split('resource="', 1)[1].split('"', 1)[0]
            counts[resource] = counts.get(resource, 0) + float(line.rsplit(" ", 1)[1])
    return counts


def hook_api_requests(hook_url: str) -> dict[str, float]:
    """The hook's API server requests by method (every HTTP code summed)."""
    text = requests.get(hook_url + "/metrics", timeout=10).text
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("asyncaction_hook_rest_client_requests_total{"):
            method = line.split('method="', 1)[1].split('"', 1)[0]
            counts[method] = counts.get(method, 0) + float(line.rsplit(" ", 1)[1])
    return counts


def random_request(hook_url: str, n: int) -> int:
    """A request with a made-up id, well-formed or not, and a body worth reading."""
    job_id = str(uuid.uuid4()) if n % 3 else f"guess-{n}"
    now = str(int(time.time() * 1000))
    headers = {"X-Job-Id": job_id, "X-Job-Time": now, "X-Job-Hash": secrets.token_hex(32)}
    if n % 2:
        headers["X-Job-Signature"] = "v2"
    route = ("/status", "/action", f"/download/default/{job_id}/x/0")[n % 3]
    method = "POST" if route == "/status" else "GET"
    body = b'{"progress": 1, "pad": "' + b"x" * 200_000 + b'"}' if method == "POST" else b""
    return requests.request(
        method, hook_url + route, data=body, headers=headers, timeout=10
    ).status_code


def test_requests_with_made_up_ids_cost_the_api_server_nothing(kube: Kube, hook_url: str) -> None:
    lists_before, hook_before = apiserver_lists(kube), hook_api_requests(hook_url)
    answers = [random_request(hook_url, n) for n in range(300)]
    lists_after, hook_after = apiserver_lists(kube), hook_api_requests(hook_url)
    assert set(answers) <= {401, 404}, sorted(set(answers))
    for resource in ("secrets", "asyncactions"):
        spent = lists_after.get(resource, 0) - lists_before.get(resource, 0)
        # the old hook listed Secrets once per request (300); other clients of the shared
        # API server (controllers relisting after the restart test, say) list a few
        assert spent < 30, (resource, spent)
    assert {k: v for k, v in hook_after.items() if k != "WATCH"} == {
        k: v for k, v in hook_before.items() if k != "WATCH"
    }


def test_headers_are_refused_before_the_body_is_read(hook_url: str) -> None:
    """A client announcing a large body and never sending it gets its answer at once."""
    host, port = hook_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"POST /status HTTP/1.1\r\nHost: hook\r\nContent-Type: application/json\r\n"
            b"X-Job-Id: " + str(uuid.uuid4()).encode() + b"\r\nX-Job-Time: 1\r\n"
            b"X-Job-Hash: " + b"0" * 64 + b"\r\nContent-Length: 900000\r\n\r\n"
        )
        answer = sock.recv(4096)  # raises a timeout if the hook waits for the body
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]


def test_a_global_rate_limit_applies_before_authentication(
    admin_kubeconfig: Path, stores_config: Path, tmp_path: Path, crds: Any
) -> None:
    proc, url = start_hook(
        admin_kubeconfig,
        stores_config,
        tmp_path / "hook.log",
        "--global-rate",
        "1",
        "--global-burst",
        "5",
    )
    try:
        answers = [random_request(url, n) for n in range(30)]
    finally:
        stop_process(proc)
    assert answers.count(429) >= 20, answers
    assert set(answers) <= {401, 404, 429}


def test_oversized_deep_or_odd_reports_are_refused_and_change_nothing(
    kube: Kube, namespace: str, sleeping_action: tuple[dict[str, Any], Signed]
) -> None:
    _action, hook = sleeping_action
    before = kube.get_action(namespace, "sleeper")["metadata"]["resourceVersion"]
    big_details = json.dumps({"statusDetails": {"blob": "x" * 200_000}}).encode()
    answer = hook.v2("POST", "/status", big_details)
    assert answer.status_code == 413, answer.text
    assert "upload" in answer.json()["error"]["message"]
    long_line = json.dumps({"logs": ["y" * 100_000]}).encode()
    assert hook.v2("POST", "/status", long_line).status_code == 413
    deep = b'{"statusDetails": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5000 + b"}"
    assert hook.v2("POST", "/status", deep).status_code == 400
    deeper = b"[" * 100_000 + b"]" * 100_000
    assert hook.v2("POST", "/status", deeper).status_code == 400
    odd_time = requests.post(
        hook.hook + "/status",
        data=b"{}",
        headers={
            "X-Job-Id": hook.uid,
            "X-Job-Time": "\u0661\u0667\u0660\u0660".encode(),  # Arabic-Indic digits
            "X-Job-Hash": "0" * 64,
        },
        timeout=10,
    )
    assert odd_time.status_code == 401
    time.sleep(1.0)  # past the coalescing window
    assert kube.get_action(namespace, "sleeper")["metadata"]["resourceVersion"] == before


def test_pending_uploads_are_bounded(
    kube: Kube, namespace: str, sleeping_action: tuple[dict[str, Any], Signed]
) -> None:
    _action, hook = sleeping_action
    answers = []
    for n in range(101):
        announce: dict[str, Any] = {"hash": f"{n:032x}", "metadata": {}}
        if n % 2:  # the challenge is optional
            announce["challenge"] = f"{n:032x}"
        body = json.dumps(announce).encode()
        answers.append(hook.v2("PUT", f"/upload/default/{hook.uid}/part{n}", body))
    assert [a.status_code for a in answers[:100]] == [200] * 100
    assert answers[100].status_code == 413, answers[100].text
    assert "finish" in answers[100].json()["error"]["message"]
    status = kube.get_action(namespace, "sleeper")["status"]
    assert len(status["pendingUploads"]) == 100


@pytest.mark.usefixtures("hooked_operator")
def test_an_action_naming_another_namespaces_keys_fails_before_any_job(
    kube: Kube, namespace: str, s3: Any
) -> None:
    s3.client().put_object(Bucket=s3.bucket, Key="actions/someone-else/data.txt", Body=b"theirs")
    uri = f"s3://{s3.bucket}/actions/someone-else/data.txt"
    spec = {"arguments": [{"type": "input", "name": "data", "value": uri}]}
    created = kube.create_action(namespace, python_action("snoop", "print('read it')", **spec))
    done = kube.wait_phase(namespace, "snoop", {"SUCCEEDED", "FAILED"}, timeout=60)
    assert done["status"]["phase"] == "FAILED"
    assert done["status"]["error"]["reason"] == "StoreAccessDenied"
    assert "actions/someone-else/data.txt" in done["status"]["error"]["message"]
    assert kube.jobs_of(namespace, created["metadata"]["uid"]) == []


def test_the_hook_refuses_keys_outside_the_namespaces_grants(
    kube: Kube, namespace: str, s3: Any, sleeping_action: tuple[dict[str, Any], Signed]
) -> None:
    _action, hook = sleeping_action
    s3.client().put_object(Bucket=s3.bucket, Key="actions/someone-else/data.txt", Body=b"theirs")
    s3.client().put_object(Bucket=s3.bucket, Key=f"actions/{namespace}/mine.txt", Body=b"mine")
    arguments = [
        {
            "type": "input",
            "name": "theirs",
            "value": f"s3://{s3.bucket}/actions/someone-else/data.txt",
        },
        {
            "type": "input",
            "name": "mine",
            "value": f"s3://{s3.bucket}/actions/{namespace}/mine.txt",
        },
        {"type": "output", "name": "archive", "value": f"s3://{s3.bucket}/archive/x.json"},
    ]
    # the spec changed after the operator's check (or a template did): the hook checks too
    kube.patch_action(namespace, "sleeper", {"spec": {"arguments": arguments}})
    wait_for(
        lambda: hook.v2("GET", "/action").json().get("arguments") == arguments,
        30,
        "the hook to see the new spec",
    )
    refused = hook.v2("GET", f"/download/default/{hook.uid}/theirs/0")
    assert refused.status_code == 403, refused.text
    assert "someone-else" in refused.json()["error"]["message"]
    assert hook.v2("GET", f"/download/default/{hook.uid}/mine/0").status_code == 200
    assert hook.v2("GET", f"/download/default/{hook.uid}/mine/-1").status_code == 400
    upload = json.dumps({"hash": "0" * 32, "metadata": {}}).encode()
    assert hook.v2("PUT", f"/upload/default/{hook.uid}/archive", upload).status_code == 403


def test_no_key_appears_in_statuses_events_job_specs_or_logs(
    kube: Kube,
    namespace: str,
    hooked_operator: Any,
    testbed_dir: Path,
    node_agent: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # the in-process operator's log, every level
    code = (
        "import os\n"
        "from asyncaction_job import client\n"
        "client.report(progress=50, details={'step': 'half'}, logs=['working'])\n"
        "client.succeed({'ok': True})\n"
    )
    created = kube.create_action(namespace, python_action("quiet", code, backoffLimit=0))
    done = kube.wait_phase(namespace, "quiet", {"SUCCEEDED", "FAILED"}, timeout=90)
    assert done["status"]["phase"] == "SUCCEEDED", done["status"]
    masters = load_master_keys(os.environ[MASTER_KEYS_ENV])
    uid = created["metadata"]["uid"]
    needles = {
        issued_key(namespace, uid, 1),
        *(key.decode() for key in masters.keys),
    }
    api = kube.api
    haystacks = {
        "action": json.dumps(kube.get_action(namespace, "quiet")),
        "events": json.dumps(
            api.sanitize_for_serialization(kube.core.list_namespaced_event(namespace))
        ),
        "jobs": json.dumps(
            api.sanitize_for_serialization(kube.batch.list_namespaced_job(namespace))
        ),
        "pods": json.dumps(
            api.sanitize_for_serialization(kube.core.list_namespaced_pod(namespace))
        ),
        "hook log": (testbed_dir / "hook.log").read_text(errors="replace"),
        "operator log": caplog.text,
        "pod logs": "".join(p.read_text(errors="replace") for p in node_agent.glob("*.log")),
    }
    assert all(haystacks[k] for k in ("hook log", "operator log"))  # searched something
    leaks = [
        (where, key[:6]) for where, text in haystacks.items() for key in needles if key in text
    ]
    assert leaks == []
    assert "secretKeyRef" in haystacks["jobs"]  # the key reaches jobs by reference only


def test_slow_clients_holding_connections_do_not_stop_the_hook(
    sleeping_action: tuple[dict[str, Any], Signed],
) -> None:
    _action, signer = sleeping_action
    host, port = signer.hook.removeprefix("http://").split(":")
    held = []
    try:
        for n in range(200):  # each sends half a request and then nothing
            sock = socket.create_connection((host, int(port)), timeout=10)
            sock.sendall(b"POST /status HTTP/1.1\r\nHost: hook\r\nX-Job-Id: " + str(n).encode())
            held.append(sock)
        answer = signer.v2("POST", "/status", json.dumps({"progress": 3}).encode())
        assert answer.status_code == 200, answer.text
    finally:
        for sock in held:
            sock.close()
