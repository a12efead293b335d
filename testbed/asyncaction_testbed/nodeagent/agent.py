"""The agent's I/O: watch Pods, bind them, run them, report them.

Synchronous by design (a separate dev-only process using the ``kubernetes`` client in
threads): one watch thread, one thread per running Pod.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from asyncaction_testbed.nodeagent.env import EnvError, expand, referenced_names, resolve_env
from asyncaction_testbed.nodeagent.status import pod_log_path, running_status, terminated_status

log = logging.getLogger("nodeagent")
NODE_NAME = "asyncaction-local"
HOST_VARS = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH")


def now_str() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def host_env() -> dict[str, str]:
    env = {k: os.environ[k] for k in HOST_VARS if k in os.environ}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


class PodRun:
    """One Pod's processes: init containers in order, then all containers together."""

    def __init__(self, agent: NodeAgent, pod: dict[str, Any]) -> None:
        self.agent = agent
        self.pod = pod
        self.meta = pod["metadata"]
        self.stop_requested = threading.Event()
        self.procs: list[subprocess.Popen[bytes]] = []
        self.lock = threading.Lock()
        # The pod's own scratch directory, as a container would have a fresh filesystem:
        # commands without workingDir never write into the agent's directory.
        self.scratch = tempfile.mkdtemp(prefix=f"{self.meta['namespace']}_{self.meta['name']}_")
        self.thread = threading.Thread(
            target=self._run, name=f"pod-{self.meta['name']}", daemon=True
        )

    def _fetch(self) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
        ns = self.meta["namespace"]
        secret_names, configmap_names = referenced_names(self.pod)
        secrets: dict[str, dict[str, str]] = {}
        configmaps: dict[str, dict[str, str]] = {}
        for name in secret_names:
            try:
                data = self.agent.core.read_namespaced_secret(name, ns).data or {}
                secrets[name] = {k: base64.b64decode(v).decode() for k, v in data.items()}
            except ApiException as exc:
                if exc.status != 404:
                    raise
        for name in configmap_names:
            try:
                configmaps[name] = self.agent.core.read_namespaced_config_map(name, ns).data or {}
            except ApiException as exc:
                if exc.status != 404:
                    raise
        return secrets, configmaps

    def _spawn(self, container: Mapping[str, Any], env: dict[str, str]) -> subprocess.Popen[bytes]:
        argv = [
            expand(a, env) for a in (container.get("command") or []) + (container.get("args") or [])
        ]
        if not argv:
            raise EnvError(
                f"container {container['name']} has no command: images are not "
                "run by the local node agent, so a command is required"
            )
        path = pod_log_path(
            self.agent.log_dir, self.meta["namespace"], self.meta["name"], container["name"]
        )
        with path.open("ab") as out:
            return subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**host_env(), **env},
                cwd=container.get("workingDir") or self.scratch,
                start_new_session=True,
            )

    def _run(self) -> None:
        try:
            self._run_containers()
        finally:
            shutil.rmtree(self.scratch, ignore_errors=True)

    def _run_containers(self) -> None:
        started = now_str()
        spec = self.pod["spec"]
        containers = spec.get("containers") or []
        try:
            secrets, configmaps = self._fetch()
            envs = {
                c["name"]: resolve_env(c, self.pod, secrets, configmaps)
                for c in (spec.get("initContainers") or []) + containers
            }
            for init in spec.get("initContainers") or []:
                proc = self._start(init, envs[init["name"]])
                if proc is None or self._wait([proc], [init["name"]])[init["name"]] != 0:
                    self._finish(
                        containers,
                        {},
                        started,
                        reason="InitContainerFailed",
                        message=f"init container {init['name']} failed",
                    )
                    return
            running = [self._start(c, envs[c["name"]]) for c in containers]
            if any(p is None for p in running):
                return
            self.agent.patch_status(self.pod, running_status(containers, started))
            codes = self._wait(
                [p for p in running if p is not None], [c["name"] for c in containers]
            )
        except (EnvError, OSError) as exc:
            log.warning("pod %s/%s cannot run: %s", self.meta["namespace"], self.meta["name"], exc)
            self._finish(containers, {}, started, reason="CreateContainerError", message=str(exc))
            return
        if self.stop_requested.is_set():
            return  # deleted: nobody reads its status any more
        if self.deadline_hit:
            self._finish(
                containers,
                codes,
                started,
                reason="DeadlineExceeded",
                message="Pod was active longer than activeDeadlineSeconds",
            )
        else:
            self._finish(containers, codes, started)

    deadline_hit = False

    def _start(
        self, container: Mapping[str, Any], env: dict[str, str]
    ) -> subprocess.Popen[bytes] | None:
        with self.lock:
            if self.stop_requested.is_set():
                return None
            proc = self._spawn(container, env)
            self.procs.append(proc)
            return proc

    def _wait(self, procs: list[subprocess.Popen[bytes]], names: list[str]) -> dict[str, int]:
        deadline_s = self.pod["spec"].get("activeDeadlineSeconds")
        deadline = time.monotonic() + deadline_s if deadline_s else None
        while any(p.poll() is None for p in procs):
            if deadline and time.monotonic() > deadline and not self.deadline_hit:
                self.deadline_hit = True
                self.terminate(grace=0)
            time.sleep(0.05)
        codes = [p.returncode if p.returncode >= 0 else 128 - p.returncode for p in procs]
        return dict(zip(names, codes, strict=True))

    def _finish(
        self,
        containers: list[dict[str, Any]],
        codes: Mapping[str, int],
        started: str,
        *,
        reason: str | None = None,
        message: str | None = None,
    ) -> None:
        status = terminated_status(
            containers, codes, started, now_str(), reason=reason, message=message
        )
        self.agent.patch_status(self.pod, status)
        log.info(
            "pod %s/%s %s %s",
            self.meta["namespace"],
            self.meta["name"],
            status["phase"],
            dict(codes),
        )

    def terminate(self, grace: float = 5.0) -> None:
        with self.lock:
            procs = list(self.procs)
        for proc in procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        end = time.monotonic() + grace
        while time.monotonic() < end and any(p.poll() is None for p in procs):
            time.sleep(0.05)
        for proc in procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)

    def stop(self) -> None:
        self.stop_requested.set()
        grace = self.pod["spec"].get("terminationGracePeriodSeconds", 5)
        self.terminate(grace=min(float(grace), 5.0))


class NodeAgent:
    def __init__(self, kubeconfig: Path, log_dir: Path, namespace: str | None = None) -> None:
        self.api = config.new_client_from_config(config_file=str(kubeconfig))
        self.core = client.CoreV1Api(self.api)
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.namespace = namespace
        self.runs: dict[str, PodRun] = {}
        self.stopping = threading.Event()

    def patch_status(self, pod: Mapping[str, Any], status: dict[str, Any]) -> None:
        meta = pod["metadata"]
        for attempt in range(5):
            try:
                self.core.patch_namespaced_pod_status(
                    meta["name"], meta["namespace"], {"status": status}
                )
                return
            except ApiException as exc:
                if exc.status == 404:
                    return
                time.sleep(0.2 * 2**attempt)
        log.error("could not report status of %s/%s", meta["namespace"], meta["name"])

    def register_node(self) -> None:
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": NODE_NAME, "labels": {"kubernetes.io/hostname": NODE_NAME}},
        }
        try:
            self.core.create_node(node)
        except ApiException as exc:
            if exc.status != 409:
                raise
        now = now_str()
        self.core.patch_node_status(
            NODE_NAME,
            {
                "status": {
                    "conditions": [
                        {
                            "type": "Ready",
                            "status": "True",
                            "reason": "AgentReady",
                            "message": "asyncaction local node agent",
                            "lastHeartbeatTime": now,
                            "lastTransitionTime": now,
                        }
                    ],
                    "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                }
            },
        )

    def bind(self, pod: Mapping[str, Any]) -> None:
        meta = pod["metadata"]
        body = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
            "target": {"apiVersion": "v1", "kind": "Node", "name": NODE_NAME},
        }
        try:
            # _preload_content=False: the client cannot deserialise Binding answers.
            self.core.create_namespaced_pod_binding(
                meta["name"], meta["namespace"], body, _preload_content=False
            )
        except ApiException as exc:
            if exc.status not in (404, 409):
                raise

    def handle(self, event_type: str, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        uid = meta["uid"]
        spec = pod.get("spec", {})
        phase = pod.get("status", {}).get("phase")
        if event_type == "DELETED" or meta.get("deletionTimestamp"):
            run = self.runs.pop(uid, None)
            if run is not None:
                threading.Thread(target=run.stop, daemon=True).start()
            if event_type != "DELETED" and spec.get("nodeName") == NODE_NAME:
                threading.Thread(target=self._finalize_delete, args=(pod, run), daemon=True).start()
            return
        if not spec.get("nodeName"):
            self.bind(pod)
            return
        if spec["nodeName"] != NODE_NAME or uid in self.runs or phase != "Pending":
            if phase == "Running" and uid not in self.runs and spec["nodeName"] == NODE_NAME:
                # Running before this agent started: its process is gone.
                self.patch_status(
                    pod,
                    terminated_status(
                        spec.get("containers") or [],
                        {},
                        now_str(),
                        now_str(),
                        reason="NodeAgentRestarted",
                        message="the node agent restarted",
                    ),
                )
            return
        run = PodRun(self, pod)
        self.runs[uid] = run
        run.thread.start()

    def _finalize_delete(self, pod: Mapping[str, Any], run: PodRun | None) -> None:
        if run is not None:
            run.thread.join(timeout=10)
        meta = pod["metadata"]
        try:
            self.core.delete_namespaced_pod(meta["name"], meta["namespace"], grace_period_seconds=0)
        except ApiException as exc:
            if exc.status != 404:
                log.warning("could not finish deleting %s: %s", meta["name"], exc)

    def run_forever(self) -> None:
        self.register_node()
        resource_version: str | None = None
        while not self.stopping.is_set():
            try:
                if resource_version is None:
                    listing = (
                        self.core.list_namespaced_pod(self.namespace)
                        if self.namespace
                        else self.core.list_pod_for_all_namespaces()
                    )
                    resource_version = listing.metadata.resource_version
                    for item in listing.items:
                        self.handle("ADDED", self.api.sanitize_for_serialization(item))
                stream = watch.Watch().stream(
                    self.core.list_namespaced_pod
                    if self.namespace
                    else self.core.list_pod_for_all_namespaces,
                    *([self.namespace] if self.namespace else []),
                    resource_version=resource_version,
                    timeout_seconds=60,
                    _request_timeout=90,
                )
                for event in stream:
                    if self.stopping.is_set():
                        break
                    obj = self.api.sanitize_for_serialization(event["object"])
                    resource_version = obj["metadata"].get("resourceVersion", resource_version)
                    self.handle(event["type"], obj)
            except ApiException as exc:
                if exc.status == 410:
                    resource_version = None
                    continue
                log.warning("watch failed: %s; retrying", exc)
                time.sleep(1)
            except Exception:  # keep the node alive whatever one pod does
                log.exception("watch loop error; relisting")
                resource_version = None
                time.sleep(1)

    def stop(self) -> None:
        self.stopping.set()
        for run in list(self.runs.values()):
            run.stop()
