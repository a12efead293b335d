"""End to end on the machine's real node: containers from the images built here.

The node (with its own control plane, S3 on the node's address and the hook behind a
Service) starts once, for this module: all real-node tests live here. Skipped, with the
reason, where the machine cannot run it or another session or ``make up`` owns it.
The last test stops the node and proves the host is as it was before.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client import V1Pod

from tests.conftest import EXISTING, run_operator
from tests.support.kube import Kube, wait_for
from tests.support.procs import start_hook, stop_process

pytestmark = [pytest.mark.realnode, pytest.mark.cluster, pytest.mark.s3, pytest.mark.slow]


@dataclass
class Bed:
    state: Path
    kubeconfig: Path
    kube: Kube
    s3: Any
    job_hook: str
    node: Any
    before: dict[str, Any]
    job_image: str
    operator_image: str


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    if EXISTING:
        pytest.skip("ASYNCACTION_TEST_KUBECONFIG is set: the real node runs on the local test bed")
    from asyncaction_testbed import release
    from asyncaction_testbed.binaries import find_binaries
    from asyncaction_testbed.controlplane import ControlPlane
    from asyncaction_testbed.crds import install_crds
    from asyncaction_testbed.images import recipes
    from asyncaction_testbed.images.job_node import build_job_node_image
    from asyncaction_testbed.node import (
        RUN_DIR,
        NodeInUse,
        RealNode,
        current_owner,
        host,
        unavailable_reason,
    )
    from asyncaction_testbed.node.config import NODE_IP
    from asyncaction_testbed.s3server import S3Server
    from asyncaction_testbed.stack import apply_manifests, hook_service_manifests

    reason = unavailable_reason()
    if reason:
        pytest.skip(f"no real node on this machine: {reason}")
    owner = current_owner()
    if owner:
        pytest.skip(f"this machine's real node is in use by {owner['label']} ({owner['state']})")
    state = tmp_path_factory.mktemp("realnode")
    before = host.snapshot([state, RUN_DIR])
    plane = ControlPlane(state / "cp")
    plane.start()
    kubeconfig = plane.admin_kubeconfig
    # the chart's Deployments need these controllers, as under `make up`
    release.start_workload_controllers(state, find_binaries().kube_controller_manager, kubeconfig)
    node = RealNode(state / "node", owner_label=f"pytest session (pid {os.getpid()})", tied=True)
    try:
        job, operator = recipes.build_python_image("job"), recipes.build_python_image("operator")
        job_node = build_job_node_image()
        node.start(kubeconfig, [job, operator, job_node])
    except NodeInUse as exc:
        release.stop_workload_controllers(state)
        plane.stop()
        pytest.skip(str(exc))
    except BaseException:
        release.stop_workload_controllers(state)
        plane.stop()
        raise
    s3 = S3Server(state / "s3", bind=NODE_IP)
    hook_proc = None
    try:
        s3.start()
        stores = state / "stores.json"
        document = s3.stores_document()
        # as `make up` grants it: the examples' data under demo/ for namespace default
        document["stores"]["default"]["grants"] = {"default": ["actions/default/", "demo/"]}
        stores.write_text(json.dumps(document))
        install_crds(kubeconfig)
        hook_proc, url = start_hook(
            kubeconfig, stores, state / "hook.log", "--coalesce-window", "0.5", host=NODE_IP
        )
        port = int(url.rsplit(":", 1)[1])
        apply_manifests(kubeconfig, hook_service_manifests(NODE_IP, port))
        job_hook = f"http://asyncaction-hook.asyncaction-system.svc.cluster.local:{port}"
        yield Bed(
            state,
            kubeconfig,
            Kube.from_kubeconfig(kubeconfig),
            s3,
            job_hook,
            node,
            before,
            job.ref,
            operator.ref,
        )
    finally:
        if hook_proc is not None:
            stop_process(hook_proc)
        node.stop()
        s3.stop()
        release.stop_workload_controllers(state)
        plane.stop()


@pytest.fixture
def ns(bed: Bed) -> Iterator[str]:
    from kubernetes import client

    name = f"rn-{uuid.uuid4().hex[:8]}"
    bed.kube.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    # A Pod is refused until the default ServiceAccount has its token (Kubernetes 1.20).
    wait_for(
        lambda: any(sa.secrets for sa in bed.kube.core.list_namespaced_service_account(name).items),
        60,
        f"the default ServiceAccount's token in {name}",
    )
    yield name
    bed.kube.core.delete_namespace(name)


def kubectl(bed: Bed, *args: str) -> str:
    done = subprocess.run(
        ["kubectl", "--kubeconfig", str(bed.kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def pod_phase(bed: Bed, ns: str, name: str) -> V1Pod | None:
    """The pod once it has finished (the client's model object, read by attribute)."""
    pod = bed.kube.core.read_namespaced_pod(name, ns)
    return pod if pod.status.phase in ("Succeeded", "Failed") else None


def job_action(bed: Bed, name: str, command: list[str], **spec: Any) -> dict[str, Any]:
    container = {
        "name": "main",
        "image": bed.job_image,
        "imagePullPolicy": "Never",
        "command": command,
    }
    return {
        "metadata": {"name": name},
        "spec": {"template": {"spec": {"containers": [container]}}, **spec},
    }


PROBE = """
import socket
from asyncaction_job import client
print("pod ip", socket.gethostbyname(socket.gethostname()))
print("hook", socket.gethostbyname("asyncaction-hook.asyncaction-system.svc.cluster.local"))
try:
    socket.gethostbyname("deb.debian.org")
    print("outside name resolved")
except OSError:
    print("outside name refused")
import json, ssl, urllib.request
sa = "/var/run/secrets/kubernetes.io/serviceaccount/"
request = urllib.request.Request(
    "https://kubernetes.default.svc/version",
    headers={"Authorization": "Bearer " + open(sa + "token").read()},
)
ctx = ssl.create_default_context(cafile=sa + "ca.crt")
print("api", json.load(urllib.request.urlopen(request, context=ctx, timeout=10))["gitVersion"])
try:
    socket.create_connection(("10.200.0.1", 10250), timeout=3).close()
    print("kubelet reachable")
except OSError:
    print("kubelet unreachable")
"""


def test_pod_from_the_job_image_gets_a_pod_ip_and_logs(bed: Bed, ns: str) -> None:
    from asyncaction_testbed.node.config import POD_CIDR

    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "probe", "namespace": ns},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "main",
                    "image": bed.job_image,
                    "imagePullPolicy": "Never",
                    "command": ["python3", "-c", PROBE],
                    "securityContext": {"readOnlyRootFilesystem": True},
                }
            ],
        },
    }
    bed.kube.core.create_namespaced_pod(ns, pod)
    done = wait_for(lambda: pod_phase(bed, ns, "probe"), 120, "the probe pod to finish")
    logs = kubectl(bed, "-n", ns, "logs", "probe")
    assert done.status.phase == "Succeeded", logs
    assert ipaddress.ip_address(done.status.pod_ip) in ipaddress.ip_network(POD_CIDR)
    assert done.spec.node_name == "asyncaction-node"
    assert done.status.container_statuses[0].image.endswith(bed.job_image.split("/", 1)[1])
    assert f"pod ip {done.status.pod_ip}" in logs
    hook_ip = bed.kube.core.read_namespaced_service("asyncaction-hook", "asyncaction-system")
    assert f"hook {hook_ip.spec.cluster_ip}" in logs
    assert "outside name refused" in logs
    assert "api v1.20.2" in logs  # in-cluster config works: kubernetes.default.svc
    assert "kubelet unreachable" in logs  # yet `kubectl logs` (the API server) got through


IMAGE_CHECK = """
id -u
asyncaction-operator --help | head -1
asyncaction-hook --help | head -1
python3 -c 'import asyncaction.handlers, asyncaction_hook.main; print("imports ok")'
"""


def test_operator_image_runs_both_programs_non_root_on_a_read_only_root(bed: Bed, ns: str) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "image-check", "namespace": ns},
        "spec": {
            "restartPolicy": "Never",
            "securityContext": {"runAsNonRoot": True},
            "containers": [
                {
                    "name": "main",
                    "image": bed.operator_image,
                    "imagePullPolicy": "Never",
                    "command": ["sh", "-c", IMAGE_CHECK],
                    "securityContext": {
                        "readOnlyRootFilesystem": True,
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }
    bed.kube.core.create_namespaced_pod(ns, pod)
    done = wait_for(lambda: pod_phase(bed, ns, "image-check"), 120, "the image check to finish")
    logs = kubectl(bed, "-n", ns, "logs", "image-check")
    assert done.status.phase == "Succeeded", logs
    lines = logs.splitlines()
    assert lines[0] == "65532"
    assert lines[1].startswith("usage: asyncaction-operator")
    assert lines[2].startswith("usage: asyncaction-hook")
    assert lines[3] == "imports ok"


REPORTER = """
from asyncaction_job import client
request = client.action()["request"]
for p in (25, 50, 75):
    client.report(progress=p, details={"at": p})
with open("/tmp/notes.txt", "w") as f:
    f.write("notes from " + request["who"] + "\\n")
client.upload("notes", "/tmp/notes.txt")
client.succeed({"greeting": "hello " + request["who"]})
"""


def test_action_in_a_container_reports_through_the_service_and_uploads(bed: Bed, ns: str) -> None:
    body = job_action(bed, "reporter", ["python3", "-c", REPORTER], request={"who": "node"})
    with run_operator(bed.kubeconfig, ns, bed.job_hook):
        bed.kube.create_action(ns, body)
        done = bed.kube.wait_phase(ns, "reporter", {"SUCCEEDED", "FAILED"}, timeout=180)
        status = done["status"]
        assert status["phase"] == "SUCCEEDED", status
        assert status["result"] == {"greeting": "hello node"}
        assert status["progress"] == 100
        assert status["statusDetails"] == {"at": 75}
        outputs = wait_for(
            lambda: {
                o["name"]: o
                for o in bed.kube.get_action(ns, "reporter")["status"].get("outputs", [])
            },
            60,
            "the upload recorded",
        )
    expected = b"notes from node\n"
    assert outputs["notes"]["md5"] == hashlib.md5(expected).hexdigest()
    key = outputs["notes"]["uri"].split(f"s3://{bed.s3.bucket}/", 1)[1]
    assert bed.s3.client().get_object(Bucket=bed.s3.bucket, Key=key)["Body"].read() == expected


SEED_REPORTER = """
import hashlib, hmac, json, os, sys, time, urllib.error, urllib.request
# As the seed's example client: signature version 1 (the time, signed), no retry.
def headers():
    ts = str(round(time.time() * 1000))
    key = os.environ["JOB_SECRET_KEY"].encode("latin-1")
    digest = hmac.new(key, ts.encode("latin-1"), hashlib.sha256)
    return {"X-Job-Id": os.environ["JOB_ID"], "X-Job-Time": ts, "X-Job-Hash": digest.hexdigest(),
            "Content-Type": "application/json"}
def send(payload):
    request = urllib.request.Request(os.environ["JOB_HOOK"].rstrip("/") + "/status",
        data=json.dumps(payload).encode(), headers=headers(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code
stop = time.time() + float(sys.argv[1])
progress = 0
while time.time() < stop:
    progress = min(99, progress + 1)
    code = send({"progress": progress})
    if code != 200:
        print("progress answered", code, flush=True)
        sys.exit(3)
    time.sleep(0.1)
code = send({"status": "SUCCESS", "results": {"reports": progress}})
print("final answered", code, flush=True)
sys.exit(0 if code == 200 else 4)
"""


def test_seed_style_jobs_survive_a_hook_restart_on_the_node(bed: Bed, ns: str) -> None:
    """Jobs in pods written like the seed's client (v1 signatures, no retry, any answer
    but 200 ends them) report every 100 ms through a Service while their hook process is
    replaced by a new one on the same port (a rollout): every job succeeds."""
    from asyncaction.keys import MASTER_KEYS_ENV
    from asyncaction_testbed.node.config import NODE_IP
    from asyncaction_testbed.stack import apply_manifests
    from tests.support.procs import free_port, start_process, wait_http

    port, lease = free_port(), f"restart-{uuid.uuid4().hex[:8]}"
    argv = [
        sys.executable,
        "-m",
        "asyncaction_hook.main",
        f"--host={NODE_IP}",
        f"--port={port}",
        f"--kubeconfig={bed.kubeconfig}",
        f"--stores-config={bed.state / 'stores.json'}",
        f"--master-keys-file={os.environ[MASTER_KEYS_ENV]}",
        f"--shard-lease-namespace={ns}",
        f"--shard-lease-name={lease}",
        "--shard-lease-seconds=6",
        "--coalesce-window=0.5",
        "--reuse-port",
    ]
    meta = {"name": "restart-hook", "namespace": ns}
    apply_manifests(
        bed.kubeconfig,
        [
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": meta,
                "spec": {"ports": [{"name": "http", "port": port, "targetPort": port}]},
            },
            {
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": meta,
                "subsets": [
                    {"addresses": [{"ip": NODE_IP}], "ports": [{"name": "http", "port": port}]}
                ],
            },
        ],
    )
    logs = bed.state / f"restart-{lease}"
    logs.mkdir()
    old = start_process(argv, logs / "old.log")
    new = None
    names = [f"seed-{n}" for n in range(4)]
    try:
        wait_http(f"http://{NODE_IP}:{port}/readyz", 30, old, logs / "old.log")
        hook = f"http://restart-hook.{ns}.svc.cluster.local:{port}"
        with run_operator(bed.kubeconfig, ns, hook):
            for name in names:
                bed.kube.create_action(
                    ns, job_action(bed, name, ["python3", "-c", SEED_REPORTER, "25"])
                )

            def reported(name: str) -> Any:
                return (bed.kube.get_action(ns, name).get("status") or {}).get("progress")

            for name in names:  # every job reports before the restart
                wait_for(partial(reported, name), 120, f"{name} to report")
            new = start_process(argv, logs / "new.log")  # beside the old one, same port
            wait_for(
                lambda: "job hook listening" in (logs / "new.log").read_text(),
                30,
                "the new hook process to listen",
            )
            stop_process(old)  # it stops listening, finishes, hands over
            outcomes = {
                name: bed.kube.wait_phase(ns, name, {"SUCCEEDED", "FAILED"}, timeout=180)["status"]
                for name in names
            }
            # the new process (the only one listening now) answered the jobs' reports
            scraped = urllib.request.urlopen(f"http://{NODE_IP}:{port}/metrics", timeout=10)
            served = sum(
                float(line.rsplit(" ", 1)[1])
                for line in scraped.read().decode().splitlines()
                if line.startswith("asyncaction_hook_requests_total{")
                and 'code="200"' in line
                and "/status" in line
            )
    finally:
        stop_process(old)
        if new is not None:
            stop_process(new)
    failed = {n: s.get("error") for n, s in outcomes.items() if s["phase"] != "SUCCEEDED"}
    assert not failed, failed
    assert all(s["result"]["reports"] > 1 for s in outcomes.values()), outcomes
    assert served >= len(names), served  # at least each job's final report


NODE_UPLOADER = """
import { action, report, upload, succeed } from "@asyncaction/job";
import { writeFile } from "node:fs/promises";
const { request } = await action();
await report({ progress: 50, details: { at: 50 }, logs: ["writing notes"] });
await writeFile("/tmp/notes.txt", `notes from ${request.who}\\n`);
const first = await upload("notes", "/tmp/notes.txt");
const again = await upload("notes", "/tmp/notes.txt");
await succeed({ first, again, node: process.version });
"""


def test_node_job_reports_and_uploads_through_the_service(bed: Bed, ns: str) -> None:
    """The Node client in the job-node image (Debian's Node.js 18): signed reports, and an
    upload with the md5 challenge to the presigned URL; the same content again is not
    sent (the hook answers done)."""
    from asyncaction_testbed.images.job_node import JOB_NODE_IMAGE

    body = job_action(bed, "node-up", ["node", "--input-type=module", "-e", NODE_UPLOADER])
    body["spec"]["request"] = {"who": "node"}
    body["spec"]["template"]["spec"]["containers"][0]["image"] = JOB_NODE_IMAGE
    with run_operator(bed.kubeconfig, ns, bed.job_hook):
        bed.kube.create_action(ns, body)
        done = bed.kube.wait_phase(ns, "node-up", {"SUCCEEDED", "FAILED"}, timeout=180)
        status = done["status"]
        assert status["phase"] == "SUCCEEDED", status
        assert status["result"]["first"] is True
        assert status["result"]["again"] is False
        assert status["result"]["node"].startswith("v18.")
        outputs = wait_for(
            lambda: {
                o["name"]: o
                for o in bed.kube.get_action(ns, "node-up")["status"].get("outputs", [])
            },
            60,
            "the upload recorded",
        )
    expected = b"notes from node\n"
    assert outputs["notes"]["md5"] == hashlib.md5(expected).hexdigest()
    key = outputs["notes"]["uri"].split(f"s3://{bed.s3.bucket}/", 1)[1]
    assert bed.s3.client().get_object(Bucket=bed.s3.bucket, Key=key)["Body"].read() == expected


def test_failing_container_is_retried_and_fails_with_its_exit_code(bed: Bed, ns: str) -> None:
    body = job_action(bed, "failing", ["sh", "-c", "echo broken >&2; exit 3"], backoffLimit=1)
    with run_operator(bed.kubeconfig, ns, bed.job_hook):
        bed.kube.create_action(ns, body)
        done = bed.kube.wait_phase(ns, "failing", {"SUCCEEDED", "FAILED"}, timeout=180)
    status = done["status"]
    assert status["phase"] == "FAILED", status
    assert "exit code 3" in status["error"]["message"]
    pods = bed.kube.core.list_namespaced_pod(ns).items
    assert len(pods) == 2
    codes = {p.status.container_statuses[0].state.terminated.exit_code for p in pods}
    assert codes == {3}


def test_absent_image_shows_on_the_pod(bed: Bed, ns: str) -> None:
    """imagePullPolicy Never and no such image: the kubelet refuses to start the container,
    and the action, STARTING until its start timeout, shows why."""
    body = job_action(bed, "absent", ["true"])
    body["spec"]["template"]["spec"]["containers"][0]["image"] = "docker.io/asyncaction/absent:0"
    with run_operator(bed.kubeconfig, ns, bed.job_hook):
        bed.kube.create_action(ns, body)

        def waiting_reason() -> str | None:
            for pod in bed.kube.core.list_namespaced_pod(ns).items:
                for container in pod.status.container_statuses or []:
                    if container.state.waiting and container.state.waiting.reason:
                        reason: str = container.state.waiting.reason
                        return reason if reason != "ContainerCreating" else None
            return None

        assert wait_for(waiting_reason, 120, "the pod's waiting reason") == "ErrImageNeverPull"
        assert bed.kube.get_action(ns, "absent")["status"]["phase"] not in ("SUCCEEDED", "FAILED")
        # The action says why it waits: the Reason column and the Ready condition.
        shown = wait_for(lambda: reason_column(bed, ns, "absent"), 30, "the Reason column")
        assert shown == "ErrImageNeverPull"


def reason_column(bed: Bed, ns: str, name: str) -> str | None:
    """The REASON cell of ``kubectl get asyncaction NAME`` (its default columns)."""
    header, row = kubectl(bed, "-n", ns, "get", "asyncaction", name).splitlines()[:2]
    start = header.index("REASON")
    rest = header[start:].split()
    end = header.index(rest[1], start) if len(rest) > 1 else len(row)
    return row[start:end].strip() or None


def test_unpullable_image_shows_its_reason_in_kubectl_get_within_30s(bed: Bed, ns: str) -> None:
    """An image the node cannot pull (a registry on a closed loopback port: no traffic
    leaves the machine): ``kubectl get`` shows the kubelet's reason while STARTING, and
    the Ready condition carries its message, within 30 s of the action's creation."""
    body = job_action(bed, "unpullable", ["true"])
    container = body["spec"]["template"]["spec"]["containers"][0]
    container["image"] = "127.0.0.1:9/asyncaction/missing:1"
    container["imagePullPolicy"] = "IfNotPresent"
    with run_operator(bed.kubeconfig, ns, bed.job_hook):
        bed.kube.create_action(ns, body)
        pulling = {"ErrImagePull", "ImagePullBackOff"}
        shown = wait_for(
            lambda: (reason_column(bed, ns, "unpullable") or "") in pulling,
            30,
            "an image pull reason in kubectl get",
            describe=lambda: kubectl(bed, "-n", ns, "get", "asyncaction", "unpullable"),
        )
        assert shown
        status = bed.kube.get_action(ns, "unpullable")["status"]
        assert status["phase"] == "STARTING"
        ready = {c["type"]: c for c in status["conditions"]}["Ready"]
        assert ready["reason"] in pulling
        assert "127.0.0.1:9/asyncaction/missing:1" in ready["message"]
        assert status["error"]["reason"] == ready["reason"]


def test_chart_installs_upgrades_runs_an_action_and_passes_helm_test(bed: Bed) -> None:
    """The chart as `make up` installs it: operator and hook as Pods run an action end to end."""
    from helm_python import Chart, Config

    from asyncaction_testbed import release

    chart_ns = f"rn-chart-{uuid.uuid4().hex[:6]}"
    stores = bed.s3.stores_document()
    # namespaced: the chart's operator leaves the other tests' namespaces to their operators
    first = {
        **release.build_values(stores),
        "rbac": {"scope": "namespaced", "namespaces": [chart_ns]},
    }
    second = {
        **first,
        "operator": {"settings": {"backoffBaseSeconds": 3}},
        "hook": {"extraArgs": ["--rate", "50"]},
    }
    helm = Config(kubeconfig_path=bed.kubeconfig, namespace=chart_ns)
    try:
        with Chart.load(release.CHART) as chart:
            helm.install(chart, release.RELEASE, first, namespace=chart_ns, create_namespace=True)
            release.wait_rollout(bed.kubeconfig, namespace=chart_ns)
            assert_chart_pods_running(bed, chart_ns)
            helm.upgrade(chart, release.RELEASE, second, namespace=chart_ns, reset_values=True)
            assert helm.status(release.RELEASE)["revision"] == 2
            release.wait_rollout(bed.kubeconfig, namespace=chart_ns)
            hook = json.loads(
                kubectl(
                    bed, "-n", chart_ns, "get", "deployment", f"{release.RELEASE}-hook", "-o=json"
                )
            )
            assert "--rate" in hook["spec"]["template"]["spec"]["containers"][0]["args"]
            assert_chart_pods_running(bed, chart_ns)

        body = job_action(bed, "reporter", ["python3", "-c", REPORTER], request={"who": "node"})
        bed.kube.create_action(chart_ns, body)
        done = bed.kube.wait_phase(chart_ns, "reporter", {"SUCCEEDED", "FAILED"}, timeout=240)
        status = done["status"]
        assert status["phase"] == "SUCCEEDED", status
        assert status["result"] == {"greeting": "hello node"}
        assert status["progress"] == 100
        outputs = wait_for(
            lambda: {
                o["name"]: o
                for o in bed.kube.get_action(chart_ns, "reporter")["status"].get("outputs", [])
            },
            60,
            "the upload recorded",
        )
        operator = json.loads(
            kubectl(
                bed, "-n", chart_ns, "get", "deployment", f"{release.RELEASE}-operator", "-o=json"
            )
        )
        operator_env = {
            e["name"]: e.get("value")
            for e in operator["spec"]["template"]["spec"]["containers"][0]["env"]
        }
        # the JOB_HOOK every job gets: the chart's hook Service, not the bed's host hook
        assert operator_env["ASYNCACTION_HOOK_URL"] == (
            f"http://{release.RELEASE}-hook.{chart_ns}.svc.cluster.local:8080"
        )
        key = outputs["notes"]["uri"].split(f"s3://{bed.s3.bucket}/", 1)[1]
        body_read = bed.s3.client().get_object(Bucket=bed.s3.bucket, Key=key)["Body"].read()
        assert body_read == b"notes from node\n"

        assert_scraped_through_pod_annotations(bed, chart_ns)

        tested = helm.test(release.RELEASE, timeout=240)
        assert tested["release"]["name"] == release.RELEASE

        # hook.shards: a Deployment and a Service per shard, each job sent to its own
        third = {**second, "hook": {**second["hook"], "shards": 2}}
        with Chart.load(release.CHART) as chart:
            helm.upgrade(chart, release.RELEASE, third, namespace=chart_ns, reset_values=True)
        hooks = [f"{release.RELEASE}-hook-{shard}" for shard in range(2)]
        release.wait_rollout(
            bed.kubeconfig, namespace=chart_ns, deployments=(f"{release.RELEASE}-operator", *hooks)
        )
        assert_sharded_hooks_serve_their_actions(bed, chart_ns, hooks)
        assert helm.test(release.RELEASE, timeout=240)["release"]["name"] == release.RELEASE
    finally:
        helm.uninstall(release.RELEASE, ignore_not_found=True, timeout=120)
        helm.close()
        bed.kube.core.delete_namespace(chart_ns)


def assert_sharded_hooks_serve_their_actions(bed: Bed, namespace: str, hooks: list[str]) -> None:
    """Actions until each shard has one (the API server picks the uids); every one
    succeeds, its job given its own shard's Service, whose pod took its reports."""
    from asyncaction.api.names import LABEL_HOOK_SHARD
    from asyncaction.sharding import shard_of

    names: dict[str, int] = {}
    while set(names.values()) != set(range(len(hooks))):
        assert len(names) < 20, f"20 actions and a shard got none: {names}"
        name = f"sharded-{len(names)}"
        body = job_action(bed, name, ["python3", "-c", REPORTER], request={"who": name})
        uid = bed.kube.create_action(namespace, body)["metadata"]["uid"]
        names[name] = shard_of(uid, len(hooks))
    for name, shard in names.items():
        done = bed.kube.wait_phase(namespace, name, {"SUCCEEDED", "FAILED"}, timeout=240)
        assert done["status"]["phase"] == "SUCCEEDED", done["status"]
        assert done["status"]["result"] == {"greeting": f"hello {name}"}
        assert done["metadata"]["labels"][LABEL_HOOK_SHARD] == str(shard)
        job = bed.kube.batch.read_namespaced_job(done["status"]["jobName"], namespace)
        env = {e.name: e.value for e in job.spec.template.spec.containers[0].env}
        assert env["JOB_HOOK"] == f"http://{hooks[shard]}.{namespace}.svc.cluster.local:8080"
    for shard in range(len(hooks)):
        # the terminal reports each shard's pod took (its /metrics, through the API server)
        pods = bed.kube.core.list_namespaced_pod(
            namespace, label_selector=f"app.kubernetes.io/component=hook,{LABEL_HOOK_SHARD}={shard}"
        ).items
        running = [p.metadata.name for p in pods if p.status.phase == "Running"]
        assert len(running) == 1, running
        text = bed.kube.core.connect_get_namespaced_pod_proxy_with_path(
            f"{running[0]}:9090", namespace, "metrics"
        )
        terminal = next(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith('asyncaction_hook_reports_total{kind="terminal"}')
        )
        assert terminal == sum(1 for s in names.values() if s == shard), (shard, names, terminal)


def assert_scraped_through_pod_annotations(bed: Bed, namespace: str) -> None:
    """The test bed's Prometheus finds the chart's Pods by their prometheus.io annotations
    and reads the action's run from both (skipped without the prometheus package)."""
    from asyncaction_testbed.prometheus import (
        Prometheus,
        PrometheusUnavailable,
        binaries,
        pod_discovery,
    )

    directory = bed.state / f"prometheus-{namespace}"
    try:
        binaries()
    except PrometheusUnavailable:
        return
    server = Prometheus(
        directory, extra_jobs=[pod_discovery(bed.kubeconfig, [namespace], directory / "pods.json")]
    )
    server.start()
    try:
        wanted = {"asyncaction-operator": "up", "asyncaction-hook": "up"}
        wait_for(lambda: server.targets_up() == wanted, 60, "both Pods scraped", server.targets_up)
        succeeded = 'sum(asyncaction_phase_transitions_total{to_phase="SUCCEEDED"})'
        assert wait_for(lambda: server.value(succeeded), 30, "the success counted") == 1
        terminal = 'sum(asyncaction_hook_reports_total{kind="terminal"})'
        assert wait_for(lambda: server.value(terminal), 30, "the report counted") == 1
    finally:
        server.stop()


def assert_chart_pods_running(bed: Bed, namespace: str) -> None:
    pods = bed.kube.core.list_namespaced_pod(
        namespace, label_selector="app.kubernetes.io/name=asyncaction"
    ).items
    running = {
        p.metadata.labels.get("app.kubernetes.io/component")
        for p in pods
        if p.status.phase == "Running" and not p.metadata.deletion_timestamp
    }
    assert {"operator", "hook"} <= running, [(p.metadata.name, p.status.phase) for p in pods]


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
WORDS = "the quick brown fox jumps over the lazy dog and the dog sleeps\n" * 20


def test_every_example_runs_as_written_with_its_documented_outcome(bed: Bed) -> None:
    """``kubectl apply -f examples/X.yaml``, unchanged (so in namespace default, whose
    store grants demo/ as under `make up`): each names the job image the node has, and
    ends as its comment says. wordcount reads s3://asyncaction/demo/input.txt, which
    ``make demo`` (and this test) uploads first."""
    ns = "default"
    wait_for(
        lambda: any(sa.secrets for sa in bed.kube.core.list_namespaced_service_account(ns).items),
        60,
        "the default ServiceAccount's token in default",
    )
    s3 = bed.s3.client()
    s3.put_object(Bucket=bed.s3.bucket, Key="demo/input.txt", Body=WORDS.encode())
    files = sorted(EXAMPLES.glob("*.yaml"))
    docs = [yaml.safe_load(path.read_text()) for path in files]
    names = [d["metadata"]["name"] for d in docs if d["kind"] == "AsyncAction"]
    schedules = [d["metadata"]["name"] for d in docs if d["kind"] == "ActionSchedule"]
    assert set(names) >= {"hello", "hello-node", "progress", "wordcount", "failing", "resize"}
    assert schedules == ["nightly"]
    stores = str(bed.state / "stores.json")  # as `make up` configures the operator
    terminal = {"SUCCEEDED", "FAILED", "ABORTED", "TIMEOUT"}
    try:
        with run_operator(bed.kubeconfig, ns, bed.job_hook, ASYNCACTION_STORES_CONFIG=stores):
            for path in files:
                kubectl(bed, "apply", "-f", str(path))
            final = {
                name: bed.kube.wait_phase(ns, name, terminal, timeout=240)["status"]
                for name in names
            }
            nightly = wait_for(
                lambda: _schedule_status(bed, ns, "nightly").get("nextScheduleTime"),
                60,
                "the nightly schedule's next slot",
            )
            assert nightly.endswith("Z") or "+" in nightly, nightly
    finally:
        kubectl(bed, "delete", "-n", ns, "actionschedules", "--all", "--wait=false")
        kubectl(bed, "delete", "-n", ns, "asyncactions", "--all", "--wait=false")
    # examples/tasks.yaml: img-7 fails on both tries of the first attempt (TasksFailed).
    resize = final.pop("resize")
    assert resize["phase"] == "FAILED", resize
    assert resize["error"]["reason"] == "TasksFailed", resize
    names.remove("resize")
    errors = {name: status["error"] for name, status in final.items() if status.get("error")}
    assert list(errors) == ["failing"], errors
    phases = {name: status["phase"] for name, status in final.items()}
    assert phases == {name: "FAILED" if name == "failing" else "SUCCEEDED" for name in names}, final
    assert final["hello"]["result"] == {"greeting": "hello world"}
    assert final["progress"]["result"] == {"steps": 10}
    assert final["progress"]["progress"] == 100
    node = final["hello-node"]
    assert node["result"]["greeting"] == "hello node"
    assert node["result"]["node"].startswith("v18."), node["result"]  # Debian's Node.js
    assert node["progress"] == 100
    assert any("greeting node from v18." in line for line in node.get("logTail") or []), node
    assert final["failing"]["error"]["reason"] == "BackoffLimitExceeded"
    assert "exit code 3" in final["failing"]["error"]["message"]
    outputs = {o["name"]: o for o in final["wordcount"].get("outputs", [])}
    assert outputs["counts"]["uri"] == f"s3://{bed.s3.bucket}/demo/counts.json"
    counts = json.loads(s3.get_object(Bucket=bed.s3.bucket, Key="demo/counts.json")["Body"].read())
    assert counts["words"] == len(WORDS.split())
    assert counts["top"][0] == ["the", 60]


def _schedule_status(bed: Bed, ns: str, name: str) -> dict[str, Any]:
    found = bed.kube.custom.get_namespaced_custom_object(
        "asyncaction.dev", "v1alpha1", ns, "actionschedules", name
    )
    status: dict[str, Any] = found.get("status") or {}
    return status


def test_zz_stopping_the_node_restores_the_host(bed: Bed) -> None:
    """Last in this module: stops the node and compares the host with before its start."""
    from asyncaction_testbed.node import RUN_DIR, host

    assert bed.node.stop()
    after = host.snapshot([bed.state, RUN_DIR])
    assert host.differences(bed.before, after) == []
    assert not RUN_DIR.exists()
