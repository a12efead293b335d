"""The job hook under faults: crashes, restarts, replays across them, a stopped API server.

What a hook crash may lose is exactly what the contract says: coalesced progress,
statusDetails and log lines of at most one window; never an acknowledged terminal report.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from asyncaction.keys import MASTER_KEYS_ENV, load_master_keys
from asyncaction_job.signing import headers_v1
from tests.conftest import run_operator
from tests.e2e.test_hook import Signed, python_action, sleeping_action
from tests.support.kube import Kube, wait_for
from tests.support.procs import free_port, start_hook, stop_process

pytestmark = [pytest.mark.cluster, pytest.mark.s3, pytest.mark.slow]
__all__ = ["sleeping_action"]  # a fixture shared with test_hook


class PrivateHook:
    """A hook process of the test's own, restartable (or killable) on one port."""

    def __init__(self, kubeconfig: Path, stores: Path, log: Path, *flags: str) -> None:
        self.kubeconfig, self.stores, self.log, self.flags = kubeconfig, stores, log, flags
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> None:
        self.proc, self.url = start_hook(
            self.kubeconfig, self.stores, self.log, *self.flags, port=self.port
        )

    def kill(self) -> None:
        """SIGKILL: no flush, no goodbye, as a crash or an OOM kill."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)


@pytest.fixture
def private_hook(
    admin_kubeconfig: Path, stores_config: Path, tmp_path: Path
) -> Iterator[PrivateHook]:
    # a window far longer than the test: a queued report is certainly not yet written
    hook = PrivateHook(
        admin_kubeconfig, stores_config, tmp_path / "hook.log", "--coalesce-window", "120"
    )
    hook.start()
    yield hook
    hook.stop()


def key_of(namespace: str, uid: str, attempt: int = 1) -> str:
    return load_master_keys(os.environ[MASTER_KEYS_ENV]).issue(namespace, uid, attempt)


def test_a_crash_loses_the_coalesced_window_and_never_an_acknowledged_terminal_report(
    kube: Kube,
    namespace: str,
    sleeping_action: tuple[dict[str, Any], Signed],
    private_hook: PrivateHook,
) -> None:
    _action, session_signer = sleeping_action
    hook = Signed(private_hook.url, session_signer.uid, session_signer.key)
    queued = json.dumps({"progress": 40, "statusDetails": {"step": 4}, "logs": ["four"]})
    answer = hook.v2("POST", "/status", queued.encode())
    assert answer.status_code == 200
    assert answer.json()["progress"] == 40
    # the first report of a window is written at once; the next waits for the window
    wait_for(
        lambda: kube.get_action(namespace, "sleeper")["status"].get("progress") == 40,
        30,
        "the first report written",
    )
    second = json.dumps({"progress": 50, "statusDetails": {"step": 5}, "logs": ["five"]})
    assert hook.v2("POST", "/status", second.encode()).status_code == 200
    private_hook.kill()
    status = kube.get_action(namespace, "sleeper")["status"]
    # lost: exactly the reports of the open window (progress 50, step 5, line "five")
    assert (status.get("progress"), status.get("statusDetails")) == (40, {"step": 4})
    assert status.get("logTail") == ["four"]

    private_hook.start()
    hook = Signed(private_hook.url, hook.uid, hook.key)
    wait_for(
        lambda: requests.get(private_hook.url + "/readyz", timeout=5).status_code == 200,
        30,
        "the restarted hook",
    )
    done = json.dumps({"status": "SUCCEEDED", "result": {"kept": True}}).encode()
    assert hook.v2("POST", "/status", done).status_code == 200
    private_hook.kill()  # right after the answer: the terminal report must already be stored
    final = kube.get_action(namespace, "sleeper")["status"]
    assert final["phase"] == "SUCCEEDED"
    assert final["result"] == {"kept": True}


def test_a_future_dated_request_cannot_be_replayed_after_a_restart(
    sleeping_action: tuple[dict[str, Any], Signed], private_hook: PrivateHook
) -> None:
    _action, signer = sleeping_action
    headers = headers_v1(signer.uid, signer.key, int(time.time() * 1000) + 3000)
    body = {"statusDetails": {"signed": "ahead"}}
    first = requests.post(private_hook.url + "/status", json=body, headers=headers, timeout=10)
    assert first.status_code == 200
    private_hook.kill()
    private_hook.start()  # ready only once the fence has passed
    replay = requests.post(private_hook.url + "/status", json=body, headers=headers, timeout=10)
    assert replay.status_code in (401, 503), replay.text
    assert replay.json()["error"]["reason"] in ("RESTARTED", "UNAUTHORIZED")


@pytest.mark.usefixtures("crds", "node_agent")
def test_jobs_retry_through_a_hook_crash_and_no_terminal_report_is_lost(
    kube: Kube, namespace: str, admin_kubeconfig: Path, stores_config: Path, tmp_path: Path
) -> None:
    hook = PrivateHook(admin_kubeconfig, stores_config, tmp_path / "hook.log")
    hook.start()
    code = (
        "import time\n"
        "from asyncaction_job import client\n"
        "for n in range(40):\n"
        "    client.report(progress=n, details={'n': n})\n"
        "    time.sleep(0.1)\n"
        "client.succeed({'reports': 40})\n"
    )
    try:
        with run_operator(admin_kubeconfig, namespace, hook.url):
            kube.create_action(namespace, python_action("steady", code))
            wait_for(
                lambda: (
                    (kube.get_action(namespace, "steady").get("status") or {}).get("progress", 0)
                    > 0
                ),
                90,
                "the first reports",
            )
            hook.kill()
            time.sleep(2)  # the job's requests fail meanwhile: it retries with backoff
            hook.start()
            done = kube.wait_phase(namespace, "steady", {"SUCCEEDED", "FAILED"}, timeout=120)
            assert done["status"]["phase"] == "SUCCEEDED", done["status"]
            assert done["status"]["result"] == {"reports": 40}
    finally:
        hook.stop()


def test_the_cache_goes_stale_while_the_api_server_is_down_and_heals(
    kube: Kube, control_plane: Any, hook_url: str
) -> None:
    state = getattr(control_plane, "state", None)
    if state is None:
        pytest.skip("needs the local control plane")
    from asyncaction_testbed import procs

    def ready() -> int:
        return requests.get(hook_url + "/readyz", timeout=5).status_code

    assert ready() == 200
    procs.stop(state, "kube-apiserver")
    try:
        wait_for(lambda: ready() == 503, 60, "the hook to report its cache stale")
    finally:
        control_plane.start()
    wait_for(lambda: ready() == 200, 120, "the hook's cache to heal")


@pytest.fixture
def patient_operator(
    admin_kubeconfig: Path,
    namespace: str,
    crds: Any,
    node_agent: Any,
    hook_url: str,
    stores_config: Path,
) -> Iterator[Any]:
    """The operator with a Lease longer than any restart of the test bed's API server.

    With the default 10 s renew deadline a restart that takes longer (a slow CI machine
    takes more) makes the leader stop, as it must (tests/e2e/test_leader_stall.py): a
    Deployment restarts it. This test is about the data path riding the restart through,
    so its leader keeps the Lease across it.
    """
    with run_operator(
        admin_kubeconfig,
        namespace,
        hook_url,
        ASYNCACTION_STORES_CONFIG=str(stores_config),
        ASYNCACTION_LEASE_SECONDS="300",
        ASYNCACTION_LEASE_RENEW_DEADLINE_SECONDS="240",
    ) as runner:
        yield runner


def test_an_action_runs_through_an_api_server_restart(
    kube: Kube, namespace: str, control_plane: Any, patient_operator: Any
) -> None:
    state = getattr(control_plane, "state", None)
    if state is None:
        pytest.skip("needs the local control plane")
    from asyncaction_testbed import procs

    code = (
        "import time\n"
        "from asyncaction_job import client\n"
        "c = client.JobClient.from_env()\n"
        "c.retry = client.Retry(attempts=40, base_delay=0.5, max_delay=5.0)\n"
        "for n in range(30):\n"
        "    c.report(progress=n, details={'n': n})\n"
        "    time.sleep(0.5)\n"
        "c.succeed({'through': 'restart'})\n"
    )
    kube.create_action(namespace, python_action("through", code))
    wait_for(
        lambda: (kube.get_action(namespace, "through").get("status") or {}).get("progress", 0) > 0,
        90,
        "the first reports",
    )
    procs.stop(state, "kube-apiserver")
    try:
        time.sleep(5)  # the job's reports fail meanwhile; it retries
    finally:
        control_plane.start()
    done = kube.wait_phase(namespace, "through", {"SUCCEEDED", "FAILED"}, timeout=240)
    assert done["status"]["phase"] == "SUCCEEDED", done["status"]
    assert done["status"]["result"] == {"through": "restart"}


@pytest.mark.usefixtures("hooked_operator")
def test_after_the_api_server_returned_new_actions_are_served(
    kube: Kube, namespace: str, hook_url: str
) -> None:
    """Runs after the restart above: once the hook says it has caught up (``/readyz``,
    what a Service routes by), its healed cache knows actions created since. (Created
    before that, the job's reports met 503 NOT_READY for as long as the cache's watch
    backed off, up to 27 s after the API server had returned, beyond the job's retries:
    the informer now ends its count of failures with a LIST the API server answered.)"""

    def ready() -> bool:
        try:
            return requests.get(f"{hook_url}/readyz", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    wait_for(ready, 120, "the hook caught up after the API server's restart")
    code = "from asyncaction_job import client\nclient.succeed({'after': 'restart'})\n"
    kube.create_action(namespace, python_action("after", code))
    done = kube.wait_phase(namespace, "after", {"SUCCEEDED", "FAILED"}, timeout=90)
    assert done["status"]["phase"] == "SUCCEEDED", done["status"]
    assert done["status"]["result"] == {"after": "restart"}


@pytest.mark.usefixtures("hooked_operator")
def test_s3_down_during_an_upload_ends_in_a_clean_failure(
    kube: Kube, namespace: str, s3: Any
) -> None:
    endpoint = s3.endpoint
    uri = f"s3://{s3.bucket}/actions/{namespace}/out.txt"
    spec = {"arguments": [{"type": "output", "name": "out", "value": uri}]}
    code = "import sys, pathlib; pathlib.Path(sys.argv[1]).write_text('lost')"
    s3.stop()
    try:
        kube.create_action(namespace, python_action("no-s3", code, **spec))
        done = kube.wait_phase(namespace, "no-s3", {"SUCCEEDED", "FAILED"}, timeout=150)
    finally:
        s3.start()
    assert s3.endpoint == endpoint, "the S3 server came back on another port"
    status = done["status"]
    assert status["phase"] == "FAILED", status
    assert status["error"]["reason"] == "JobReportedFailure", status["error"]
    assert "STORE_UNAVAILABLE" in status["error"]["message"]


def test_running_jobs_survive_a_change_of_the_shard_count(
    sleeping_action: tuple[dict[str, Any], Signed],
    admin_kubeconfig: Path,
    stores_config: Path,
    tmp_path: Path,
) -> None:
    """A job given replica k's URL under the old count is sent on to its new replica."""
    from asyncaction.api.names import LABEL_HOOK_SHARD
    from asyncaction.sharding import shard_of
    from asyncaction_job.client import JobClient
    from asyncaction_testbed.procs import free_port as port_if_free

    action, signer = sleeping_action
    # what the operator writes on a running action once ASYNCACTION_HOOK_SHARDS is 2
    Kube.from_kubeconfig(admin_kubeconfig).patch_action(
        action["metadata"]["namespace"],
        action["metadata"]["name"],
        {"metadata": {"labels": {LABEL_HOOK_SHARD: str(shard_of(signer.uid, 2))}}},
    )
    while True:  # two free ports differing only in the last digit: a {shard} template
        base = free_port() // 10
        ports = [base * 10, base * 10 + 1]
        if all(port_if_free(p) == p for p in ports):
            break
    template = f"http://127.0.0.1:{base}{{shard}}"
    replicas = [
        start_hook(
            admin_kubeconfig,
            stores_config,
            tmp_path / f"hook-{shard}.log",
            "--shard",
            str(shard),
            "--shards",
            "2",
            "--hook-url",
            template,
            port=ports[shard],
        )
        for shard in (0, 1)
    ]
    try:
        owner = shard_of(signer.uid, 2)
        stale_url = replicas[1 - owner][1]  # what the job was given before the change
        client = JobClient(signer.uid, signer.key, stale_url)
        answer = client.report(progress=7, details={"via": "moved"})
        assert answer["id"] == signer.uid
        assert client.hook == replicas[owner][1]
    finally:
        for proc, _ in replicas:
            stop_process(proc)
