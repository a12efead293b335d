"""``make up`` / ``make down``: the whole local system as background processes.

Layout of the state directory (``.local/`` by default, ignored by git):
``controlplane/`` and ``s3/`` (data kept across ``down``/``up``), ``logs/`` (one log per
process), ``pod-logs/`` (what each pod's containers printed), ``pids/``, ``kubeconfig``
(admin), ``env`` (shell-sourceable), ``stores.json`` (the hook's S3 configuration) and
``master-keys`` (mode 0600: the operator's and the hook's, ``asyncaction.keys``).
A second ``up`` while everything runs changes nothing.

Pods run on the machine's real node (``node/``: containerd, kubelet, kube-proxy,
scheduler, dnsmasq) when the machine allows it (root, the node packages and binaries)
and no other state directory or test session owns it; otherwise on the node agent,
with a message saying why. ``ASYNCACTION_NODE=agent`` forces the node agent,
``ASYNCACTION_NODE=real`` makes falling back an error. On the real node, S3 listens on
the node's bridge address so pods reach it; jobs name the hook by its Service,
``asyncaction-hook.asyncaction-system.svc.cluster.local``, which the node's DNS answers.
There the operator and the hook run as Pods of the Helm chart
(``release``: release ``asyncaction`` in ``asyncaction-system``, the project's image, the
chart's ServiceAccounts and RBAC); on the node agent they stay host processes.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asyncaction.keys import MASTER_KEYS_ENV
from asyncaction_testbed import procs, prometheus, release
from asyncaction_testbed.binaries import find_binaries
from asyncaction_testbed.controlplane import ControlPlane
from asyncaction_testbed.crds import install_crds
from asyncaction_testbed.images import recipes
from asyncaction_testbed.node import NodeUnavailable, RealNode, current_owner, unavailable_reason
from asyncaction_testbed.node.config import NODE_IP
from asyncaction_testbed.prometheus import OPERATOR_METRICS_PORT
from asyncaction_testbed.s3server import S3Server

HOOK_PORT = 18080
SERVICES = ("nodeagent", "hook", "operator")
HOOK_NAMESPACE = "asyncaction-system"
HOOK_SERVICE = "asyncaction-hook"


def hook_service_manifests(address: str, port: int) -> list[dict[str, Any]]:
    """The hook's namespace, Service and hand-written Endpoints (the hook runs on the host)."""
    meta = {"name": HOOK_SERVICE, "namespace": HOOK_NAMESPACE}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": HOOK_NAMESPACE}},
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
                {"addresses": [{"ip": address}], "ports": [{"name": "http", "port": port}]}
            ],
        },
    ]


def hook_service_url(port: int) -> str:
    return f"http://{HOOK_SERVICE}.{HOOK_NAMESPACE}.svc.cluster.local:{port}"


@dataclass(frozen=True)
class Stack:
    state: Path

    @property
    def kubeconfig(self) -> Path:
        return self.state / "kubeconfig"

    @property
    def env_file(self) -> Path:
        return self.state / "env"

    @property
    def mode_file(self) -> Path:
        return self.state / "node-mode"

    def node_mode(self) -> str:
        """``real`` or ``agent``: where the last ``up`` runs pods."""
        try:
            return self.mode_file.read_text().strip()
        except OSError:
            return "agent"

    @property
    def listen_address(self) -> str:
        return NODE_IP if self.node_mode() == "real" else "127.0.0.1"

    @property
    def hook_url(self) -> str:
        """The hook as seen from this machine."""
        return f"http://{self.listen_address}:{HOOK_PORT}"

    @property
    def job_hook_url(self) -> str:
        """The hook as jobs see it: its Service name on the real node, loopback otherwise."""
        return release.hook_service_url() if self.node_mode() == "real" else self.hook_url

    def control_plane(self) -> ControlPlane:
        return ControlPlane(self.state / "controlplane")

    def s3(self) -> S3Server:
        return S3Server(self.state / "s3", bind=self.listen_address)

    def node(self) -> RealNode:
        return RealNode(self.state / "node", owner_label=f"`make up` in {self.state.resolve()}")

    def _choose_node(self) -> str:
        wanted = os.environ.get("ASYNCACTION_NODE", "auto")
        if wanted == "agent":
            say("pods run on the node agent (ASYNCACTION_NODE=agent)")
            return "agent"
        reason = unavailable_reason()
        owner = current_owner()
        if reason is None and owner and Path(owner["state"]) != self.node().state:
            reason = f"the machine's real node is in use by {owner['label']}"
        if reason is None:
            return "real"
        if wanted == "real":
            raise SystemExit(f"error: ASYNCACTION_NODE=real, but {reason}")
        say(f"no real node: {reason}")
        say(
            "falling back to the node agent: pods, the operator and the hook run as host"
            " processes, images are ignored (the Helm chart needs the real node)"
        )
        return "agent"

    def _start_real_node(self) -> bool:
        """Build and import the images and start the node; False (and why) if it fails."""
        say("real node (containerd, kubelet, kube-proxy, kube-scheduler, dnsmasq)")
        try:
            built = list(recipes.build_all().values())
            for image in built:
                say(f"image {image.ref}: {image.compressed_bytes / 1e6:.1f} MB compressed")
            self.node().start(self.kubeconfig, built)
        except (NodeUnavailable, RuntimeError, OSError, subprocess.CalledProcessError) as exc:
            if os.environ.get("ASYNCACTION_NODE") == "real":
                raise SystemExit(f"error: the real node did not start: {exc}") from exc
            say(f"the real node did not start: {exc}")
            say(
                "falling back to the node agent: pods, the operator and the hook run as host"
                " processes, images are ignored (the Helm chart needs the real node)"
            )
            return False
        return True

    def up(self) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        plane = self.control_plane()
        say("control plane (etcd, kube-apiserver, kube-controller-manager)")
        plane.start()
        shutil.copyfile(plane.admin_kubeconfig, self.kubeconfig)
        mode = self._choose_node()
        if mode == "real" and not self._start_real_node():
            mode = "agent"
        if mode != self.node_mode() and any(procs.is_running(self.state, n) for n in SERVICES):
            self._stop_services()  # they listen on the other mode's addresses
            self.s3().stop()
        if mode == "agent" and self.node_mode() == "real":
            release.uninstall(self.kubeconfig)
            say("uninstalled the chart's release: operator and hook run as host processes")
        if mode == "agent" and self.node().stop():
            say("stopped this directory's real node (pods now run on the node agent)")
        self.mode_file.write_text(mode + "\n")
        say("S3 server (SeaweedFS)")
        s3 = self.s3()
        s3.start()
        say("CRDs")
        install_crds(self.kubeconfig)
        self._write_config(s3)
        if mode == "real":
            self._install_chart(s3)
            say(f"ready: source {self.env_file} && kubectl -n {HOOK_NAMESPACE} get pods")
            return
        self._stop_workload_controllers()
        python = sys.executable
        kubeconfig = str(self.kubeconfig)
        commands = {
            "nodeagent": [
                python,
                "-m",
                "asyncaction_testbed.nodeagent",
                "--kubeconfig",
                kubeconfig,
                "--log-dir",
                str(self.state / "pod-logs"),
            ],
            "hook": [
                python,
                "-m",
                "asyncaction_hook.main",
                "--host",
                self.listen_address,
                "--port",
                str(HOOK_PORT),
                "--kubeconfig",
                kubeconfig,
                "--stores-config",
                str(self.state / "stores.json"),
            ],
            "operator": [python, "-m", "asyncaction.main", "--liveness", ""],
        }
        env = {
            "ASYNCACTION_KUBECONFIG": kubeconfig,
            MASTER_KEYS_ENV: str(self._master_keys()),
            "ASYNCACTION_STORES_CONFIG": str(self.state / "stores.json"),
            "ASYNCACTION_HOOK_URL": self.job_hook_url,
            "ASYNCACTION_BACKOFF_BASE_SECONDS": "2",
            "ASYNCACTION_METRICS_BIND_ADDRESS": f"{self.listen_address}:{OPERATOR_METRICS_PORT}",
        }
        for name in SERVICES:
            if procs.is_running(self.state, name):
                continue
            say(name)
            procs.start(self.state, name, commands[name], env=env)
        wait_http(f"{self.hook_url}/readyz", 60, self.state / "logs" / "hook.log")
        say(f"ready: source {self.env_file} && kubectl get aa")

    def _install_chart(self, s3: S3Server) -> None:
        """Operator and hook as the chart's Pods; the host processes of an agent run stop."""
        self._stop_services()
        # the node agent's hand-written hook Service would block the chart's own
        subprocess.run(
            [
                "kubectl",
                "--kubeconfig",
                str(self.kubeconfig),
                "-n",
                HOOK_NAMESPACE,
                "delete",
                "service,endpoints",
                HOOK_SERVICE,
                "-l",
                "app.kubernetes.io/managed-by!=Helm",
                "--ignore-not-found",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        say("workload controllers (deployment, replicaset)")
        release.start_workload_controllers(
            self.state, find_binaries().kube_controller_manager, self.kubeconfig
        )
        stores = json.loads((self.state / "stores.json").read_text())
        action = release.install(self.kubeconfig, release.build_values(stores))
        say(f"helm chart {release.CHART.name}: release {release.RELEASE} {action}")
        say("waiting for the operator and hook Pods")
        release.wait_rollout(self.kubeconfig)
        # this machine reaches the hook Pod through its Service's cluster IP (kube-proxy)
        cluster_ip = subprocess.run(
            [
                "kubectl",
                "--kubeconfig",
                str(self.kubeconfig),
                "-n",
                HOOK_NAMESPACE,
                "get",
                "service",
                HOOK_SERVICE,
                "-o",
                "jsonpath={.spec.clusterIP}",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.strip()
        env = self.env_file.read_text().replace(
            f"ASYNCACTION_HOOK_URL={self.hook_url}",
            f"ASYNCACTION_HOOK_URL=http://{cluster_ip}:8080",
        )
        self.env_file.write_text(env)

    def _stop_workload_controllers(self) -> None:
        if release.stop_workload_controllers(self.state):
            say("stopped the workload controllers")

    def _master_keys(self) -> Path:
        """The master keys shared by the operator and the hook (kept across `make up`)."""
        path = self.state / "master-keys"
        if not path.exists():
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(48) + "\n")
        return path

    def _write_config(self, s3: S3Server) -> None:
        (self.state / "pod-logs").mkdir(exist_ok=True)
        stores = s3.stores_document()
        # the demo's data lives under demo/: grant it to namespace default, beside its own
        # area (asyncaction.tenancy; without grants a namespace gets actions/<ns>/ only)
        stores["stores"]["default"]["grants"] = {"default": ["actions/default/", "demo/"]}
        (self.state / "stores.json").write_text(json.dumps(stores, indent=2))
        env = {
            "KUBECONFIG": str(self.kubeconfig.resolve()),
            "AWS_ENDPOINT_URL_S3": s3.endpoint,
            "AWS_ACCESS_KEY_ID": s3.access_key,
            "AWS_SECRET_ACCESS_KEY": s3.secret_key,
            "AWS_DEFAULT_REGION": s3.region,
            "ASYNCACTION_BUCKET": s3.bucket,
            "ASYNCACTION_HOOK_URL": self.hook_url,
            "ASYNCACTION_JOB_IMAGE": recipes.JOB_IMAGE,
            "ASYNCACTION_NODE": self.node_mode(),
        }
        lines = [f"export {key}={shlex.quote(value)}" for key, value in env.items()]
        self.env_file.write_text("# written by `make up`\n" + "\n".join(lines) + "\n")

    def _stop_services(self) -> None:
        for name in reversed(SERVICES):
            if procs.stop(self.state, name):
                say(f"stopped {name}")

    def start_prometheus(self) -> str:
        """A Prometheus scraping the operator and the hook (``make up PROMETHEUS=1``)."""
        server = prometheus.for_stack(
            self.state, self.kubeconfig, real_node=self.node_mode() == "real", hook=self.hook_url
        )
        server.start()
        return server.url

    def down(self) -> None:
        if procs.stop(self.state / "prometheus", "prometheus"):
            say("stopped prometheus")
        self._stop_services()
        self._stop_workload_controllers()
        if self.node().stop():
            say("stopped the real node and restored the host (containers, iptables, bridge, ...)")
        self.s3().stop()
        self.control_plane().stop()
        say("stopped S3 and the control plane (data kept in .local/; `make clean` removes it)")

    def status(self) -> dict[str, bool]:
        running = {name: procs.is_running(self.state, name) for name in SERVICES}
        running["real node"] = self.node().running()
        running["s3"] = self.s3().running()
        running["controlplane"] = self.control_plane().running()
        return running


def apply_manifests(kubeconfig: Path, manifests: list[dict[str, Any]]) -> None:
    document = json.dumps({"apiVersion": "v1", "kind": "List", "items": manifests})
    subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), "apply", "-f", "-"],
        input=document,
        text=True,
        capture_output=True,
        check=True,
        timeout=60,
    )


def say(message: str) -> None:
    print(f"[asyncaction] {message}", flush=True)


def wait_http(url: str, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
    raise RuntimeError(f"{url} did not become ready in {timeout}s; {log}:\n{tail}")
